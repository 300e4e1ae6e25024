"""The hourly rollup: the ledger summed per hour and group, so a month's report reads thousands of rows, not millions.

:func:`do_roll_up` (the ``roll-up-ledger`` periodic task, and ``manage.py
rollup``) sums the ledger rows of each ended hour into ``LedgerHour`` rows,
one per local hour (``TIME_ZONE``), kind and group: the row's ``channel`` and
``queue``, its conversation's ``category``, and two flags:

- ``target``, on ``first_response`` and ``abandoned`` rows: ``"none"`` when the
  conversation has no first-response target (``first_response_due``), ``"met"``
  when the row is at or before it, ``"missed"`` after it; ``""`` on other kinds.
- ``answered``, on ``closed`` rows: whether the conversation had a ``reply``
  row at or before the close; on ``abandoned`` rows: whether it had a
  ``first_response`` row at or before the abandon; ``None`` on other kinds.

The figures are counts and sums (:data:`MEASURES`), so any span of hours adds
up exactly to what the ledger gives for it. The KPI reports
(:mod:`reporting.kpis`) read the rolled hours of their period from here and
the rest (the hour in progress, the edges of a period that does not start or
end on the hour) from the ledger, and add the two.

Some figures look ahead or at the conversation as it is now: first-contact
resolution looks up to ``FCR_WINDOW_HOURS`` past a resolution for a reopen or
a new conversation, and the category, the sentiment and the first-response
target are the conversation's. So every run sums again the hours of the last
FCR window (plus one hour) and, after those, an hour's figures stay as they
were summed: a conversation re-triaged later than that keeps its old category
in the rolled hours. ``manage.py rollup --rebuild`` sums everything again
(needed after rows were written far in the past, such as an import).

The rollup holds its figures for one ``TIME_ZONE``, ``FCR_WINDOW_HOURS`` and
``SHORT_ABANDON_SECONDS`` (:class:`RollupState` records them); when a setting
changes, the next run rebuilds it, and until then reports read the ledger.
A report asked for another FCR window or short-abandon threshold than the
settings' reads the ledger too, as does one filtered by agent, team or account
(the rollup does not keep those groups: summed per agent it would be nearly
as large as the ledger).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Trunc
from django.utils import timezone

from core.models import Conversation, Event, EventKind, Sentiment
from reporting.models import LedgerHour, RollupState

HOUR = timedelta(hours=1)
TARGET_KINDS = (EventKind.FIRST_RESPONSE, EventKind.ABANDONED)
"""Kinds whose rows carry the ``target`` flag."""


# --- What a ledger row is flagged and counted as (the reports' raw path uses the same) -----------


def target_met() -> Q:
    return Q(conversation__first_response_due__isnull=False, at__lte=F("conversation__first_response_due"))


def target_missed() -> Q:
    return Q(conversation__first_response_due__isnull=False, at__gt=F("conversation__first_response_due"))


def no_target() -> Q:
    return Q(conversation__first_response_due__isnull=True)


def answered_before() -> Q:
    """Closed rows: a ``reply`` at or before the close; abandoned rows: a ``first_response`` at or before it."""
    reply = Exists(
        Event.objects.filter(conversation_id=OuterRef("conversation_id"), kind=EventKind.REPLY, at__lte=OuterRef("at"))
    )
    answer = Exists(
        Event.objects.filter(
            conversation_id=OuterRef("conversation_id"), kind=EventKind.FIRST_RESPONSE, at__lte=OuterRef("at")
        )
    )
    return (Q(kind=EventKind.CLOSED) & Q(reply)) | (Q(kind=EventKind.ABANDONED) & Q(answer))


def first_contact(fcr_window_hours: float) -> Q:
    """A ``resolved`` row (at ``T``) with no reopen of its conversation by ``T + window`` and no new
    conversation of its contact in ``(T, T + window]``."""
    window_end = OuterRef("at") + timedelta(hours=fcr_window_hours)
    reopened = Exists(
        Event.objects.filter(conversation_id=OuterRef("conversation_id"), kind=EventKind.REOPENED, at__lte=window_end)
    )
    came_back = Exists(
        Conversation.objects.filter(
            contact_id=OuterRef("conversation__contact_id"), created_at__gt=OuterRef("at"), created_at__lte=window_end
        )
    )
    return Q(kind=EventKind.RESOLVED) & ~Q(reopened) & ~Q(came_back)


def waited_long(short_abandon_seconds: float) -> Q:
    """An ``abandoned`` row whose wait is at least the short-abandon threshold (or unknown)."""
    return Q(kind=EventKind.ABANDONED) & (Q(value_seconds__gte=short_abandon_seconds) | Q(value_seconds__isnull=True))


@dataclass(frozen=True)
class Params:
    """The settings a rollup's figures depend on."""

    time_zone: str
    fcr_window_hours: float
    short_abandon_seconds: float

    @classmethod
    def current(cls) -> Params:
        return cls(settings.TIME_ZONE, float(settings.FCR_WINDOW_HOURS), float(settings.SHORT_ABANDON_SECONDS))


def _measure_parts(params: Params) -> dict[str, tuple[type[Count] | type[Sum], str, Q | None]]:
    """Each ``LedgerHour`` figure as (aggregate, column, condition) over ledger rows."""
    sentiment: dict[str, tuple[type[Count] | type[Sum], str, Q | None]] = {
        str(value): (Count, "kind", Q(kind=EventKind.CAPTURED, conversation__sentiment=value))
        for value in Sentiment.values
    }
    return {
        "rows": (Count, "kind", None),
        "seconds_count": (Count, "value_seconds", None),
        "seconds_sum": (Sum, "value_seconds", None),
        "value_count": (Count, "value", None),
        "value_sum": (Sum, "value", None),
        "dispatched": (Count, "kind", Q(kind=EventKind.RESOLVED, data__disposition="dispatched")),
        "satisfied": (Count, "kind", Q(kind=EventKind.CSAT, value__gte=4)),
        "first_contact": (Count, "kind", first_contact(params.fcr_window_hours)),
        "long_waits": (Count, "kind", waited_long(params.short_abandon_seconds)),
        **sentiment,
        "unrated": (Count, "kind", Q(kind=EventKind.CAPTURED, conversation__sentiment="")),
    }


MEASURES = tuple(_measure_parts(Params("UTC", 0.0, 0.0)))
"""The figures of a ``LedgerHour`` row."""


def ledger_aggregate(measure: str, params: Params, where: Q | None = None) -> Count | Sum:
    """The ledger aggregate behind a ``LedgerHour`` figure, over the rows that also match ``where``."""
    function, column, condition = _measure_parts(params)[measure]
    if where is not None:
        condition = where if condition is None else condition & where
    if function is Sum:
        return Sum(column, filter=condition, default=0.0)
    return Count(column, filter=condition)


def measures(params: Params) -> dict[str, Count | Sum]:
    """Each ``LedgerHour`` figure as an aggregate of ledger rows (column name → aggregate)."""
    return {measure: ledger_aggregate(measure, params) for measure in MEASURES}


def flags() -> dict[str, Any]:
    """The ``target`` and ``answered`` flags of a ledger row, as expressions."""
    flagged = Q(kind__in=TARGET_KINDS)
    return {
        "target": Case(
            When(flagged & no_target(), then=Value("none")),
            When(flagged & target_met(), then=Value("met")),
            When(flagged, then=Value("missed")),
            default=Value(""),
            output_field=CharField(),
        ),
        "answered": Case(
            When(answered_before(), then=Value(True)),
            When(kind__in=[EventKind.CLOSED, EventKind.ABANDONED], then=Value(False)),
            default=None,
            output_field=BooleanField(),
        ),
    }


# --- Rolling up ----------------------------------------------------------------------------------


def state() -> RollupState | None:
    """The rollup's reach, or ``None`` when it holds nothing usable (never built, or under other settings)."""
    current = RollupState.objects.first()
    if current is None or _params_of(current) != Params.current():
        return None
    return current


def _params_of(current: RollupState) -> Params:
    return Params(current.time_zone, current.fcr_window_hours, current.short_abandon_seconds)


def floor_hour(moment: datetime) -> datetime:
    """The start of the local hour ``moment`` falls in (``TIME_ZONE``), as an aware datetime."""
    local = timezone.localtime(moment)
    return timezone.localtime(
        moment - timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
    )


def do_roll_up(now: datetime | None = None, *, rebuild: bool = False) -> RollupState | None:
    """Sum the ended hours not yet rolled, and the last FCR window's again; everything with ``rebuild``.

    Returns the new state, or ``None`` when the ledger is empty. Each run
    replaces whole hours in one transaction, so a report sees an hour's old
    figures or its new ones, never a mix.
    """
    now = now or timezone.now()
    params = Params.current()
    until = floor_hour(now)
    current = RollupState.objects.first()
    if rebuild or current is None or _params_of(current) != params:
        first = Event.objects.order_by("at").values_list("at", flat=True).first()
        if first is None:
            RollupState.objects.all().delete()
            LedgerHour.objects.all().delete()
            return None
        rolled_from = floor_hour(first)
        start = rolled_from
    else:
        rolled_from = current.rolled_from
        settle = timedelta(hours=params.fcr_window_hours) + HOUR
        # The hours not rolled yet, and those still inside the FCR window of now.
        start = max(rolled_from, min(current.rolled_until, until - settle))
    if until < start:
        until = start
    with transaction.atomic():
        if start == rolled_from:
            LedgerHour.objects.all().delete()
        else:
            LedgerHour.objects.filter(hour__gte=start).delete()
        day = timedelta(days=1)
        chunk_start = start
        while chunk_start < until:  # a day at a time: each step's grouped rows stay small
            # Straight to the next hour with rows: a quiet ledger (or a long gap) costs nothing.
            next_row = Event.objects.filter(at__gte=chunk_start, at__lt=until).order_by("at").values("at").first()
            if next_row is None:
                break
            chunk_start = max(chunk_start, floor_hour(next_row["at"]))
            chunk_end = min(until, chunk_start + day)
            LedgerHour.objects.bulk_create(_summed(chunk_start, chunk_end, params), batch_size=2000)
            chunk_start = chunk_end
        RollupState.objects.all().delete()
        return RollupState.objects.create(
            rolled_from=rolled_from,
            rolled_until=until,
            time_zone=params.time_zone,
            fcr_window_hours=params.fcr_window_hours,
            short_abandon_seconds=params.short_abandon_seconds,
            rolled_at=now,
        )


def _summed(start: datetime, end: datetime, params: Params) -> list[LedgerHour]:
    rows: QuerySet[Any] = (
        Event.objects.filter(at__gte=start, at__lt=end)
        .annotate(
            hour=Trunc("at", "hour", tzinfo=timezone.get_default_timezone()),
            category=Coalesce(F("conversation__category"), Value("")),
            **flags(),
        )
        .values("hour", "kind", "channel", "queue_id", "category", "target", "answered")
        .annotate(**measures(params))
        .order_by()
    )
    return [LedgerHour(**row) for row in rows]
