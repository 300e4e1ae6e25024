"""Reads for routing."""

from __future__ import annotations

from routing.models import Queue


def default_queue() -> Queue | None:
    return Queue.objects.select_related("sla_policy").filter(is_default=True).first()
