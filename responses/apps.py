from django.apps import AppConfig


class ResponsesConfig(AppConfig):
    """What agents answer with: replies and approvals, the outbox, templates, knowledge and CSAT."""

    name = "responses"

    def ready(self) -> None:
        from core import hooks
        from responses import listeners

        hooks.conversation_resolved.register(listeners.invite_to_survey)
        hooks.deletion_blockers.register(listeners.name_queue_uses)
