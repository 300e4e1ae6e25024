from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Capture: social sources, the sandbox, and the pipeline that stores their posts."""

    name = "monitoring"
