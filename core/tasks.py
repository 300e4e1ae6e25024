"""Celery tasks for the core app: thin adapters around ``core.webhooks``."""

from __future__ import annotations

from celery import shared_task

from core.webhooks import do_deliver, due_deliveries


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=40)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt; a failed one is retried by :func:`retry_webhooks` once its back-off has passed."""
    return do_deliver(delivery_id)


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def retry_webhooks() -> int:
    """Pending deliveries whose next attempt is due (or whose task was lost) are attempted again."""
    due = due_deliveries()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
