"""Spike alerts: the dashboard's spike rule, evaluated periodically and announced once per (category, hour).

:func:`do_announce_spikes` runs the same rule the dashboard shows
(``reporting.dashboard.spikes``). A spike is announced when its (category,
hour) is first seen — the hour is the UTC clock hour of the evaluation — and
the ``routing.SpikeAlert`` row's unique constraint makes that exactly once,
however often the task runs and however many workers run it. Announcing means:
the ``spike.alert`` webhook, supervisors' browsers (realtime), and the
notification rules' emails, all after commit. Nothing announced carries
customer text (the dashboard's sample posts stay on the dashboard).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import realtime
from core.models import SPIKE_ALERT
from core.notifications import notify_by_rules
from core.webhooks import emit
from reporting.dashboard import spikes
from routing.models import NotificationEvent, SpikeAlert

logger = logging.getLogger(__name__)

FIGURES = ("total", "total_baseline", "negative", "negative_baseline", "volume_spike", "negative_spike", "baseline")


def spike_hour(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def do_announce_spikes(now: datetime | None = None) -> list[SpikeAlert]:
    """Announce every spike not yet announced this hour; returns the new announcements."""
    now = now or timezone.now()
    hour = spike_hour(now)
    announced = []
    for spike in spikes(now):
        figures = {key: spike[key] for key in FIGURES}
        try:
            with transaction.atomic():
                alert = SpikeAlert.objects.create(
                    category=spike["category"], hour=hour, figures=figures, created_at=now
                )
                _announce(alert)
        except IntegrityError:
            continue  # already announced this hour (by an earlier run, or a concurrent one)
        announced.append(alert)
    return announced


def spike_payload(alert: SpikeAlert) -> dict[str, Any]:
    """``{event, at, spike: {category, hour, total, total_baseline, negative, ...}}``: counts only."""
    return {
        "event": SPIKE_ALERT,
        "at": alert.created_at.isoformat(),
        "spike": {"category": alert.category, "hour": alert.hour.isoformat(), **alert.figures},
    }


def _announce(alert: SpikeAlert) -> None:
    """Inside the alert's transaction: every effect waits for its commit."""
    payload = spike_payload(alert)
    emit(SPIKE_ALERT, payload)
    notify_by_rules(NotificationEvent.SPIKE, spike=payload["spike"])
    event = {"type": "alert", "op": "spike", "category": alert.category, "hour": alert.hour.isoformat()}
    transaction.on_commit(lambda: realtime.send_event(event, [realtime.SUPERVISORS_GROUP]))
