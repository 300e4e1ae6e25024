from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Capture: social sources, the sandbox, and the pipeline that stores their posts."""

    name = "monitoring"

    def ready(self) -> None:
        from core import hooks
        from monitoring.queries import category_exists

        hooks.category_exists.provide(category_exists)
