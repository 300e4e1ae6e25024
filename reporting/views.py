"""The live overview (the supervisor's dashboard, open conversations and counts by state, refreshed over the
websocket and every 15 s) and the reports."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from core.errors import Invalid, NotFound, PermissionDenied
from core.models import Channel
from core.queries import live_conversations, state_counts
from core.roles import is_supervisor
from reporting import charts
from reporting.actions import check_set_forecast
from reporting.dashboard import dashboard
from reporting.forms import (
    GROUP_COLUMNS,
    REPORTS,
    ForecastEntryForm,
    Report,
    ReportForm,
    StaffingPlanForm,
    add_invalid,
)
from reporting.kpis import Row
from reporting.planning import Plan, staffing_plan


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    if not is_supervisor(request.user):
        return redirect("inbox")  # agents work from their inbox
    return render(request, "reporting/overview.html", _live_context(request))


@login_required
def overview_live(request: HttpRequest) -> HttpResponse:
    """The part of the overview that changes, for the page to swap in when an event arrives."""
    return render(request, "reporting/_live.html", _live_context(request))


def _live_context(request: HttpRequest) -> dict[str, object]:
    sees_everything = is_supervisor(request.user)
    return {
        "conversations": live_conversations(request.user),
        "counts": state_counts(request.user),
        "sees_everything": sees_everything,
        # The floor's figures are for supervisors only; an agent's live list stays their own.
        "dashboard": dashboard(timezone.now()) if sees_everything else None,
    }


# --- Historical reports ------------------------------------------------------------------------

CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell starting with one of these as a formula (CSV injection)."""


def _require_supervisor(request: HttpRequest) -> None:
    if not is_supervisor(request.user):
        raise PermissionDenied("Only supervisors and admins see reports.")


@login_required
def reports_index(request: HttpRequest) -> HttpResponse:
    _require_supervisor(request)
    form = ReportForm.from_query(request.GET)
    form.is_valid()  # shows its errors, if any; the links carry the query as given
    query = request.GET.urlencode()
    links = [(report, f"{reverse('report', args=[report.name])}?{query}") for report in REPORTS.values()]
    return render(
        request, "reporting/reports_index.html", {"form": form, "fields": form.fields_for(None), "links": links}
    )


@login_required
def report_page(request: HttpRequest, name: str) -> HttpResponse:
    """One report as a page (table and chart) or, with ``?format=csv``, as CSV; bad input re-renders the form."""
    _require_supervisor(request)
    report = REPORTS.get(name) or _no_such_report(name)
    form = ReportForm.from_query(request.GET)
    if not form.is_valid():
        return render(
            request,
            "reporting/report.html",
            {"report": report, "form": form, "fields": form.fields_for(report), "reports": REPORTS.values()},
        )
    rows, grain = form.run(report), form.grain(report)
    keys = report.column_keys(form.group_keys(report))
    if request.GET.get("format") == "csv":
        return _csv_response(report, keys, rows, form)
    return render(request, "reporting/report.html", _report_context(request, report, form, keys, rows, grain))


def _no_such_report(name: str) -> Report:
    raise NotFound(f"There is no report named {name!r}.")


def _report_context(
    request: HttpRequest, report: Report, form: ReportForm, keys: list[str], rows: list[Row], grain: str | None
) -> dict[str, object]:
    columns = [GROUP_COLUMNS.get(key) or report.column(key) for key in keys]
    csv_query = request.GET.copy()
    csv_query["format"] = "csv"
    return {
        "report": report,
        "reports": REPORTS.values(),
        "form": form,
        "fields": form.fields_for(report),
        "options": [(form[name].label, _option_text(value)) for name, value in form.options(report).items()],
        "columns": columns,
        "table": [[_cell(row.get(column.key), column.kind, grain) for column in columns] for row in rows],
        "chart": _chart(report, rows, grain, form),
        "csv_url": f"?{csv_query.urlencode()}",
        "api_url": f"{reverse('api-report', args=[report.name])}?{request.GET.urlencode()}",
    }


def _chart(report: Report, rows: list[Row], grain: str | None, form: ReportForm) -> SafeString:
    kind = report.column(report.chart[0]).kind
    scale, unit = (100.0, "%") if kind == "rate" else (1.0, "s" if kind == "seconds" else "")
    # Rows keyed by a name too (a listening query, a keyword) carry it in their label.
    names = [column.key for column in report.columns if column.kind == "text"]
    labels = [_row_label(row, grain, names) for row in rows]
    if not report.over_period:
        # A snapshot (backlog): the buckets along the axis, one series per row (all channels, or each channel).
        series = [
            charts.Series(label, [row[key] for key in report.chart]) for label, row in zip(labels, rows, strict=True)
        ]
        labels = [report.column(key).label for key in report.chart]
    else:
        series = [
            charts.Series(
                report.column(key).label,
                [None if row.get(key) is None else float(row[key]) * scale for row in rows],
            )
            for key in report.chart
        ]
    return charts.chart(f"{report.title}: {_describe(form, report)}", labels, series, unit=unit)


def _row_label(row: Row, grain: str | None, names: Sequence[str] = ()) -> str:
    parts = []
    if "period" in row:
        parts.append(_cell(row["period"], "period", grain))
    if "channel" in row:
        parts.append(_cell(row["channel"], "channel", grain))
    parts += [str(row[name]) for name in names if row.get(name) is not None]
    return " · ".join(parts) or "All"


def _describe(form: ReportForm, report: Report) -> str:
    """The period and the filters in words, for the chart's title."""
    data = form.cleaned_data
    words = [f"{data['start']:%Y-%m-%d} to {data['end']:%Y-%m-%d}"]
    if data["channel"]:
        words.append(_cell(data["channel"], "channel", None))
    for key in ("account", "queue", "agent", "team"):
        if data[key]:
            words.append(f"{key} {form.fields[key].label_from_instance(data[key])}")  # type: ignore[attr-defined]
    if data["category"]:
        words.append(f"category {data['category']}")
    for name, value in form.options(report).items():
        words.append(f"{str(form[name].label).lower()} {_option_text(value)}")
    return ", ".join(words)


def _option_text(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else str(value)


_PERIOD_FORMATS = {"hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d", "week": "week of %Y-%m-%d", "month": "%Y-%m"}


def _cell(value: Any, kind: str, grain: str | None) -> str:
    """A figure as text for the table and chart (raw values go to CSV and JSON)."""
    if value is None:
        return "—"
    if kind == "period":
        return timezone.localtime(value).strftime(_PERIOD_FORMATS.get(grain or "", "%Y-%m-%d %H:%M"))
    if kind == "datetime":
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if kind == "channel":
        return str(Channel(value).label) if value in Channel.values else str(value)
    if kind == "seconds":
        return f"{value:,.1f} s"
    if kind == "rate":
        return f"{value * 100:.1f} %"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _csv_response(report: Report, keys: list[str], rows: list[Row], form: ReportForm) -> HttpResponse:
    data = form.cleaned_data
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{report.name}-{data["start"]:%Y-%m-%d}-{data["end"]:%Y-%m-%d}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(keys)
    for row in rows:
        writer.writerow([_csv_value(row.get(key)) for key in keys])
    return response


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS):
        return f"'{value}"
    return value


# --- Staffing -----------------------------------------------------------------------------------


@login_required
def staffing_page(request: HttpRequest) -> HttpResponse:
    """A day's staffing plan (Erlang C per interval beside the agents logged in); bad input shows the form's errors."""
    _require_supervisor(request)
    form = StaffingPlanForm.from_query(request.GET)
    entry = ForecastEntryForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid() and entry.is_valid():
        # A forecast entered for an interval of the day planned (the query string's date and interval).
        try:
            check_set_forecast(
                request.user,
                starts_at=entry.starts_at(form.cleaned_data["date"]),
                interval_minutes=form.cleaned_data["interval_minutes"],
                volume=entry.cleaned_data["volume"],
                note=entry.cleaned_data["note"],
            )
            return redirect(f"{reverse('staffing')}?{request.GET.urlencode()}")
        except Invalid as error:
            add_invalid(entry, error if set(error.fields) & set(entry.fields) else _as_start_error(error))
    plan = _plan(form)
    context: dict[str, object] = {"form": form, "plan": plan, "entry": entry}
    if plan is not None:
        context |= {
            "chart": _staffing_chart(plan),
            "rows": [_plan_cells(interval) for interval in plan.intervals],
            "api_url": f"{reverse('api-staffing-plan')}?{request.GET.urlencode()}",
        }
    return render(request, "reporting/staffing.html", context)


def _as_start_error(error: Invalid) -> Invalid:
    """An interval start that does not fit the interval length, shown on the start field."""
    return Invalid(error.message, fields={"start": [error.message]})


def _plan(form: StaffingPlanForm) -> Plan | None:
    if not form.is_valid():
        return None
    try:
        return staffing_plan(form.inputs())
    except Invalid as error:
        form.add_invalid(error)
        return None


def _interval_label(start: datetime) -> str:
    return timezone.localtime(start).strftime("%H:%M")


def _plan_cells(interval: Any) -> list[str]:
    source = " (entered)" if interval.volume_source == "forecast" else ""
    logged_in = "—" if interval.logged_in is None else str(interval.logged_in)
    gap = "—" if interval.logged_in is None else f"{interval.logged_in - interval.agents:+d}"
    return [
        f"{_interval_label(interval.start)} to {_interval_label(interval.end)}",
        f"{interval.volume:,.1f}{source}",
        f"{interval.traffic_erlangs:,.2f}",
        str(interval.agents),
        str(interval.scheduled_agents),
        _cell(interval.service_level, "rate", None),
        _cell(interval.asa_seconds, "seconds", None),
        _cell(interval.occupancy, "rate", None),
        logged_in,
        gap,
    ]


def _staffing_chart(plan: Plan) -> SafeString:
    labels = [_interval_label(interval.start) for interval in plan.intervals]
    series = [
        charts.Series("Required on the floor", [interval.agents for interval in plan.intervals]),
        charts.Series("To schedule", [interval.scheduled_agents for interval in plan.intervals]),
        charts.Series("Logged in", [interval.logged_in for interval in plan.intervals]),
    ]
    return charts.chart(f"Agents on {plan.inputs.day:%Y-%m-%d}: required vs logged in", labels, series)
