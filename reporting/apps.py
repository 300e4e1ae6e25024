from django.apps import AppConfig


class ReportingConfig(AppConfig):
    """What supervisors see: the live floor now, and KPIs over any period."""

    name = "reporting"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from reporting.aggregates import register_sqlite_functions

        # SQLite has no percentile aggregate; every new connection gets ours.
        connection_created.connect(register_sqlite_functions, dispatch_uid="reporting.register_sqlite_functions")
