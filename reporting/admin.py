"""Admin for reporting: hand-entered forecasts for the staffing plan."""

from __future__ import annotations

from django.contrib import admin

from reporting.models import Forecast


@admin.register(Forecast)
class ForecastAdmin(admin.ModelAdmin):
    list_display = ["starts_at", "interval_minutes", "volume", "note"]
    list_filter = ["interval_minutes"]
    date_hierarchy = "starts_at"
    search_fields = ["note"]
