"""KPI queries: each function aggregates the ledger in the database and returns plain dicts.

Every function takes a :class:`KpiFilter` (a half-open period ``[start, end)``
and optional channel, social account, queue, agent, team and category) and a ``group_by``:
``None`` (one row for the whole period), a time grain (``"hour"``, ``"day"``,
``"week"`` or ``"month"``, truncated in ``TIME_ZONE``; weeks start on Monday),
``"channel"``, or a time grain and ``"channel"`` together (``("day",
"channel")``). Each result row holds its group keys (``period``, an aware
datetime at the start of the bucket; ``channel``) and the figures. Without
grouping there is always exactly one row (counts 0, averages ``None``); with
grouping, groups without rows are absent.

A ledger row belongs to the period, bucket and channel of its own ``at`` and
``channel`` (copied from the conversation when it was written), so history is
never rewritten by later moves. The filters select ledger rows:

- ``channel``, ``queue_id``: the channel and queue copied onto the row.
  ``captured`` and ``filtered`` rows are written before queueing and carry no
  queue, so under a queue filter they count nothing.
- ``agent_id``, ``team_id``: the agent on the row (who replied, was assigned,
  resolved...) and that agent's team. Rows no agent wrote (``captured``,
  ``filtered``, ``abandoned``) count nothing under these filters.
- ``category``: the conversation's category. ``filtered`` rows have no
  conversation, so they count nothing under it.
- ``account_id``: the social account that captured the conversation (one of
  its messages carries that ``account``; a conversation is normally captured
  through one account). ``filtered`` rows have no conversation, so they count
  nothing under it.

Ratios (rates, service level, AHT) are divisions of two aggregates of the same
group, done on the returned figures; they are ``None`` when the denominator is 0.
Definitions are in README, "KPI definitions"; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    Exists,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Trunc
from django.utils import timezone

from agents.models import Presence, PresenceChange
from core.errors import Invalid
from core.models import OPEN_STATES, Conversation, Direction, Event, EventKind, Message, Sentiment
from monitoring.models import ClassificationRule, ListeningQuery, TrackedKeyword
from reporting import rollup
from reporting.aggregates import PercentileCont
from reporting.models import LedgerHour
from routing.models import Queue

TIME_GRAINS = ("hour", "day", "week", "month")
CHANNEL = "channel"
CATEGORY = "category"

Row = dict[str, Any]
GroupBy = str | Sequence[str] | None


@dataclass(frozen=True)
class KpiFilter:
    """Which ledger rows a report reads: ``start <= at < end``, narrowed by the optional fields."""

    start: datetime
    end: datetime
    channel: str | None = None
    queue_id: int | None = None
    agent_id: int | None = None
    team_id: int | None = None
    category: str | None = None
    account_id: int | None = None

    def __post_init__(self) -> None:
        if timezone.is_naive(self.start) or timezone.is_naive(self.end):
            raise Invalid("A report period needs timezone-aware start and end.")
        if self.start >= self.end:
            raise Invalid("A report period must end after it starts.")


@dataclass(frozen=True)
class _Grouping:
    grain: str | None
    by_channel: bool

    @property
    def keys(self) -> list[str]:
        return (["period"] if self.grain else []) + ([CHANNEL] if self.by_channel else [])


def _grouping(group_by: GroupBy, *, grains: Iterable[str] = TIME_GRAINS, channel: bool = True) -> _Grouping:
    names = [group_by] if isinstance(group_by, str) else list(group_by or [])
    allowed = [*grains, *([CHANNEL] if channel else [])]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise Invalid(f"Cannot group by {', '.join(unknown)}; use {', '.join(allowed)}.")
    chosen = [name for name in names if name in TIME_GRAINS]
    if len(chosen) > 1:
        raise Invalid(f"Group by one time grain at most, not {', '.join(chosen)}.")
    return _Grouping(chosen[0] if chosen else None, CHANNEL in names)


@contextmanager
def _sort_memory() -> Iterator[None]:
    """On PostgreSQL, room for the report's sorts in memory (``SET LOCAL``: this query's transaction only).

    A 30-day report sorts about a million ledger rows by group (the distinct
    counts and percentiles need them in order); with the default 4 MB
    ``work_mem`` that sort spills to disk.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")
        yield


def _aggregate(
    rows: QuerySet[Any], grouping: _Grouping, aggregates: Mapping[str, Aggregate], *, extra_keys: Sequence[str] = ()
) -> list[Row]:
    """One GROUP BY query: ``aggregates`` per group of ``grouping`` and ``extra_keys`` (one row without keys)."""
    with _sort_memory():
        return _group(rows, grouping, aggregates, extra_keys)


def _group(
    rows: QuerySet[Any],
    grouping: _Grouping,
    aggregates: Mapping[str, Aggregate],
    extra_keys: Sequence[str],
    time_field: str = "at",
) -> list[Row]:
    if grouping.grain:
        tz = timezone.get_default_timezone()
        rows = rows.annotate(period=Trunc(time_field, grouping.grain, tzinfo=tz))
    keys = [*grouping.keys, *extra_keys]
    if not keys:
        return [rows.aggregate(**aggregates)]
    return list(rows.values(*keys).annotate(**aggregates).order_by(*keys))


# --- Figures that add up: read from the hourly rollup where it can, from the ledger elsewhere ---


@dataclass(frozen=True)
class Figure:
    """A figure that adds up over hours: ``measure`` (a ``LedgerHour`` column) of the rows of ``kind``,
    optionally only those with the given ``target`` and ``answered`` flags (see :mod:`reporting.rollup`)."""

    kind: str
    measure: str = "rows"
    target: str | None = None
    answered: bool | None = None

    def on_ledger(self, params: rollup.Params) -> Aggregate:
        where = Q(kind=self.kind)
        if self.target is not None:
            where &= {"met": rollup.target_met, "missed": rollup.target_missed, "none": rollup.no_target}[self.target]()
        if self.answered is not None:
            where &= rollup.answered_before() if self.answered else ~rollup.answered_before()
        return rollup.ledger_aggregate(self.measure, params, where)

    def on_rollup(self) -> Aggregate:
        where = Q(kind=self.kind)
        if self.target is not None:
            where &= Q(target=self.target)
        if self.answered is not None:
            where &= Q(answered=self.answered)
        default = 0.0 if self.measure.endswith("_sum") else 0
        return Sum(self.measure, filter=where, default=default)


def _params(fcr_window_hours: float | None = None, short_abandon_seconds: float | None = None) -> rollup.Params:
    current = rollup.Params.current()
    return rollup.Params(
        current.time_zone,
        current.fcr_window_hours if fcr_window_hours is None else float(fcr_window_hours),
        current.short_abandon_seconds if short_abandon_seconds is None else float(short_abandon_seconds),
    )


def _rolled_span(filters: KpiFilter, params: rollup.Params) -> tuple[datetime, datetime] | None:
    """The whole hours of the period the rollup can answer for these filters and settings, if any."""
    if filters.agent_id is not None or filters.team_id is not None or filters.account_id is not None:
        return None
    reach = rollup.state()
    if reach is None or params != rollup.Params.current():
        return None
    first = rollup.floor_hour(filters.start)
    if first < filters.start:
        first += rollup.HOUR
    low = max(first, reach.rolled_from)
    high = min(rollup.floor_hour(filters.end), reach.rolled_until)
    return (low, high) if low < high else None


def _figures(
    filters: KpiFilter,
    grouping: _Grouping,
    figures: Mapping[str, Figure],
    *,
    params: rollup.Params | None = None,
    extra_keys: Sequence[str] = (),
) -> list[Row]:
    """``figures`` per group: rolled hours from ``LedgerHour``, the rest of the period from the ledger, added.

    The two reads are GROUP BY queries with the same keys; adding them is a
    merge of two small aggregated results, figure by figure.
    """
    params = params or _params()
    kinds = sorted({figure.kind for figure in figures.values()})
    span = _rolled_span(filters, params)
    pieces = [(filters.start, filters.end)] if span is None else [(filters.start, span[0]), (span[1], filters.end)]
    parts = []
    for start, end in pieces:
        if start >= end:
            continue
        rows = _ledger(replace(filters, start=start, end=end), kinds)
        if CATEGORY in extra_keys:
            rows = rows.annotate(category=F("conversation__category"))
        ledger = {name: figure.on_ledger(params) for name, figure in figures.items()}
        parts.append(_aggregate(rows, grouping, ledger, extra_keys=extra_keys))
    if span is not None:
        hours = LedgerHour.objects.filter(kind__in=kinds, hour__gte=span[0], hour__lt=span[1])
        if filters.channel is not None:
            hours = hours.filter(channel=filters.channel)
        if filters.queue_id is not None:
            hours = hours.filter(queue_id=filters.queue_id)
        if filters.category is not None:  # as on the ledger: rows without a conversation have no category
            hours = hours.filter(category=filters.category).exclude(kind=EventKind.FILTERED)
        rolled = {name: figure.on_rollup() for name, figure in figures.items()}
        parts.append(_group(hours, grouping, rolled, extra_keys, time_field="hour"))
    return _added(parts, [*grouping.keys, *extra_keys], list(figures))


def _added(parts: list[list[Row]], keys: Sequence[str], names: Sequence[str]) -> list[Row]:
    """Aggregated results with the same ``keys``, added figure by figure (one row per key, in key order)."""
    if not keys:
        total: Row = dict.fromkeys(names, 0)
        for part in parts:
            for name in names:
                total[name] += part[0][name] or 0
        return [total]
    merged: dict[tuple[Any, ...], Row] = {}
    for part in parts:
        for row in part:
            key = tuple(row[k] for k in keys)
            if key not in merged:
                merged[key] = dict(row)
            else:
                for name in names:
                    merged[key][name] += row[name]
    return [merged[key] for key in sorted(merged, key=_key_order)]


def _distinct_conversations(
    filters: KpiFilter,
    grouping: _Grouping,
    name: str,
    kinds: Sequence[str],
    results: list[Row],
    *,
    extra_keys: Sequence[str] = (),
) -> None:
    """Add ``name``: distinct conversations with rows of ``kinds``, per group of ``results`` (read from the ledger:
    a distinct count does not add up over hours). Only ``results``' groups: in rolled hours a conversation
    re-triaged since keeps its old category, so a count by its current one may name a group they lack."""
    rows = _ledger(filters, kinds)
    if CATEGORY in extra_keys:
        rows = rows.annotate(category=F("conversation__category"))
    counts = _aggregate(rows, grouping, {name: Count("conversation", distinct=True)}, extra_keys=extra_keys)
    keys = [*grouping.keys, *extra_keys]
    by_key = {tuple(row[k] for k in keys): row[name] for row in counts}
    for row in results:
        row[name] = by_key.get(tuple(row[k] for k in keys), 0)


def _take(row: Row, *names: str) -> list[Any]:
    """Remove the working figures ``names`` from ``row`` and return their values."""
    return [row.pop(name) for name in names]


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def _ledger(filters: KpiFilter, kinds: Iterable[str]) -> QuerySet[Event]:
    rows = Event.objects.filter(kind__in=list(kinds), at__gte=filters.start, at__lt=filters.end)
    if filters.channel is not None:
        rows = rows.filter(channel=filters.channel)
    if filters.queue_id is not None:
        rows = rows.filter(queue_id=filters.queue_id)
    if filters.agent_id is not None:
        rows = rows.filter(agent_id=filters.agent_id)
    if filters.team_id is not None:
        rows = rows.filter(agent__agent_profile__team_id=filters.team_id)
    if filters.category is not None:
        rows = rows.filter(conversation__category=filters.category)
    if filters.account_id is not None:
        rows = rows.filter(_captured_through(filters.account_id, "conversation_id"))
    return rows


def _captured_through(account_id: int, conversation_ref: str) -> Exists:
    """The conversation (``conversation_ref`` of the outer row) has a message captured by that social account."""
    return Exists(Message.objects.filter(conversation_id=OuterRef(conversation_ref), account_id=account_id))


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if not denominator else (numerator or 0) / denominator


def _count(kind: str, condition: Q | None = None) -> Count:
    where = Q(kind=kind) & condition if condition is not None else Q(kind=kind)
    return Count("id", filter=where)


def _seconds_stats(prefix: str, seconds: str) -> dict[str, Aggregate]:
    """Count, mean, median and 90th percentile of a duration column, over rows of one kind (the query's)."""
    return {
        f"{prefix}_count": Count(seconds),
        f"{prefix}_mean_seconds": Avg(seconds),
        f"{prefix}_median_seconds": PercentileCont(seconds, 0.5),
        f"{prefix}_p90_seconds": PercentileCont(seconds, 0.9),
    }


# --- Volumes, speed, handle ------------------------------------------------------------------


def volumes(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """``captured``: ``captured`` rows (conversations opened); ``filtered``: ``filtered`` rows
    (posts kept out of the queues); ``handled``: ``first_response`` rows (conversations
    answered for the first time in the period: a conversation has one at most).
    """
    grouping = _grouping(group_by)
    return _figures(
        filters,
        grouping,
        {
            "captured": Figure(EventKind.CAPTURED),
            "filtered": Figure(EventKind.FILTERED),
            "handled": Figure(EventKind.FIRST_RESPONSE),
        },
    )


def speed(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """First response time, ASA and assignment → first reply, each as count, mean, median and 90th percentile.

    - ``first_response_*``: ``first_response`` rows' ``data.since_post_seconds``
      (the customer's post → our first reply); rows without it are not counted.
    - ``asa_*``: ``assigned`` rows' ``value_seconds`` (queue entry → assignment);
      every assignment counts, also a second one after a transfer or reopen.
    - ``assignment_to_reply_*``: ``first_response`` rows'
      ``data.since_assignment_seconds`` (the conversation's first assignment →
      its first reply).
    - ``*_business_*``: the same three in business hours, from the values the
      actions stored on the rows (``data.since_post_business_seconds`` and
      ``data.since_assignment_business_seconds`` on ``first_response``,
      ``data.business_seconds`` on ``assigned``): only the open hours of the
      queue's SLA policy count (a queue without a policy, or a policy without
      business hours, is always open, so there business = calendar). Rows
      written before these values existed have none and are left out of the
      business figures only.

    Percentiles are ``percentile_cont`` (linear interpolation between ranks):
    10, 20, 30, 40 give a median of 25 and a 90th percentile of 37. The ``data``
    values are read from the row's columns of the same name (``Event.DURATIONS``),
    which a covering index holds; a median needs every value, so this report
    reads the ledger, never the hourly rollup.
    """
    grouping = _grouping(group_by)
    by_kind = {
        EventKind.FIRST_RESPONSE: _seconds_stats("first_response", "since_post_seconds")
        | _seconds_stats("assignment_to_reply", "since_assignment_seconds")
        | _seconds_stats("first_response_business", "since_post_business_seconds")
        | _seconds_stats("assignment_to_reply_business", "since_assignment_business_seconds"),
        EventKind.ASSIGNED: _seconds_stats("asa", "value_seconds") | _seconds_stats("asa_business", "business_seconds"),
    }
    # A query per kind: each sorts only its own rows by group, half the sorting of one query over both.
    parts = [_aggregate(_ledger(filters, [kind]), grouping, stats) for kind, stats in by_kind.items()]
    empty = {name: 0 if name.endswith("_count") else None for stats in by_kind.values() for name in stats}
    return _joined(parts, grouping.keys, empty)


def _joined(parts: list[list[Row]], keys: Sequence[str], empty: Row) -> list[Row]:
    """Aggregated results with the same ``keys`` and different figures, side by side (``empty`` where a part
    has no row for a group), one row per key in key order."""
    merged: dict[tuple[Any, ...], Row] = {}
    for part in parts:
        for row in part:
            key = tuple(row[k] for k in keys)
            merged.setdefault(key, {**dict(zip(keys, key, strict=True)), **empty}).update(row)
    return [merged[key] for key in sorted(merged, key=_key_order)]


def _key_order(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((value is None, value) for value in key)


def handle(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """Handle time, wrap-up, transfers and holds.

    - ``handle_seconds``: sum of ``work`` and ``wrap_up`` ``value_seconds``;
      ``worked``: distinct conversations with a ``work`` row (a ``wrap_up`` row closes a work
      session and is written with its ``work`` row, so this is also those with either);
      ``aht_seconds`` = ``handle_seconds / worked`` (per conversation, not per session).
    - ``wrap_ups`` and ``average_wrap_up_seconds``: ``wrap_up`` rows and their mean.
    - ``transfers``: ``transferred`` rows (to a queue or to an agent).
    - ``holds``: ``reply`` rows. Each agent reply puts the conversation in
      "waiting on customer" (or, after an earlier reply the customer has not
      answered, starts that wait again), so every reply counts as one hold.
    - ``average_wait_seconds``: the mean of ``reply`` rows' ``value_seconds``,
      the customer's wait each agent reply ended (since the customer's post,
      or their last message after a reply we had already sent); ``waits``: the
      replies that ended a wait (a second reply in a row ends none and has no
      value, so it is not counted).
    """
    grouping = _grouping(group_by)
    results = _figures(
        filters,
        grouping,
        {
            "work_seconds": Figure(EventKind.WORK, "seconds_sum"),
            "wrap_up_seconds": Figure(EventKind.WRAP_UP, "seconds_sum"),
            "wrap_ups": Figure(EventKind.WRAP_UP),
            "_wrap_up_timed": Figure(EventKind.WRAP_UP, "seconds_count"),
            "transfers": Figure(EventKind.TRANSFERRED),
            "holds": Figure(EventKind.REPLY),
            "waits": Figure(EventKind.REPLY, "seconds_count"),
            "_wait_seconds": Figure(EventKind.REPLY, "seconds_sum"),
        },
    )
    _distinct_conversations(filters, grouping, "worked", [EventKind.WORK], results)
    for row in results:
        wrap_up_timed, wait_seconds = _take(row, "_wrap_up_timed", "_wait_seconds")
        row["handle_seconds"] = row["work_seconds"] + row["wrap_up_seconds"]
        row["average_wrap_up_seconds"] = _mean(row["wrap_up_seconds"], wrap_up_timed)
        row["average_wait_seconds"] = _mean(wait_seconds, row["waits"])
        row["aht_seconds"] = _ratio(row["handle_seconds"], row["worked"])
    return results


# --- Abandonment and service level -----------------------------------------------------------


def abandonment(
    filters: KpiFilter, group_by: GroupBy = None, *, short_abandon_seconds: float | None = None
) -> list[Row]:
    """Conversations lost before an answer, and their share of those captured.

    - ``withdrawn``: ``abandoned`` rows (the customer deleted or withdrew the
      post before an answer; a conversation ends so once) whose wait (``value_seconds``) is at
      least ``short_abandon_seconds`` (default the ``SHORT_ABANDON_SECONDS``
      setting, 0); a row without a wait counts.
    - ``short_abandons``: ``abandoned`` rows with a wait under
      ``short_abandon_seconds``, reported but excluded from ``abandoned``.
    - ``closed_unanswered``: ``closed`` rows of conversations with no ``reply``
      row at or before the close (resolved and closed without an answer). The
      threshold does not apply: ``closed`` rows measure resolution → close, not a wait.
    - ``abandoned`` = ``withdrawn + closed_unanswered``;
      ``abandonment_rate`` = ``abandoned / captured`` (``captured`` rows of the
      same group).
    """
    if short_abandon_seconds is None:
        short_abandon_seconds = settings.SHORT_ABANDON_SECONDS
    if not 0 <= short_abandon_seconds < float("inf"):
        raise Invalid("short_abandon_seconds must be zero or more.")
    grouping = _grouping(group_by)
    results = _figures(
        filters,
        grouping,
        {
            "captured": Figure(EventKind.CAPTURED),
            "_abandons": Figure(EventKind.ABANDONED),
            "withdrawn": Figure(EventKind.ABANDONED, "long_waits"),
            "closed_unanswered": Figure(EventKind.CLOSED, answered=False),
        },
        params=_params(short_abandon_seconds=short_abandon_seconds),
    )
    for row in results:
        (abandons,) = _take(row, "_abandons")
        row["short_abandons"] = abandons - row["withdrawn"]
        row["abandoned"] = row["withdrawn"] + row["closed_unanswered"]
        row["abandonment_rate"] = _ratio(row["abandoned"], row["captured"])
    return results


ABANDON_TREATMENTS = ("ignored", "met", "missed", "after_target")


def service_level(filters: KpiFilter, group_by: GroupBy = None, *, abandon_treatment: str | None = None) -> list[Row]:
    """Share of conversations first answered by their SLA target (``first_response_due``).

    Only conversations with a ``first_response_due`` take part (no SLA policy, no
    target). ``answered``: ``first_response`` rows; ``answered_in_time``: those
    with ``at <= first_response_due``. ``abandoned_before_target`` and
    ``abandoned_after_target``: ``abandoned`` rows (``at`` against the target) of
    conversations with no first response at or before the abandon. ``abandon_treatment``
    (default the ``SERVICE_LEVEL_ABANDONS`` setting, ``"ignored"``):

    - ``"ignored"``: abandons are left out: ``answered_in_time / answered``;
    - ``"met"``: every abandon counts as answered in time;
    - ``"missed"``: every abandon counts as missed;
    - ``"after_target"``: abandons after the target count as missed, those
      before it are left out (the customer left before we were late).

    ``eligible`` and ``in_time`` are the denominator and numerator under the
    treatment; ``service_level = in_time / eligible`` (a fraction, 0.8 = 80 %).
    """
    if abandon_treatment is None:
        abandon_treatment = settings.SERVICE_LEVEL_ABANDONS
    if abandon_treatment not in ABANDON_TREATMENTS:
        raise Invalid(f"Unknown abandon treatment {abandon_treatment!r}; use one of {', '.join(ABANDON_TREATMENTS)}.")
    grouping = _grouping(group_by)
    results = _figures(
        filters,
        grouping,
        {
            "answered_in_time": Figure(EventKind.FIRST_RESPONSE, target="met"),
            "_answered_late": Figure(EventKind.FIRST_RESPONSE, target="missed"),
            "abandoned_before_target": Figure(EventKind.ABANDONED, target="met", answered=False),
            "abandoned_after_target": Figure(EventKind.ABANDONED, target="missed", answered=False),
        },
    )
    for row in results:
        (late,) = _take(row, "_answered_late")
        row["answered"] = row["answered_in_time"] + late
    for row in results:
        before, after = row["abandoned_before_target"], row["abandoned_after_target"]
        eligible, in_time = row["answered"], row["answered_in_time"]
        if abandon_treatment == "met":
            eligible, in_time = eligible + before + after, in_time + before + after
        elif abandon_treatment == "missed":
            eligible += before + after
        elif abandon_treatment == "after_target":
            eligible += after
        row.update(eligible=eligible, in_time=in_time, service_level=_ratio(in_time, eligible))
    return results


# --- Resolution and backlog ------------------------------------------------------------------

MAX_FCR_WINDOW_HOURS = 24 * 366


def resolution(filters: KpiFilter, group_by: GroupBy = None, *, fcr_window_hours: float | None = None) -> list[Row]:
    """Cases opened and resolved, first-contact resolution, reopens, escalations, dispatches.

    - ``opened``: ``captured`` rows; ``resolved``, ``closed``, ``reopened``,
      ``escalations``: rows of those kinds; ``dispatches``: ``resolved`` rows
      with ``data.disposition == "dispatched"``.
    - ``first_contact_resolved``: ``resolved`` rows (at time ``T``) whose
      conversation has no ``reopened`` row at or before ``T + window`` (neither an
      earlier reopen nor one within the window), and whose contact starts no
      other conversation with ``T < created_at <= T + window`` (window:
      ``fcr_window_hours``, default the ``FCR_WINDOW_HOURS`` setting, 72). A resolution
      less than a window ago may still lose its place later.
    - ``fcr_rate`` = ``first_contact_resolved / resolved``;
      ``reopen_rate`` = ``reopened / resolved`` (rows of the same group).
    """
    if fcr_window_hours is None:
        fcr_window_hours = settings.FCR_WINDOW_HOURS
    if not 0 <= fcr_window_hours <= MAX_FCR_WINDOW_HOURS:
        raise Invalid(f"fcr_window_hours must be between 0 and {MAX_FCR_WINDOW_HOURS:g}.")
    grouping = _grouping(group_by)
    results = _figures(
        filters,
        grouping,
        {
            "opened": Figure(EventKind.CAPTURED),
            "resolved": Figure(EventKind.RESOLVED),
            "closed": Figure(EventKind.CLOSED),
            "first_contact_resolved": Figure(EventKind.RESOLVED, "first_contact"),
            "reopened": Figure(EventKind.REOPENED),
            "escalations": Figure(EventKind.ESCALATED),
            "dispatches": Figure(EventKind.RESOLVED, "dispatched"),
        },
        params=_params(fcr_window_hours=fcr_window_hours),
    )
    for row in results:
        row["fcr_rate"] = _ratio(row["first_contact_resolved"], row["resolved"])
        row["reopen_rate"] = _ratio(row["reopened"], row["resolved"])
    return results


# --- Quality ---------------------------------------------------------------------------------


def csat(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """Customer satisfaction from the survey answers: ``csat`` rows, ``value`` the score (1 to 5).

    - ``responses``: ``csat`` rows (surveys answered in the period; a row
      belongs to the time of the answer and to the agent who resolved).
    - ``mean_score``: their mean score (``None`` without responses).
    - ``satisfied``: those scoring 4 or 5; ``csat_rate`` = ``satisfied / responses``.

    4, 5, 2, 5 give a mean of 4.0 and a rate of 0.75.
    """
    grouping = _grouping(group_by)
    results = _figures(
        filters,
        grouping,
        {
            "responses": Figure(EventKind.CSAT),
            "_scored": Figure(EventKind.CSAT, "value_count"),
            "_score_sum": Figure(EventKind.CSAT, "value_sum"),
            "satisfied": Figure(EventKind.CSAT, "satisfied"),
        },
    )
    for row in results:
        scored, score_sum = _take(row, "_scored", "_score_sum")
        row["mean_score"] = _mean(score_sum, scored)
    for row in results:
        row["csat_rate"] = _ratio(row["satisfied"], row["responses"])
    return results


AGENT = "agent"


def quality(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """QA reviews: ``qa`` rows (a review submitted, at its submission; the agent on the row is the agent reviewed).

    - ``reviews``: ``qa`` rows; ``mean_score``: the mean of their ``value``,
      the review's score from 0 to 100 (``None`` without reviews).
    - ``passed``: those with ``data.passed`` (score at or above the form's pass
      mark and no critical criterion failed); ``pass_rate`` = ``passed / reviews``.
    - ``critical_fails``: those with ``data.critical_failed`` (auto-failed).

    Scores 90, 70 and 0 (auto-failed) with a pass mark of 80 give a mean of
    53.33..., 1 passed, a pass rate of 1/3 and 1 critical fail. ``group_by`` may
    add ``"agent"`` (rows keyed by ``agent_id``, the agent reviewed) to a time
    grain and ``"channel"``.
    """
    names = [group_by] if isinstance(group_by, str) else list(group_by or [])
    by_agent = AGENT in names
    grouping = _grouping([name for name in names if name != AGENT])
    rows = _ledger(filters, [EventKind.QA])
    results = _aggregate(
        rows,
        grouping,
        {
            "reviews": _count(EventKind.QA),
            "mean_score": Avg("value"),
            "passed": _count(EventKind.QA, Q(data__passed=True)),
            "critical_fails": _count(EventKind.QA, Q(data__critical_failed=True)),
        },
        extra_keys=["agent_id"] if by_agent else [],
    )
    for row in results:
        row["pass_rate"] = _ratio(row["passed"], row["reviews"])
    return results


AGE_BUCKETS: tuple[tuple[str, timedelta | None, timedelta | None], ...] = (
    ("under_1h", None, timedelta(hours=1)),
    ("1h_to_4h", timedelta(hours=1), timedelta(hours=4)),
    ("4h_to_24h", timedelta(hours=4), timedelta(hours=24)),
    ("1d_to_3d", timedelta(hours=24), timedelta(hours=72)),
    ("over_3d", timedelta(hours=72), None),
)
"""Backlog age buckets ``(name, from, to)``: ``from <= now - created_at < to``."""


def backlog_aging(
    filters: KpiFilter | None = None, group_by: GroupBy = None, *, now: datetime | None = None
) -> list[Row]:
    """Open conversations (new, queued, assigned, waiting) now, by age since ``created_at``.

    One row (or one per channel with ``group_by="channel"``) with ``total``,
    ``oldest_created_at`` and a count per :data:`AGE_BUCKETS` bucket. The
    filter's period is ignored (this is the state now); channel, queue and
    category are the conversation's current ones, agent and team its assigned
    agent's.
    """
    grouping = _grouping(group_by, grains=())
    now = now or timezone.now()
    rows = Conversation.objects.filter(state__in=OPEN_STATES)
    if filters is not None:
        if filters.channel is not None:
            rows = rows.filter(channel=filters.channel)
        if filters.queue_id is not None:
            rows = rows.filter(queue_id=filters.queue_id)
        if filters.agent_id is not None:
            rows = rows.filter(assigned_agent_id=filters.agent_id)
        if filters.team_id is not None:
            rows = rows.filter(assigned_agent__agent_profile__team_id=filters.team_id)
        if filters.category is not None:
            rows = rows.filter(category=filters.category)
        if filters.account_id is not None:
            rows = rows.filter(_captured_through(filters.account_id, "pk"))
    buckets: dict[str, Aggregate] = {}
    for name, older_than, younger_than in AGE_BUCKETS:
        age = Q()
        if older_than is not None:
            age &= Q(created_at__lte=now - older_than)
        if younger_than is not None:
            age &= Q(created_at__gt=now - younger_than)
        buckets[name] = Count("id", filter=age)
    return _aggregate(rows, grouping, {"total": Count("id"), "oldest_created_at": Min("created_at"), **buckets})


# --- Agents ------------------------------------------------------------------------------


def agent_time(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """Time in each presence state, handle time and occupancy, one row per agent (and time bucket).

    - ``<state>_seconds`` (offline, available, busy, away): the sum of
      ``PresenceChange.previous_seconds`` of changes *out of* that state in the
      period. A stretch counts whole in the bucket where it ended; the state an
      agent is in now counts once it ends.
    - ``staffed_seconds`` = available + busy.
    - ``handle_seconds``: the agent's ``work`` and ``wrap_up`` rows (as :func:`handle`).
    - ``occupancy`` = ``handle_seconds / staffed_seconds``; above 1 when the
      agent works several conversations at once.

    ``agent_id`` is the user's id (as on ledger rows). Channel, queue and
    category filters apply to handle time only. ``group_by`` may be a time
    grain; rows are always per agent.
    """
    grouping = _grouping(group_by, channel=False)
    keys = [*grouping.keys, "agent_id"]
    changes = PresenceChange.objects.filter(at__gte=filters.start, at__lt=filters.end)
    if filters.agent_id is not None:
        changes = changes.filter(agent__user_id=filters.agent_id)
    if filters.team_id is not None:
        changes = changes.filter(agent__team_id=filters.team_id)
    by_state = {
        f"{state}_seconds": Sum("previous_seconds", filter=Q(previous=state), default=0.0) for state in Presence.values
    }
    presence_rows = _aggregate(changes, grouping, by_state, extra_keys=["agent__user_id"])
    for row in presence_rows:
        row["agent_id"] = row.pop("agent__user_id")
    work = _ledger(filters, [EventKind.WORK, EventKind.WRAP_UP]).filter(agent_id__isnull=False)
    work_rows = _aggregate(work, grouping, {"handle_seconds": Sum("value_seconds", default=0.0)}, extra_keys=keys[-1:])

    results = _joined([presence_rows, work_rows], keys, {**dict.fromkeys(by_state, 0.0), "handle_seconds": 0.0})
    for row in results:
        row["staffed_seconds"] = row["available_seconds"] + row["busy_seconds"]
        row["occupancy"] = _ratio(row["handle_seconds"], row["staffed_seconds"])
    return results


# --- Offers ----------------------------------------------------------------------------------

QUEUE = "queue"
OFFER_KINDS = (EventKind.OFFERED, EventKind.OFFER_ACCEPTED, EventKind.OFFER_DECLINED, EventKind.OFFER_TIMED_OUT)
_OFFER_KEYS = {QUEUE: "queue_id", AGENT: "agent_id"}


def offers(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """Offers in offer-mode queues: how many rang, how they ended, and how fast agents accepted.

    - ``offered``: ``offered`` rows (an offer rang for an agent; a conversation
      declined or rung out rings again for the next agent, so it may count
      several times); ``accepted``, ``declined``, ``timed_out``: the
      ``offer_accepted``, ``offer_declined`` and ``offer_timed_out`` rows.
    - ``acceptance_rate`` = ``accepted / (accepted + declined + timed_out)``:
      of the offers that ended in the period (withdrawn offers, whose
      conversation left the queue while they rang, have no row and do not count).
    - ``time_to_accept_*``: ``offer_accepted`` rows' ``value_seconds`` (the
      offer ringing → the agent's accept): count, mean, median and 90th
      percentile (``percentile_cont``, as :func:`speed`).

    A row belongs to its own ``at``: an offer made at 09:59:55 and accepted at
    10:00:05 counts as offered in the 9 o'clock hour and accepted in the 10.
    ``group_by`` may add ``"queue"`` (rows keyed by ``queue_id``) and/or
    ``"agent"`` (rows keyed by ``agent_id``, the agent offered) to a time grain
    and ``"channel"``. Read from the ledger (a median needs every value), never
    the hourly rollup.
    """
    names = [group_by] if isinstance(group_by, str) else list(group_by or [])
    extra = [key for name, key in _OFFER_KEYS.items() if name in names]
    grouping = _grouping([name for name in names if name not in _OFFER_KEYS])
    counts = _aggregate(
        _ledger(filters, OFFER_KINDS),
        grouping,
        {
            "offered": _count(EventKind.OFFERED),
            "accepted": _count(EventKind.OFFER_ACCEPTED),
            "declined": _count(EventKind.OFFER_DECLINED),
            "timed_out": _count(EventKind.OFFER_TIMED_OUT),
        },
        extra_keys=extra,
    )
    stats = _seconds_stats("time_to_accept", "value_seconds")
    times = _aggregate(_ledger(filters, [EventKind.OFFER_ACCEPTED]), grouping, stats, extra_keys=extra)
    empty: Row = {"offered": 0, "accepted": 0, "declined": 0, "timed_out": 0}
    empty |= {name: 0 if name.endswith("_count") else None for name in stats}
    results = _joined([counts, times], [*grouping.keys, *extra], empty)
    for row in results:
        row["acceptance_rate"] = _ratio(row["accepted"], row["accepted"] + row["declined"] + row["timed_out"])
    return results


def offers_by_queue(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """:func:`offers` per queue, each row named by ``queue`` (the queue's name)."""
    rows = offers(filters, [*_names(group_by), QUEUE])
    named = dict(Queue.objects.filter(pk__in={row["queue_id"] for row in rows}).values_list("pk", "name"))
    for row in rows:
        row[QUEUE] = named.get(row["queue_id"], "(no queue)" if row["queue_id"] is None else f"queue {row['queue_id']}")
    return rows


def offers_by_agent(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """:func:`offers` per agent offered, each row named by ``agent`` (the agent's full name, else username)."""
    rows = offers(filters, [*_names(group_by), AGENT])
    users = get_user_model().objects.filter(pk__in={row["agent_id"] for row in rows})
    named = {user.pk: user.get_full_name() or user.get_username() for user in users}
    for row in rows:
        row[AGENT] = named.get(row["agent_id"], f"user {row['agent_id']}")
    return rows


def _names(group_by: GroupBy) -> list[str]:
    return [group_by] if isinstance(group_by, str) else list(group_by or [])


# --- Trends and cost -------------------------------------------------------------------------


def _by_category(group_by: GroupBy) -> tuple[list[str], bool]:
    """``group_by`` without ``"category"``, and whether it was there (trends and cost may group by it)."""
    names = [group_by] if isinstance(group_by, str) else list(group_by or [])
    return [name for name in names if name != CATEGORY], CATEGORY in names


def trends(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """Conversations captured and their sentiment, over time and, with ``"category"`` in ``group_by``, per category.

    - ``captured``: ``captured`` rows (as :func:`volumes`);
    - ``negative``, ``neutral``, ``positive``: those whose conversation has that
      sentiment *now* (sentiment lives on the conversation, not on the ledger
      row, so a later re-triage moves past counts); ``unrated``: no sentiment;
    - ``negative_share`` = ``negative / captured``.

    ``group_by`` may add ``"category"`` to a time grain and ``"channel"``: rows
    are then keyed by ``category`` too (the conversation's current category,
    ``""`` when it has none).
    """
    names, by_category = _by_category(group_by)
    grouping = _grouping(names)
    results = _figures(
        filters,
        grouping,
        {
            "captured": Figure(EventKind.CAPTURED),
            **{str(sentiment): Figure(EventKind.CAPTURED, str(sentiment)) for sentiment in Sentiment.values},
            "unrated": Figure(EventKind.CAPTURED, "unrated"),
        },
        extra_keys=[CATEGORY] if by_category else [],
    )
    for row in results:
        row["negative_share"] = _ratio(row[Sentiment.NEGATIVE], row["captured"])
    return results


def listening_trends(filters: KpiFilter, group_by: GroupBy = None) -> list[Row]:
    """Posts captured by each listening query, over time: one row per query name (and group).

    - ``query``: the listening query's name (queries of the same name count together);
    - ``posts``: messages with a ``listening_query``, at their ``received_at``
      (when capture stored them), routed or filtered out alike.

    Unlike the other KPIs, rows are always keyed by ``query``, so a period
    without listening posts gives no rows. Channel and category are the post's
    conversation's (filtered posts have none, so those filters leave them out);
    capture precedes queueing and agents, so a queue, agent or team filter
    counts nothing.
    """
    grouping = _grouping(group_by)
    posts = Message.objects.filter(
        listening_query__isnull=False, received_at__gte=filters.start, received_at__lt=filters.end
    ).annotate(at=F("received_at"), query=F("listening_query__name"), channel=F("conversation__channel"))
    if filters.queue_id is not None or filters.agent_id is not None or filters.team_id is not None:
        posts = posts.none()
    if filters.channel is not None:
        posts = posts.filter(conversation__channel=filters.channel)
    if filters.category is not None:
        posts = posts.filter(conversation__category=filters.category)
    if filters.account_id is not None:
        posts = posts.filter(account_id=filters.account_id)
    return _aggregate(posts, grouping, {"posts": Count("id")}, extra_keys=["query"])


MAX_KEYWORDS = 50
"""Keywords one report counts at most: each is one conditional count over the period's posts."""


def normalise_keywords(words: Iterable[str]) -> list[str]:
    """Lower case, single spaces, no blanks or repeats; the first occurrence keeps its place."""
    seen: dict[str, None] = {}
    for word in words:
        normal = " ".join(word.split()).lower()
        if normal:
            seen.setdefault(normal, None)
    return list(seen)


def tracked_keywords() -> list[str]:
    """The keywords the keyword report counts by default, at most :data:`MAX_KEYWORDS`.

    In this order (the first ones win when there are more): the enabled
    tracked keywords (admin), the keywords and phrases of the enabled listening
    queries, and the keywords of the enabled classification rules.
    """
    words = list(TrackedKeyword.objects.filter(enabled=True).values_list("keyword", flat=True))
    for keywords, phrases in ListeningQuery.objects.filter(enabled=True).values_list("keywords", "phrases"):
        words += [word for word in [*(keywords or []), *(phrases or [])] if isinstance(word, str)]
    for (keywords,) in ClassificationRule.objects.filter(enabled=True).values_list("keywords"):
        words += [word for word in keywords or [] if isinstance(word, str)]
    return normalise_keywords(words)[:MAX_KEYWORDS]


def keywords(filters: KpiFilter, group_by: GroupBy = None, *, keywords: Sequence[str] | None = None) -> list[Row]:
    """Customers' posts mentioning each keyword, over time: one row per keyword (and group).

    - ``posts``: inbound messages of conversations (routed posts; posts
      filtered out have no conversation and are left out) at their
      ``received_at``;
    - ``mentions``: those whose text contains the keyword, case-insensitively
      (a substring match: ``refund`` also counts ``refunds``; SQLite folds the
      case of ASCII letters only);
    - ``share`` = ``mentions / posts``.

    ``keywords`` default to :func:`tracked_keywords`. One query counts every
    keyword at once (a conditional count each), at read time, so capture pays
    nothing. Rows are keyed by ``keyword``, in alphabetical order within each
    group; groups without posts give no rows (nor does a period without posts).
    Channel and category are the post's conversation's; capture precedes
    queueing and agents, so a queue, agent or team filter counts nothing.
    """
    words = tracked_keywords() if keywords is None else normalise_keywords(keywords)
    if len(words) > MAX_KEYWORDS:
        raise Invalid(f"Count at most {MAX_KEYWORDS} keywords at once; got {len(words)}.")
    grouping = _grouping(group_by)
    posts = Message.objects.filter(
        direction=Direction.INBOUND,
        conversation__isnull=False,
        received_at__gte=filters.start,
        received_at__lt=filters.end,
    ).annotate(at=F("received_at"), channel=F("conversation__channel"))
    if filters.queue_id is not None or filters.agent_id is not None or filters.team_id is not None or not words:
        return []
    if filters.channel is not None:
        posts = posts.filter(conversation__channel=filters.channel)
    if filters.category is not None:
        posts = posts.filter(conversation__category=filters.category)
    if filters.account_id is not None:
        posts = posts.filter(account_id=filters.account_id)
    mentions = {f"mentions_{i}": Count("id", filter=Q(text__icontains=word)) for i, word in enumerate(words)}
    results = []
    for group in _aggregate(posts, grouping, {"posts": Count("id"), **mentions}):
        if not group["posts"]:
            continue
        keys = {key: group[key] for key in grouping.keys}
        for i, word in sorted(enumerate(words), key=lambda item: item[1]):
            count = group[f"mentions_{i}"]
            results.append(
                {**keys, "keyword": word, "mentions": count, "posts": group["posts"], "share": count / group["posts"]}
            )
    return results


def cost(filters: KpiFilter, group_by: GroupBy = None, *, cost_per_agent_hour: float | None = None) -> list[Row]:
    """The cost of handling: agent hours spent on conversations, priced at ``COST_PER_AGENT_HOUR``.

    - ``agent_hours``: the sum of ``work`` and ``wrap_up`` ``value_seconds`` / 3600
      (handle time only: idle, available and away time is not counted, so this
      is the cost of handling, not of staffing);
    - ``cost`` = ``agent_hours * cost_per_agent_hour`` (default the
      ``COST_PER_AGENT_HOUR`` setting);
    - ``contacts``: distinct conversations with a ``work`` row;
    - ``cost_per_contact`` = ``cost / contacts``.

    ``group_by`` may add ``"category"`` (the conversation's current category) to
    a time grain and ``"channel"``.
    """
    rate = settings.COST_PER_AGENT_HOUR if cost_per_agent_hour is None else cost_per_agent_hour
    names, by_category = _by_category(group_by)
    grouping = _grouping(names)
    extra_keys = [CATEGORY] if by_category else []
    results = _figures(
        filters,
        grouping,
        {
            "_work_seconds": Figure(EventKind.WORK, "seconds_sum"),
            "_wrap_up_seconds": Figure(EventKind.WRAP_UP, "seconds_sum"),
        },
        extra_keys=extra_keys,
    )
    _distinct_conversations(filters, grouping, "contacts", [EventKind.WORK], results, extra_keys=extra_keys)
    for row in results:
        row["handle_seconds"] = sum(_take(row, "_work_seconds", "_wrap_up_seconds"))
    for row in results:
        seconds = row.pop("handle_seconds")
        row["agent_hours"] = seconds / 3600
        row["cost"] = seconds * rate / 3600
        row["cost_per_contact"] = _ratio(row["cost"], row["contacts"])
    return results
