from django.apps import AppConfig


class RoutingConfig(AppConfig):
    """Skills, queues, SLA policies and the router that hands conversations to agents."""

    name = "routing"

    def ready(self) -> None:
        from core import hooks
        from routing import listeners
        from routing.actions import request_routing
        from routing.sla import QueueClock

        hooks.routing_wanted.register(request_routing)
        hooks.agent_timed_out.register(listeners.requeue_absent_agent_work)
        hooks.agent_unavailable.register(listeners.withdraw_offers_of_absent_agent)
        hooks.notification.register(listeners.send_rule_notifications_after_commit)
        hooks.sla_clock.provide(QueueClock)
