from django.apps import AppConfig


class ReportingConfig(AppConfig):
    """What supervisors see: the live floor now, and KPIs over any period."""

    name = "reporting"
