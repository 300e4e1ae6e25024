"""The supervisor's live dashboard: what is happening on the floor right now.

:func:`dashboard` reads every figure with a fixed handful of aggregate queries
(GROUP BY in the database; Python only reshapes the grouped rows), so its cost
does not grow with the number of agents, queues or conversations shown.

Definitions (``now`` is the moment of the call):

- **Queue depth / longest wait**: open conversations not yet with an agent
  (``new`` and ``queued``), per queue and per channel; the longest wait is
  ``now - min(waiting_since)``.
- **At risk / in breach**: open conversations whose ``sla_status`` says so; the
  most urgent are those with the earliest response due (the first response's
  until there is one, then the next response's).
- **Service level today**: among conversations whose first response falls due
  today (``TIME_ZONE`` day), those whose due time has passed plus those due
  later today already answered, the share answered by their due time. An
  unanswered conversation past its due time counts as missed.
- **Agents**: presence, time in it, and load (the weights of the conversations
  they hold: assigned or waiting on the customer) against capacity.
- **Inbound volume**: ``captured`` ledger rows in ``[now - 1h, now)`` against
  the same hour a week earlier.
- **Spike alert**: per category, captured posts (all, and those with negative
  sentiment) in the last hour against a baseline: the mean of the same hour in
  each of the previous 4 weeks, or, when those hours captured nothing at all
  (a new installation), the hourly mean of the 24 hours before the last hour.
  A figure spikes when it is at least ``SPIKE_FACTOR`` times its baseline and at
  least ``SPIKE_MIN_POSTS`` posts.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.db.models import Case, Count, F, IntegerField, Min, OuterRef, Q, Subquery, Sum, Value, When, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from agents.models import AgentProfile
from core.models import (
    HOLDING_STATES,
    OPEN_STATES,
    Channel,
    Conversation,
    Direction,
    Event,
    EventKind,
    Message,
    Sentiment,
    SLAStatus,
)
from core.models import ConversationState as S

WAITING_STATES = (S.NEW, S.QUEUED)
"""Open and not yet with an agent: what makes up a queue's depth."""

URGENT_LIMIT = 10
SPIKE_FACTOR = 2.0
SPIKE_MIN_POSTS = 5
SPIKE_HISTORY_WEEKS = 4
SPIKE_SAMPLES = 3
HOUR = timedelta(hours=1)


def dashboard(now: datetime) -> dict[str, Any]:
    """Every figure of the live dashboard at ``now`` (aware), as plain dicts and lists."""
    queues, channels = _depths(now)
    volume, spikes = _volume_and_spikes(now)
    return {
        "now": now,
        "queues": queues,
        "channels": channels,
        "sla": _sla(now),
        "service_level": _service_level_today(now),
        "agents": _agents(now),
        "volume": volume,
        "spikes": spikes,
    }


def duration_text(seconds: float | None) -> str:
    """A wait or a time in state, short: ``45 s``, ``12 min``, ``3 h 05 min``."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _wait(now: datetime, since: datetime | None) -> dict[str, Any]:
    seconds = (now - since).total_seconds() if since else None
    return {"longest_wait_seconds": seconds, "longest_wait": duration_text(seconds)}


# --- Queues and channels ------------------------------------------------------------------------


def _waiting() -> Any:
    return Conversation.objects.filter(state__in=WAITING_STATES)


def _depths(now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Queue and channel depths from one GROUP BY (queue, channel), summed per queue and per channel here."""
    rows = list(
        _waiting()
        .values("queue_id", "queue__name", "channel")
        .annotate(depth=Count("id"), oldest=Min("waiting_since"))
        .order_by()
    )
    by_queue: dict[Any, dict[str, Any]] = {}
    by_channel: dict[str, dict[str, Any]] = {}
    for row in rows:
        for groups, key, first in (
            (by_queue, row["queue_id"], {"queue_id": row["queue_id"], "name": row["queue__name"] or "No queue yet"}),
            (by_channel, row["channel"], {"channel": row["channel"]}),
        ):
            group = groups.setdefault(key, {**first, "depth": 0, "oldest": None})
            group["depth"] += row["depth"]
            if row["oldest"] is not None and (group["oldest"] is None or row["oldest"] < group["oldest"]):
                group["oldest"] = row["oldest"]
    labels = dict(Channel.choices)
    queues = [
        {"queue_id": q["queue_id"], "name": q["name"], "depth": q["depth"]} | _wait(now, q["oldest"])
        for q in sorted(by_queue.values(), key=lambda q: (q["name"], q["queue_id"] is None, q["queue_id"] or 0))
    ]
    channels = [
        {"channel": c["channel"], "name": labels.get(c["channel"], c["channel"]), "depth": c["depth"]}
        | _wait(now, c["oldest"])
        for c in sorted(by_channel.values(), key=lambda c: c["channel"])
    ]
    return queues, channels


# --- SLA ------------------------------------------------------------------------------------------


def _sla(now: datetime) -> dict[str, Any]:
    open_late = Conversation.objects.filter(
        state__in=OPEN_STATES, sla_status__in=[SLAStatus.AT_RISK, SLAStatus.BREACHED]
    )
    counts = open_late.aggregate(
        at_risk=Count("id", filter=Q(sla_status=SLAStatus.AT_RISK)),
        breached=Count("id", filter=Q(sla_status=SLAStatus.BREACHED)),
    )
    due = Case(
        When(first_response_at__isnull=True, then=F("first_response_due")),
        default=F("next_response_due"),
    )
    # The ten ids first, then their rows with contact, queue and agent: joining before
    # the sort would fetch a contact for every late item (thousands on a bad day).
    order = (F("due").asc(nulls_last=True), "-priority", "id")
    ids = list(open_late.annotate(due=due).order_by(*order).values_list("pk", flat=True)[:URGENT_LIMIT])
    urgent = list(
        Conversation.objects.filter(pk__in=ids)
        .annotate(due=due)
        .select_related("contact", "queue", "assigned_agent")
        .order_by(*order)
    )
    return {**counts, "urgent": urgent}


def _service_level_today(now: datetime) -> dict[str, Any]:
    tz = timezone.get_default_timezone()
    today = timezone.localtime(now, tz).date()
    start = datetime.combine(today, time.min, tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=tz)
    in_time = Q(first_response_at__isnull=False, first_response_at__lte=F("first_response_due"))
    # Due so far today (answered or not), or due later today and already answered in time.
    eligible = Q(first_response_due__lte=now) | in_time
    figures = Conversation.objects.filter(first_response_due__gte=start, first_response_due__lt=end).aggregate(
        due=Count("id", filter=eligible),
        met=Count("id", filter=eligible & in_time),
    )
    due_count, met = figures["due"], figures["met"]
    return {"due": due_count, "met": met, "service_level": met / due_count if due_count else None}


# --- Agents ---------------------------------------------------------------------------------------


def _agents(now: datetime) -> list[dict[str, Any]]:
    # A subquery per agent over (assigned_agent, state): only the items they hold now,
    # not every conversation they ever resolved (which a join would read).
    held = (
        Conversation.objects.filter(assigned_agent_id=OuterRef("user_id"), state__in=HOLDING_STATES)
        .order_by()
        .values("assigned_agent_id")
        .annotate(weight=Sum("weight"))
        .values("weight")
    )
    profiles = (
        AgentProfile.objects.filter(user__is_active=True)
        .select_related("user")
        .annotate(load=Coalesce(Subquery(held), Value(0)))
        .order_by("user__first_name", "user__username", "id")
    )
    agents = []
    for profile in profiles:  # one row per agent, already aggregated
        seconds = (now - profile.presence_since).total_seconds()
        agents.append(
            {
                "user_id": profile.user_id,
                "name": profile.user.get_full_name() or profile.user.get_username(),
                "presence": profile.presence,
                "presence_label": profile.get_presence_display(),
                "reason": profile.presence_reason,
                "in_state_seconds": seconds,
                "in_state": duration_text(seconds),
                "load": profile.load,
                "capacity": profile.capacity,
                "occupancy": profile.load / profile.capacity,
            }
        )
    return agents


# --- Inbound volume and spikes --------------------------------------------------------------------


def _in(start: datetime, end: datetime) -> Q:
    return Q(at__gte=start, at__lt=end)


def _volume_and_spikes(now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Inbound volume and the spike alerts (see the module docstring) from one GROUP BY category.

    The last hour and the same hour of each of the previous weeks are read at once;
    the 24 hours before the last hour, the fallback baseline, only when those weeks
    captured nothing (a new installation): on a running floor that is the largest
    window, and it is not needed.
    """
    last_hour = _in(now - HOUR, now)
    last_week = _in(now - timedelta(days=7) - HOUR, now - timedelta(days=7))
    weeks = Q()
    for week in range(1, SPIKE_HISTORY_WEEKS + 1):
        weeks |= _in(now - timedelta(weeks=week) - HOUR, now - timedelta(weeks=week))
    negative = Q(conversation__sentiment=Sentiment.NEGATIVE)
    rows = _captured_by_category(
        last_hour | weeks,
        total=Count("id", filter=last_hour),
        negative=Count("id", filter=last_hour & negative),
        total_last_week=Count("id", filter=last_week),
        total_weeks=Count("id", filter=weeks),
        negative_weeks=Count("id", filter=weeks & negative),
    )
    before = sum(row["total_last_week"] for row in rows)
    volume = {
        "last_hour": sum(row["total"] for row in rows),
        "same_hour_last_week": before,
    }
    volume["change"] = (volume["last_hour"] - before) / before if before else None
    has_history = any(row["total_weeks"] for row in rows)
    if not has_history:
        day = _in(now - 25 * HOUR, now - HOUR)
        baseline = {
            row["category"]: row
            for row in _captured_by_category(
                day, total_day=Count("id", filter=day), negative_day=Count("id", filter=day & negative)
            )
        }
        for row in rows:
            row.update(baseline.get(row["category"], {"total_day": 0, "negative_day": 0}))
    return volume, _spikes(now, rows, has_history)


def spikes(now: datetime) -> list[dict[str, Any]]:
    """The spike rule at ``now``: what the dashboard shows and what ``reporting.alerts`` announces."""
    return _volume_and_spikes(now)[1]


def _captured_by_category(window: Q, **figures: Any) -> list[dict[str, Any]]:
    rows = (
        Event.objects.filter(Q(kind=EventKind.CAPTURED) & window)
        .values(category=F("conversation__category"))
        .annotate(**figures)
        .order_by("category")
    )
    return [dict(row) for row in rows]


def _spikes(now: datetime, rows: list[dict[str, Any]], has_history: bool) -> list[dict[str, Any]]:
    """Categories whose captured or negative volume in the last hour jumped (see the module docstring)."""
    basis, span = ("weeks", SPIKE_HISTORY_WEEKS) if has_history else ("day", 24)
    spikes = []
    for row in rows:  # one row per category
        figures: dict[str, Any] = dict(row)
        total_baseline = figures[f"total_{basis}"] / span
        negative_baseline = figures[f"negative_{basis}"] / span
        volume_spike = _jumped(row["total"], total_baseline)
        negative_spike = _jumped(row["negative"], negative_baseline)
        if volume_spike or negative_spike:
            spikes.append(
                {
                    "category": row["category"] or "",
                    "total": row["total"],
                    "total_baseline": total_baseline,
                    "negative": row["negative"],
                    "negative_baseline": negative_baseline,
                    "volume_spike": volume_spike,
                    "negative_spike": negative_spike,
                    "baseline": "same hour, previous 4 weeks" if has_history else "previous 24 hours",
                    "samples": [],
                }
            )
    if spikes:
        samples = _samples(now, [spike["category"] for spike in spikes])
        for spike in spikes:
            spike["samples"] = samples.get(spike["category"], [])
    return spikes


def _jumped(count: int, baseline: float) -> bool:
    return count >= SPIKE_MIN_POSTS and count >= SPIKE_FACTOR * baseline


def _samples(now: datetime, categories: list[str]) -> dict[str, list[str]]:
    """Up to ``SPIKE_SAMPLES`` posts of the last hour per category, negative ones first, newest first: one query."""
    category = F("conversation__category")
    rows = (
        Message.objects.filter(
            direction=Direction.INBOUND,
            received_at__gte=now - HOUR,
            received_at__lt=now,
            conversation__category__in=categories,
        )
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[category],
                order_by=[
                    Case(
                        When(conversation__sentiment=Sentiment.NEGATIVE, then=Value(0)),
                        default=Value(1),
                        output_field=IntegerField(),
                    ).asc(),
                    F("received_at").desc(),
                    F("id").desc(),
                ],
            )
        )
        .filter(rank__lte=SPIKE_SAMPLES)
        .order_by(category, "rank")
        .values_list("conversation__category", "text")
    )
    samples: dict[str, list[str]] = {}
    for name, text in rows:
        samples.setdefault(name, []).append(text)
    return samples
