"""Admin for reporting: hand-entered forecasts for the staffing plan, and how far the hourly rollup reaches."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from reporting.models import Forecast, RollupState


@admin.register(Forecast)
class ForecastAdmin(admin.ModelAdmin):
    list_display = ["starts_at", "interval_minutes", "volume", "note"]
    list_filter = ["interval_minutes"]
    date_hierarchy = "starts_at"
    search_fields = ["note"]


@admin.register(RollupState)
class RollupStateAdmin(ReadOnlyAdmin):
    """Read only: the roll-up-ledger task writes it (``manage.py rollup --rebuild`` sums everything again)."""

    list_display = [
        "rolled_from",
        "rolled_until",
        "rolled_at",
        "time_zone",
        "fcr_window_hours",
        "short_abandon_seconds",
    ]
