"""Celery tasks for routing: thin adapters around the routing actions."""

from __future__ import annotations

from celery import shared_task

from agents.actions import do_time_out_silent_agents
from routing.actions import do_route_queued
from routing.sla_watch import do_watch_sla


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def route_queued() -> int:
    """A routing pass: when items are queued, agents free up, and as a periodic sweep."""
    return do_route_queued().assigned


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def watch_sla() -> int:
    return do_watch_sla()


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def time_out_silent_agents() -> int:
    return len(do_time_out_silent_agents())
