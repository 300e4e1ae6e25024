"""The ledger: one append-only row per thing that happened, the source of every KPI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User

from core.models import Conversation, Event


def record_event(
    kind: str,
    *,
    at: datetime,
    conversation: Conversation | None = None,
    agent: User | None = None,
    value_seconds: float | None = None,
    value: float | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Append one ledger row. The ledger is never updated or deleted."""
    return Event.objects.create(
        kind=kind,
        at=at,
        conversation=conversation,
        agent=agent,
        channel=conversation.channel if conversation else "",
        queue_id=conversation.queue_id if conversation else None,
        value_seconds=value_seconds,
        value=value,
        data=data or {},
    )
