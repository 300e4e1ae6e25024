"""The staffing plan of one day: per interval, the forecast workload, the agents Erlang C asks for, and
the agents who were actually logged in.

Per interval of ``interval_minutes`` (15, 30 or 60) of the chosen day, cut in
``TIME_ZONE``:

- **forecast volume**: a hand-entered :class:`reporting.models.Forecast` for
  that interval (same start and length) if there is one; otherwise the mean
  number of ``captured`` ledger rows in the same interval of the same weekday
  over the last ``weeks`` weeks (one GROUP BY query over those days). The
  history days are the ``weeks`` latest days of that weekday before the chosen
  day that have ended (today is not complete, so it never counts); a week
  without any conversation counts as 0, so the mean divides by ``weeks``.
  Intervals are matched by wall-clock time of day, so on a day the clocks
  change the repeated (or missing) hour takes the history of that time of day.
- **AHT**: ``aht_seconds`` if given, else the AHT of the handle report
  (``reporting.kpis.handle``) over the whole span of the history days.
- **Erlang C** (``reporting.staffing.required_agents``) with the targets,
  shrinkage and concurrency: agents required on the floor, agents to schedule,
  expected service level, ASA and occupancy.
- **logged in**: agents whose presence was not offline at any moment of the
  interval, from the presence changes (each change starts a stretch in its new
  state that lasts until the agent's next change), counted in one query; only
  for intervals that have started (``None`` for the future).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import ExtractHour, ExtractMinute
from django.utils import timezone

from agents.models import Presence, PresenceChange
from core.errors import Invalid
from core.models import Event, EventKind
from reporting import kpis, staffing
from reporting.models import INTERVAL_MINUTES, Forecast

MAX_WEEKS = 52
DEFAULT_WEEKS = 4
DEFAULT_TARGET_SERVICE_LEVEL = 0.8
DEFAULT_ANSWER_SECONDS = 20.0


@dataclass(frozen=True)
class PlanInputs:
    """What a plan is asked for. ``target_service_level`` and ``target_asa_seconds``: at least one."""

    day: date
    interval_minutes: int = 30
    target_service_level: float | None = DEFAULT_TARGET_SERVICE_LEVEL
    answer_seconds: float = DEFAULT_ANSWER_SECONDS
    target_asa_seconds: float | None = None
    shrinkage: float = 0.0
    concurrency: float = 1.0
    aht_seconds: float | None = None
    """Overrides the AHT from history."""
    weeks: int = DEFAULT_WEEKS


@dataclass(frozen=True)
class IntervalPlan:
    start: datetime
    end: datetime
    volume: float
    volume_source: str
    """``forecast`` (entered by hand) or ``history``."""
    agents: int
    scheduled_agents: int
    service_level: float
    asa_seconds: float | None
    occupancy: float
    traffic_erlangs: float
    logged_in: int | None
    """Agents not offline at some moment of the interval; None for an interval that has not started."""


@dataclass(frozen=True)
class Plan:
    inputs: PlanInputs
    aht_seconds: float
    aht_source: str
    """``given`` or ``history``."""
    history_days: list[date]
    intervals: list[IntervalPlan] = field(default_factory=list)


def staffing_plan(inputs: PlanInputs, *, now: datetime | None = None) -> Plan:
    """The plan of ``inputs.day``; raises ``Invalid`` (naming the parameter) on bad input."""
    _check(inputs)
    now = now or timezone.now()
    intervals = day_intervals(inputs.day, inputs.interval_minutes)
    days = history_days(inputs.day, inputs.weeks, today=timezone.localdate(now))
    aht, aht_source = inputs.aht_seconds, "given"
    if aht is None:
        (handle,) = kpis.handle(kpis.KpiFilter(_midnight(days[-1]), _midnight(days[0] + timedelta(days=1))))
        aht, aht_source = handle["aht_seconds"], "history"
        if not aht:
            message = (
                f"No handle time was recorded from {days[-1]:%Y-%m-%d} to {days[0]:%Y-%m-%d} "
                "to take the AHT from; give aht_seconds."
            )
            raise Invalid(message, fields={"aht_seconds": [message]})
    history = volume_history(days, inputs.interval_minutes)
    by_hand = hand_forecasts(intervals, inputs.interval_minutes)
    logged_in = logged_in_agents([interval for interval in intervals if interval[0] <= now])

    plans = []
    for index, (start, end) in enumerate(intervals):
        if start in by_hand:
            volume, source = by_hand[start], "forecast"
        else:
            volume, source = history.get(_slot(start, inputs.interval_minutes), 0.0), "history"
        result = staffing.required_agents(
            volume=volume,
            interval_seconds=inputs.interval_minutes * 60,
            aht_seconds=aht,
            answer_seconds=inputs.answer_seconds,
            target_service_level=inputs.target_service_level,
            target_asa_seconds=inputs.target_asa_seconds,
            shrinkage=inputs.shrinkage,
            concurrency=inputs.concurrency,
        )
        plans.append(
            IntervalPlan(
                start=start,
                end=end,
                volume=volume,
                volume_source=source,
                agents=result.agents,
                scheduled_agents=result.scheduled_agents,
                service_level=result.service_level,
                asa_seconds=result.asa_seconds,
                occupancy=result.occupancy,
                traffic_erlangs=result.traffic_erlangs,
                logged_in=logged_in[index] if index < len(logged_in) else None,
            )
        )
    return Plan(inputs=inputs, aht_seconds=aht, aht_source=aht_source, history_days=days, intervals=plans)


def _check(inputs: PlanInputs) -> None:
    errors: dict[str, list[str]] = {}
    if inputs.interval_minutes not in INTERVAL_MINUTES:
        errors["interval_minutes"] = [f"interval_minutes must be one of {', '.join(map(str, INTERVAL_MINUTES))}."]
    if not 1 <= inputs.weeks <= MAX_WEEKS:
        errors["weeks"] = [f"weeks must be between 1 and {MAX_WEEKS}."]
    if inputs.aht_seconds is not None and not 0 < inputs.aht_seconds < float("inf"):
        errors["aht_seconds"] = ["aht_seconds must be greater than 0."]
    if inputs.target_service_level is None and inputs.target_asa_seconds is None:
        errors["target_service_level"] = ["Give target_service_level (with answer_seconds) or target_asa_seconds."]
    if errors:
        raise Invalid(" ".join(message for messages in errors.values() for message in messages), fields=errors)


# --- The pieces -----------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def day_intervals(day: date, minutes: int) -> list[tuple[datetime, datetime]]:
    """The intervals from local midnight to the next (23 or 25 hours on the days the clocks change)."""
    start, end, step = _midnight(day), _midnight(day + timedelta(days=1)), timedelta(minutes=minutes)
    intervals = []
    # Step in real time (UTC): aware datetimes of one zone add as wall-clock times, wrong across a change.
    at = start.astimezone(timezone.get_default_timezone())
    while at < end:
        following = min(end, (at.astimezone(UTC) + step).astimezone(at.tzinfo))
        intervals.append((at, following))
        at = following
    return intervals


def history_days(day: date, weeks: int, *, today: date) -> list[date]:
    """The ``weeks`` latest days of ``day``'s weekday before it that have ended (before ``today``), latest first."""
    latest = day - timedelta(days=7)
    while latest >= today:
        latest -= timedelta(days=7)
    return [latest - timedelta(days=7 * week) for week in range(weeks)]


def _slot(start: datetime, minutes: int) -> int:
    """The interval's wall-clock start in minutes after midnight, floored to the interval length."""
    local = timezone.localtime(start)
    return (local.hour * 60 + local.minute) // minutes * minutes


def volume_history(days: list[date], minutes: int) -> dict[int, float]:
    """Mean ``captured`` rows per interval slot (see :func:`_slot`) over ``days``: one GROUP BY query.

    The database counts per local hour and minute (at most 1,440 groups); those
    counts are summed into the slots here.
    """
    tz = timezone.get_default_timezone()
    span = Q()
    for day in days:
        span |= Q(at__gte=_midnight(day), at__lt=_midnight(day + timedelta(days=1)))
    counts = (
        Event.objects.filter(span, kind=EventKind.CAPTURED)
        .annotate(hour=ExtractHour("at", tzinfo=tz), minute=ExtractMinute("at", tzinfo=tz))
        .values("hour", "minute")
        .annotate(conversations=Count("id"))
        .order_by()
    )
    totals: dict[int, int] = {}
    for row in counts:
        slot = (int(row["hour"]) * 60 + int(row["minute"])) // minutes * minutes
        totals[slot] = totals.get(slot, 0) + row["conversations"]
    return {slot: total / len(days) for slot, total in totals.items()}


def hand_forecasts(intervals: list[tuple[datetime, datetime]], minutes: int) -> dict[datetime, float]:
    """Hand-entered volumes of the intervals (by start), for intervals of this length."""
    if not intervals:
        return {}
    rows = Forecast.objects.filter(
        interval_minutes=minutes, starts_at__gte=intervals[0][0], starts_at__lt=intervals[-1][1]
    ).values_list("starts_at", "volume")
    # Aware datetimes compare (and hash) by instant, whatever their zone.
    return dict(rows)


def logged_in_agents(intervals: list[tuple[datetime, datetime]]) -> list[int]:
    """Per interval, the agents whose presence was not offline at any moment of it: one query.

    Each presence change starts a stretch in its new state until the agent's
    next change. A stretch ``[at, next)`` overlaps ``[start, end)`` when
    ``at < end`` and the agent made no change in ``(at, start]``. An agent
    counts once per interval however many stretches overlap it.
    """
    if not intervals:
        return []
    first_start, last_end = intervals[0][0], intervals[-1][1]
    later = PresenceChange.objects.filter(agent_id=OuterRef("agent_id"), at__gt=OuterRef("at"))
    stretches = (
        PresenceChange.objects.exclude(presence=Presence.OFFLINE)
        .filter(at__lt=last_end)
        .exclude(Exists(later.filter(at__lte=first_start)))  # ended before the first interval
    )
    counts = stretches.aggregate(
        **{
            f"interval_{index}": Count(
                "agent_id", distinct=True, filter=Q(at__lt=end) & ~Q(Exists(later.filter(at__lte=start)))
            )
            for index, (start, end) in enumerate(intervals)
        }
    )
    return [counts[f"interval_{index}"] for index in range(len(intervals))]
