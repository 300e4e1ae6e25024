"""What a report request is: the reports on offer and the form that parses their parameters.

The same :class:`ReportForm` reads the query string of the report pages
(``/reports/<name>/``, HTML and CSV) and of the REST API
(``/api/v1/reports/<name>/``), so both accept the same parameters and refuse
the same bad input. Each :class:`Report` names the KPI function of
``reporting.kpis`` it runs and how its figures are shown; the KPIs themselves
are defined there (and in README, "KPI definitions").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from agents.models import Team
from core.errors import Invalid
from core.models import Channel
from monitoring.models import SocialAccount
from reporting import kpis
from reporting.kpis import ABANDON_TREATMENTS, CHANNEL, MAX_FCR_WINDOW_HOURS, TIME_GRAINS, GroupBy, KpiFilter, Row
from reporting.models import INTERVAL_MINUTES
from reporting.planning import (
    DEFAULT_ANSWER_SECONDS,
    DEFAULT_TARGET_SERVICE_LEVEL,
    DEFAULT_WEEKS,
    MAX_WEEKS,
    PlanInputs,
)
from routing.models import Queue

DEFAULT_DAYS = 7
MAX_DAYS = 366
NO_GROUPING = "none"
MAX_OPTION_SECONDS = 366 * 86400

OPTIONS: dict[str, Callable[[], Any]] = {
    "short_abandon_seconds": lambda: settings.SHORT_ABANDON_SECONDS,
    "abandon_treatment": lambda: settings.SERVICE_LEVEL_ABANDONS,
    "fcr_window_hours": lambda: settings.FCR_WINDOW_HOURS,
    "keywords": lambda: kpis.tracked_keywords(),
}
"""Report options (form fields a report may take, see ``Report.options``) and their defaults, read when applied."""


# --- The reports ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One figure of a report row: its key in the KPI row, a heading and how to show it.

    ``kind``: ``period`` and ``channel`` (group keys), ``count``, ``seconds``,
    ``rate`` (a fraction, shown as a percentage), ``datetime``, ``text`` (a
    name, e.g. a listening query) or ``number`` (e.g. hours, cost).
    """

    key: str
    label: str
    kind: str = "count"


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    kpi: Callable[..., list[Row]]
    columns: tuple[Column, ...]
    chart: tuple[str, ...]
    """Keys of the columns drawn in the chart (all of one kind)."""
    over_period: bool = True
    """False for a snapshot of now (backlog): the period and time grouping do not apply."""
    options: tuple[str, ...] = ()
    """Parameters of :class:`ReportForm` (see :data:`OPTIONS`) this report takes, passed to ``kpi`` by name."""

    def column_keys(self, group_keys: list[str]) -> list[str]:
        return [*group_keys, *(column.key for column in self.columns)]

    def column(self, key: str) -> Column:
        return next(column for column in self.columns if column.key == key)


_PERIOD = Column("period", "Period", "period")
_CHANNEL = Column("channel", "Channel", "channel")
GROUP_COLUMNS = {"period": _PERIOD, "channel": _CHANNEL}


def _seconds(prefix: str, label: str) -> tuple[Column, ...]:
    return (
        Column(f"{prefix}_count", f"{label}: count"),
        Column(f"{prefix}_mean_seconds", f"{label}: mean", "seconds"),
        Column(f"{prefix}_median_seconds", f"{label}: median", "seconds"),
        Column(f"{prefix}_p90_seconds", f"{label}: 90th percentile", "seconds"),
    )


_OFFER_COLUMNS = (
    Column("offered", "Offered"),
    Column("accepted", "Accepted"),
    Column("declined", "Declined"),
    Column("timed_out", "Rang out"),
    Column("acceptance_rate", "Acceptance rate", "rate"),
    *_seconds("time_to_accept", "Time to accept"),
)

REPORTS: dict[str, Report] = {
    report.name: report
    for report in (
        Report(
            "volumes",
            "Volumes",
            "Conversations captured, posts filtered out, conversations answered.",
            kpis.volumes,
            (Column("captured", "Captured"), Column("filtered", "Filtered"), Column("handled", "Handled")),
            chart=("captured", "filtered", "handled"),
        ),
        Report(
            "speed",
            "Speed",
            "First response time, average speed of answer (queue entry to assignment) and assignment to first "
            "reply, in calendar time and in the queue's business hours.",
            kpis.speed,
            _seconds("first_response", "First response")
            + _seconds("asa", "ASA")
            + _seconds("assignment_to_reply", "Assignment to first reply")
            + _seconds("first_response_business", "First response (business hours)")
            + _seconds("asa_business", "ASA (business hours)")
            + _seconds("assignment_to_reply_business", "Assignment to first reply (business hours)"),
            chart=("first_response_median_seconds", "first_response_p90_seconds", "asa_median_seconds"),
        ),
        Report(
            "handle",
            "Handle time",
            "Average handle time (work and wrap-up), average wait, wrap-ups, transfers and holds.",
            kpis.handle,
            (
                Column("aht_seconds", "AHT", "seconds"),
                Column("handle_seconds", "Handle time", "seconds"),
                Column("work_seconds", "Work", "seconds"),
                Column("wrap_up_seconds", "Wrap-up", "seconds"),
                Column("worked", "Conversations worked"),
                Column("wrap_ups", "Wrap-ups"),
                Column("average_wrap_up_seconds", "Average wrap-up", "seconds"),
                Column("transfers", "Transfers"),
                Column("holds", "Holds"),
                Column("waits", "Waits ended by a reply"),
                Column("average_wait_seconds", "Average wait", "seconds"),
            ),
            chart=("aht_seconds", "average_wrap_up_seconds", "average_wait_seconds"),
        ),
        Report(
            "abandonment",
            "Abandonment",
            "Conversations withdrawn by the customer or closed without an answer.",
            kpis.abandonment,
            (
                Column("captured", "Captured"),
                Column("withdrawn", "Withdrawn"),
                Column("short_abandons", "Short abandons"),
                Column("closed_unanswered", "Closed unanswered"),
                Column("abandoned", "Abandoned"),
                Column("abandonment_rate", "Abandonment rate", "rate"),
            ),
            chart=("captured", "abandoned"),
            options=("short_abandon_seconds",),
        ),
        Report(
            "service-level",
            "Service level",
            "Share of conversations first answered within their SLA target (abandons treated as chosen).",
            kpis.service_level,
            (
                Column("answered", "Answered"),
                Column("answered_in_time", "Answered in time"),
                Column("abandoned_before_target", "Abandoned before target"),
                Column("abandoned_after_target", "Abandoned after target"),
                Column("eligible", "Eligible"),
                Column("in_time", "In time"),
                Column("service_level", "Service level", "rate"),
            ),
            chart=("service_level",),
            options=("abandon_treatment",),
        ),
        Report(
            "resolution",
            "Resolution",
            "Cases opened and resolved, first-contact resolution, reopens, escalations and dispatches.",
            kpis.resolution,
            (
                Column("opened", "Opened"),
                Column("resolved", "Resolved"),
                Column("closed", "Closed"),
                Column("first_contact_resolved", "Resolved at first contact"),
                Column("fcr_rate", "FCR rate", "rate"),
                Column("reopened", "Reopened"),
                Column("reopen_rate", "Reopen rate", "rate"),
                Column("escalations", "Escalations"),
                Column("dispatches", "Dispatches"),
            ),
            chart=("opened", "resolved", "reopened"),
            options=("fcr_window_hours",),
        ),
        Report(
            "backlog",
            "Backlog aging",
            "Open conversations now, by age.",
            kpis.backlog_aging,
            (
                Column("total", "Open"),
                *(Column(name, name.replace("_", " ")) for name, _, _ in kpis.AGE_BUCKETS),
                Column("oldest_created_at", "Oldest since", "datetime"),
            ),
            chart=tuple(name for name, _, _ in kpis.AGE_BUCKETS),
            over_period=False,
        ),
        Report(
            "csat",
            "Customer satisfaction",
            "Survey answers after resolution: how many, the mean score, and the share scoring 4 or 5.",
            kpis.csat,
            (
                Column("responses", "Responses"),
                Column("mean_score", "Mean score"),
                Column("satisfied", "Scored 4 or 5"),
                Column("csat_rate", "CSAT", "rate"),
            ),
            chart=("responses", "satisfied"),
        ),
        Report(
            "quality",
            "Quality",
            "QA reviews of agents' conversations: how many, the mean score (0 to 100) and the share that passed.",
            kpis.quality,
            (
                Column("reviews", "Reviews"),
                Column("mean_score", "Mean score", "number"),
                Column("passed", "Passed"),
                Column("pass_rate", "Pass rate", "rate"),
                Column("critical_fails", "Critical fails"),
            ),
            chart=("reviews", "passed"),
        ),
        Report(
            "offers",
            "Offers by queue",
            "Offer-mode queues: offers made, accepted, declined and rung out, the acceptance rate and the time to "
            "accept, per queue.",
            kpis.offers_by_queue,
            (Column("queue", "Queue", "text"), Column("queue_id", "Queue id", "number"), *_OFFER_COLUMNS),
            chart=("accepted", "declined", "timed_out"),
        ),
        Report(
            "offers-by-agent",
            "Offers by agent",
            "Offers each agent was given, how they answered, the acceptance rate and the time to accept.",
            kpis.offers_by_agent,
            (Column("agent", "Agent", "text"), Column("agent_id", "Agent id", "number"), *_OFFER_COLUMNS),
            chart=("accepted", "declined", "timed_out"),
        ),
        Report(
            "trends",
            "Trends",
            "Conversations captured and their sentiment over time (per category with the category filter).",
            kpis.trends,
            (
                Column("captured", "Captured"),
                Column("negative", "Negative"),
                Column("neutral", "Neutral"),
                Column("positive", "Positive"),
                Column("unrated", "No sentiment"),
                Column("negative_share", "Negative share", "rate"),
            ),
            chart=("negative", "neutral", "positive"),
        ),
        Report(
            "listening",
            "Listening",
            "Posts captured by each listening query over time.",
            kpis.listening_trends,
            (Column("query", "Query", "text"), Column("posts", "Posts")),
            chart=("posts",),
        ),
        Report(
            "keywords",
            "Keywords",
            "Customers' posts mentioning each tracked keyword over time.",
            kpis.keywords,
            (
                Column("keyword", "Keyword", "text"),
                Column("mentions", "Posts mentioning it"),
                Column("posts", "Posts"),
                Column("share", "Share of posts", "rate"),
            ),
            chart=("mentions",),
            options=("keywords",),
        ),
        Report(
            "cost",
            "Cost",
            "Cost of handling (work and wrap-up hours at the configured cost per agent hour) per contact.",
            kpis.cost,
            (
                Column("agent_hours", "Agent hours", "number"),
                Column("cost", "Cost", "number"),
                Column("contacts", "Contacts handled"),
                Column("cost_per_contact", "Cost per contact", "number"),
            ),
            chart=("cost", "cost_per_contact"),
        ),
    )
}


# --- The form ---------------------------------------------------------------------------------


class _NamedUserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


class _Checkbox(forms.CheckboxInput):
    """A checkbox that also reads ``0``, ``no`` and ``off`` as unchecked (API clients send those)."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> bool:
        value = data.get(name)
        if isinstance(value, str) and value.strip().lower() in ("", "0", "false", "no", "off"):
            return False
        return super().value_from_datadict(data, files, name)


# Far dates would overflow when the period is turned into aware datetimes (date.max + 1 day).
_DATE_RANGE = [MinValueValidator(date(1970, 1, 1)), MaxValueValidator(date(2999, 12, 31))]


def _unknown(what: str) -> dict[str, str]:
    return {"invalid_choice": f"There is no {what} with id %(value)s."}


class ReportForm(forms.Form):
    """The period (whole days, ``end`` included), the grouping and the filters of a report.

    Bind it with :meth:`from_query` so missing dates get their defaults (the
    last :data:`DEFAULT_DAYS` days, today included).
    """

    start = forms.DateField(
        validators=_DATE_RANGE,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="First day of the period (YYYY-MM-DD); default: 6 days before today.",
    )
    end = forms.DateField(
        validators=_DATE_RANGE,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=f"Last day of the period, included (YYYY-MM-DD); default: today. At most {MAX_DAYS} days in all.",
    )
    group_by = forms.ChoiceField(
        choices=[(NO_GROUPING, "No grouping"), *((grain, grain.capitalize()) for grain in TIME_GRAINS)],
        required=False,
        help_text="Time buckets: none, hour, day, week (from Monday) or month, in the server's time zone.",
    )
    by_channel = forms.BooleanField(
        required=False, widget=_Checkbox, label="By channel", help_text="Also group by channel (true/false)."
    )
    channel = forms.ChoiceField(
        choices=[("", "All channels"), *Channel.choices], required=False, help_text="Only this channel."
    )
    queue = forms.ModelChoiceField(
        Queue.objects.order_by("name"),
        required=False,
        empty_label="All queues",
        error_messages=_unknown("queue"),
        help_text="Only this queue's id.",
    )
    agent = _NamedUserChoiceField(
        get_user_model().objects.filter(agent_profile__isnull=False).order_by("first_name", "username"),
        required=False,
        empty_label="All agents",
        error_messages=_unknown("agent"),
        help_text="Only this agent's (user) id.",
    )
    team = forms.ModelChoiceField(
        Team.objects.order_by("name"),
        required=False,
        empty_label="All teams",
        error_messages=_unknown("team"),
        help_text="Only this team's id.",
    )
    category = forms.CharField(max_length=64, required=False, strip=True, help_text="Only this category.")
    account = forms.ModelChoiceField(
        SocialAccount.objects.order_by("platform", "name"),
        required=False,
        empty_label="All social accounts",
        label="Social account",
        error_messages=_unknown("social account"),
        help_text="Only conversations captured through this social account's id.",
    )
    # Report options: each report takes those named in its Report.options; empty means the setting.
    short_abandon_seconds = forms.FloatField(
        required=False,
        min_value=0,
        max_value=MAX_OPTION_SECONDS,
        label="Short abandon (s)",
        help_text="Abandonment: abandons after a shorter wait are short abandons, left out; "
        "default SHORT_ABANDON_SECONDS.",
    )
    abandon_treatment = forms.ChoiceField(
        choices=[("", "Default"), *((name, name.replace("_", " ")) for name in ABANDON_TREATMENTS)],
        required=False,
        label="Abandons",
        help_text="Service level: abandons ignored, met, missed or after_target (only those after the target, "
        "as missed); default SERVICE_LEVEL_ABANDONS.",
    )
    fcr_window_hours = forms.FloatField(
        required=False,
        min_value=0,
        max_value=MAX_FCR_WINDOW_HOURS,
        label="FCR window (h)",
        help_text="Resolution: no reopen or new contact within this many hours; default FCR_WINDOW_HOURS.",
    )
    keywords = forms.CharField(
        required=False,
        max_length=2000,
        strip=True,
        help_text=f"Keywords: comma-separated words or phrases (at most {kpis.MAX_KEYWORDS}); default the tracked "
        "keywords.",
    )

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> ReportForm:
        """The form bound to a query string, with the default period where the dates are missing or empty."""
        today = timezone.localdate()
        data = {key: query.get(key) for key in cls.base_fields if query.get(key) not in (None, "")}
        data.setdefault("start", (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat())
        data.setdefault("end", today.isoformat())
        data.setdefault("group_by", NO_GROUPING)
        return cls(data)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if isinstance(start, date) and isinstance(end, date):
            if end < start:
                self.add_error("end", "The end date must not be before the start date.")
            elif (days := (end - start).days + 1) > MAX_DAYS:
                self.add_error("end", f"A report covers at most {MAX_DAYS} days; this period has {days}.")
        return cleaned

    def clean_keywords(self) -> list[str] | None:
        text = self.cleaned_data.get("keywords") or ""
        if not text:
            return None
        words = [word.strip() for word in text.split(",")]
        if any(not word for word in words):
            raise forms.ValidationError("Separate keywords with single commas; a keyword cannot be empty.")
        words = kpis.normalise_keywords(words)
        if len(words) > kpis.MAX_KEYWORDS:
            raise forms.ValidationError(f"At most {kpis.MAX_KEYWORDS} keywords; got {len(words)}.")
        return words

    def fields_for(self, report: Report | None) -> list[forms.BoundField]:
        """The form's fields a page shows: every filter, and the options of ``report`` (none on the index)."""
        options = report.options if report is not None else ()
        return [self[name] for name in self.fields if name not in OPTIONS or name in options]

    # Call these only once is_valid() is True.

    def options(self, report: Report) -> dict[str, Any]:
        """The report's options as applied: the value given, or the setting's default (read once per form)."""
        cache: dict[str, dict[str, Any]] = self.__dict__.setdefault("_applied_options", {})
        if report.name not in cache:
            data = self.cleaned_data
            cache[report.name] = {
                name: data[name] if data.get(name) not in (None, "") else OPTIONS[name]() for name in report.options
            }
        return dict(cache[report.name])

    def kpi_filter(self) -> KpiFilter:
        data = self.cleaned_data
        return KpiFilter(
            start=_midnight(data["start"]),
            end=_midnight(data["end"] + timedelta(days=1)),
            channel=data["channel"] or None,
            queue_id=data["queue"].pk if data["queue"] else None,
            agent_id=data["agent"].pk if data["agent"] else None,
            team_id=data["team"].pk if data["team"] else None,
            category=data["category"] or None,
            account_id=data["account"].pk if data["account"] else None,
        )

    def grain(self, report: Report) -> str | None:
        grain = self.cleaned_data["group_by"] or NO_GROUPING
        return grain if grain != NO_GROUPING and report.over_period else None

    def kpi_group_by(self, report: Report) -> GroupBy:
        grain = self.grain(report)
        return [*([grain] if grain else []), *([CHANNEL] if self.cleaned_data["by_channel"] else [])]

    def group_keys(self, report: Report) -> list[str]:
        """The group keys of the report's rows, in their order (``period``, then ``channel``)."""
        return (["period"] if self.grain(report) else []) + (["channel"] if self.cleaned_data["by_channel"] else [])

    def applied(self, report: Report) -> dict[str, Any]:
        """The filters as the report applied them (ids for queue, agent and team; null when unset)."""
        data = self.cleaned_data
        return {
            "start": data["start"],
            "end": data["end"],
            "group_by": self.grain(report) or NO_GROUPING,
            "by_channel": data["by_channel"],
            "channel": data["channel"] or None,
            "queue": data["queue"].pk if data["queue"] else None,
            "agent": data["agent"].pk if data["agent"] else None,
            "team": data["team"].pk if data["team"] else None,
            "category": data["category"] or None,
            "account": data["account"].pk if data["account"] else None,
            **self.options(report),
        }

    def run(self, report: Report) -> list[Row]:
        return report.kpi(self.kpi_filter(), self.kpi_group_by(report), **self.options(report))


def _midnight(day: date) -> datetime:
    """The start of ``day`` in the server's time zone (the zone the time buckets are cut in)."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


# --- The staffing plan ------------------------------------------------------------------------


class StaffingPlanForm(forms.Form):
    """The parameters of the staffing plan (page ``/staffing/`` and ``GET /api/v1/staffing/plan``).

    Bind it with :meth:`from_query`: the day defaults to today, the interval to
    30 minutes, the history to 4 weeks; without any target the plan aims at
    80 % within 20 s. Types and simple ranges are checked here; the ranges of
    the Erlang C inputs are checked once, by ``reporting.staffing``.
    """

    date = forms.DateField(
        validators=_DATE_RANGE,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="The day to plan (YYYY-MM-DD); default: today.",
    )
    interval_minutes = forms.TypedChoiceField(
        choices=[(minutes, f"{minutes} minutes") for minutes in INTERVAL_MINUTES],
        coerce=int,
        label="Interval",
        help_text="Length of each interval: 15, 30 or 60 minutes.",
    )
    target_service_level = forms.FloatField(
        required=False,
        label="Target service level",
        help_text="Share to answer within answer_seconds, between 0 and 1 exclusive (0.8 = 80 %).",
    )
    answer_seconds = forms.FloatField(
        required=False, label="Answer within (s)", help_text="The service level's answer time in seconds (≥ 0)."
    )
    target_asa_seconds = forms.FloatField(
        required=False, label="Target ASA (s)", help_text="Target average speed of answer in seconds (> 0)."
    )
    shrinkage = forms.FloatField(
        required=False, help_text="Share of paid time agents are unavailable, at least 0 and under 1 (0.3 = 30 %)."
    )
    concurrency = forms.FloatField(
        required=False, help_text="Conversations an agent handles at once, 1 to 100 (digital work)."
    )
    aht_seconds = forms.FloatField(
        required=False,
        label="AHT override (s)",
        help_text="Average handle time in seconds; default: the AHT of the history weeks (handle report).",
    )
    weeks = forms.IntegerField(
        min_value=1,
        max_value=MAX_WEEKS,
        label="Weeks of history",
        help_text=f"Same weekdays averaged for the forecast, 1 to {MAX_WEEKS}; default {DEFAULT_WEEKS}.",
    )

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> StaffingPlanForm:
        data = {key: query.get(key) for key in cls.base_fields if query.get(key) not in (None, "")}
        data.setdefault("date", timezone.localdate().isoformat())
        data.setdefault("interval_minutes", "30")
        data.setdefault("weeks", str(DEFAULT_WEEKS))
        data.setdefault("shrinkage", "0")
        data.setdefault("concurrency", "1")
        if "target_service_level" not in data and "target_asa_seconds" not in data:
            data["target_service_level"] = str(DEFAULT_TARGET_SERVICE_LEVEL)
            data.setdefault("answer_seconds", f"{DEFAULT_ANSWER_SECONDS:g}")
        elif "target_service_level" not in data:
            data.setdefault("answer_seconds", f"{DEFAULT_ANSWER_SECONDS:g}")  # for the expected service level
        return cls(data)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("target_service_level") is not None and cleaned.get("answer_seconds") is None:
            if "answer_seconds" not in self.errors:
                self.add_error("answer_seconds", "answer_seconds is required with target_service_level.")
        return cleaned

    def inputs(self) -> PlanInputs:
        """Call only once is_valid() is True."""
        data = self.cleaned_data
        return PlanInputs(
            day=data["date"],
            interval_minutes=data["interval_minutes"],
            target_service_level=data["target_service_level"],
            answer_seconds=data["answer_seconds"],
            target_asa_seconds=data["target_asa_seconds"],
            shrinkage=data["shrinkage"],
            concurrency=data["concurrency"],
            aht_seconds=data["aht_seconds"],
            weeks=data["weeks"],
        )

    def add_invalid(self, error: Invalid) -> None:
        add_invalid(self, error)


def add_invalid(form: forms.Form, error: Invalid) -> None:
    """Show a domain error on the fields of ``form`` it names (or on the form as a whole)."""
    named = {name: messages for name, messages in error.fields.items() if name in form.fields}
    for name, messages in named.items():
        for message in messages:
            form.add_error(name, message)
    if not named:
        form.add_error(None, error.message)


class ForecastEntryForm(forms.Form):
    """One hand-entered forecast from the staffing page: an interval of the planned day and its volume."""

    start = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time", "step": 900}, format="%H:%M"),
        label="Interval start",
        help_text="Start of the interval on the planned day (HH:MM).",
    )
    volume = forms.FloatField(
        required=False, min_value=0, label="Volume", help_text="Conversations expected; empty removes the forecast."
    )
    note = forms.CharField(max_length=200, required=False, strip=True)

    def starts_at(self, day: date) -> datetime:
        """Call only once is_valid() is True."""
        return timezone.make_aware(datetime.combine(day, self.cleaned_data["start"]), timezone.get_default_timezone())
