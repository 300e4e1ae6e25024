from django.apps import AppConfig


class RoutingConfig(AppConfig):
    """Skills, queues, SLA policies and the router that hands conversations to agents."""

    name = "routing"
