"""Celery tasks for routing: thin adapters around the routing actions."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from agents.actions import do_time_out_silent_agents
from routing.actions import do_route_queued
from routing.notifications import do_send_notification_email, do_send_rule_notifications
from routing.offers import do_expire_offers
from routing.sla_watch import do_watch_sla

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def route_queued() -> int:
    """A routing pass: when items are queued, agents free up, and as a periodic sweep."""
    return do_route_queued().assigned


@shared_task(ignore_result=True, soft_time_limit=10, time_limit=15)
def expire_offers() -> int:
    """Offers that rang out go to the next agent; every few seconds, so an offer rings about its time."""
    return do_expire_offers()


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def watch_sla() -> int:
    return do_watch_sla()


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def time_out_silent_agents() -> int:
    return len(do_time_out_silent_agents())


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def send_rule_notifications(
    event: str, conversation_id: int | None = None, reason: str = "", spike: dict[str, Any] | None = None
) -> int:
    return do_send_rule_notifications(event, conversation_id, reason, spike)


EMAIL_MAX_RETRIES = 5
EMAIL_BACKOFF_SECONDS = 60


@shared_task(bind=True, ignore_result=True, max_retries=EMAIL_MAX_RETRIES, soft_time_limit=30, time_limit=40)
def send_notification_email(self: Task, address: str, subject: str, body: str) -> str:
    """One email; a failing mail server is logged and retried after 1, 2, 4, 8, 16 minutes, then given up."""
    try:
        do_send_notification_email(address, subject, body)
    except Exception as exc:
        if self.request.retries >= EMAIL_MAX_RETRIES:
            logger.error("notification email to %s given up after %d retries: %s", address, self.request.retries, exc)
            return "failed"
        logger.warning("notification email to %s failed (%s); retrying", address, exc)
        raise self.retry(exc=exc, countdown=EMAIL_BACKOFF_SECONDS * 2**self.request.retries) from exc
    return "sent"
