"""SLA deadlines in business time: a target of N seconds counts only open hours, skipping holidays."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db.models import F

from routing.models import WEEKDAYS, Queue, SLAPolicy

MAX_DAYS_AHEAD = 366
"""A calendar with almost no open hours must still give an answer."""


@dataclass(frozen=True)
class Calendar:
    """Open hours per weekday (0 = Monday) as (start, end) times, and closed dates."""

    hours: dict[int, list[tuple[time, time]]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    zone: str = "UTC"

    @property
    def always_open(self) -> bool:
        return not self.hours

    @classmethod
    def for_policy(cls, policy: SLAPolicy | None) -> Calendar:
        if policy is None or not policy.business_hours:
            return cls(zone=settings.TIME_ZONE)
        hours = {
            WEEKDAYS.index(day): sorted((time.fromisoformat(a), time.fromisoformat(b)) for a, b in spans)
            for day, spans in policy.business_hours.items()
        }
        holidays = frozenset(policy.holidays.values_list("date", flat=True)) if policy.pk else frozenset()
        return cls(hours=hours, holidays=holidays, zone=settings.TIME_ZONE)

    def deadline(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of open time have passed since ``start``."""
        if self.always_open:
            return start + timedelta(seconds=seconds)
        zone = zoneinfo.ZoneInfo(self.zone)
        local = start.astimezone(zone)
        remaining = timedelta(seconds=seconds)
        day = local.date()
        for _ in range(MAX_DAYS_AHEAD):
            if day not in self.holidays:
                for opens, closes in self.hours.get(day.weekday(), []):
                    span_start = datetime.combine(day, opens, zone)
                    span_end = datetime.combine(day, closes, zone)
                    begin = max(span_start, local)
                    if begin >= span_end:
                        continue
                    # Aware datetimes sharing a tzinfo add and subtract as wall-clock
                    # times, an hour off across a DST change: count elapsed time in UTC.
                    begin, span_end = begin.astimezone(UTC), span_end.astimezone(UTC)
                    if begin + remaining <= span_end:
                        return (begin + remaining).astimezone(start.tzinfo)
                    remaining -= span_end - begin
            day += timedelta(days=1)
            local = datetime.combine(day, time(0), zone)
        return start + timedelta(days=MAX_DAYS_AHEAD)

    def open_seconds(self, start: datetime, end: datetime) -> float:
        """Open time between two moments (for business-hours KPIs)."""
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds()
        zone = zoneinfo.ZoneInfo(self.zone)
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        total = 0.0
        day = local_start.date()
        while day <= local_end.date():
            if day not in self.holidays:
                for opens, closes in self.hours.get(day.weekday(), []):
                    a = max(datetime.combine(day, opens, zone), local_start)
                    b = min(datetime.combine(day, closes, zone), local_end)
                    if b > a:
                        total += (b.astimezone(UTC) - a.astimezone(UTC)).total_seconds()  # real time, across DST too
            day += timedelta(days=1)
        return total


class QueueClock:
    """The core's SLA clock (``core.hooks.sla_clock``): each queue's policy and calendar, loaded once per batch.

    Deadlines count only the open hours of the queue's policy. The ledger
    stores business-hours durations next to the calendar ones at write time,
    because the database cannot evaluate a business calendar; the KPI reports
    aggregate the stored values. A conversation without a queue, or whose
    queue has no SLA policy (or a policy without business hours), is always
    open: its business duration equals the calendar one, and it has no
    deadlines without a policy.
    """

    def __init__(self) -> None:
        self.policies: dict[int | None, tuple[Calendar, SLAPolicy | None]] = {
            None: (Calendar(zone=settings.TIME_ZONE), None)
        }

    def load(self, queue_ids: Iterable[int | None]) -> QueueClock:
        """Load the policies of many queues at once: one query, plus one per policy with business hours."""
        wanted = {queue_id for queue_id in queue_ids if queue_id is not None and queue_id not in self.policies}
        if wanted:
            # One row per (policy, queue): a queue has at most one policy.
            rows = SLAPolicy.objects.filter(queues__pk__in=wanted).annotate(for_queue=F("queues__pk"))
            found = {policy.for_queue: policy for policy in rows}
            for queue_id in wanted:
                policy = found.get(queue_id)
                self.policies[queue_id] = (Calendar.for_policy(policy), policy)
        return self

    def with_queues(self, queues: Iterable[Queue]) -> QueueClock:
        """Take the policies of queues already loaded (with ``sla_policy`` and its holidays): no query."""
        for queue in queues:
            self.policies[queue.pk] = (Calendar.for_policy(queue.sla_policy), queue.sla_policy)
        return self

    def _policy(self, queue_id: int | None) -> tuple[Calendar, SLAPolicy | None]:
        if queue_id not in self.policies:
            self.load([queue_id])
        return self.policies[queue_id]

    def calendar(self, queue_id: int | None) -> Calendar:
        return self._policy(queue_id)[0]

    def first_response_due(self, queue_id: int | None, start: datetime) -> datetime | None:
        """When the queue's SLA wants the first answer to a customer who wrote at ``start``."""
        calendar, policy = self._policy(queue_id)
        return calendar.deadline(start, policy.first_response_seconds) if policy else None

    def next_response_due(self, queue_id: int | None, start: datetime) -> datetime | None:
        """When the queue's SLA wants the next answer to a customer who wrote again at ``start``."""
        calendar, policy = self._policy(queue_id)
        return calendar.deadline(start, policy.next_response_seconds) if policy else None

    def business_seconds(self, queue_id: int | None, start: datetime | None, end: datetime) -> float | None:
        """Open seconds of the queue's calendar in ``[start, end)``; None without a start."""
        if start is None:
            return None
        return self.calendar(queue_id).open_seconds(start, end)
