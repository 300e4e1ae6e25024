"""Every /api/v1/ endpoint, mounted by contactcenter.urls (which also serves the schema and docs)."""

from __future__ import annotations

from django.urls import path

from reporting import api as reporting_api

urlpatterns = [
    path("staffing/erlang-c", reporting_api.ErlangCView.as_view(), name="api-staffing-erlang-c"),
    path("reports/<slug:name>/", reporting_api.ReportView.as_view(), name="api-report"),
]
