"""Celery tasks for the outbox: thin adapters around ``responses.outbox``."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from responses.outbox import RetryLater, do_post_reply, do_reconcile_stuck_replies, due_replies


@shared_task(bind=True, ignore_result=True, max_retries=None, soft_time_limit=60, time_limit=90)
def post_reply(self: Any, message_id: int) -> str:
    try:
        return do_post_reply(message_id)
    except RetryLater as later:
        if self.request.is_eager:
            return "retry"  # the embedded default has no broker to wait on; the sweeper retries
        raise self.retry(countdown=later.countdown) from None


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def reconcile_outbox() -> dict[str, int]:
    return do_reconcile_stuck_replies()


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def retry_queued_replies() -> int:
    """Queued replies whose retry time has come (or whose task was lost) are posted."""
    due = due_replies()
    for message_id in due:
        post_reply.delay(message_id)
    return len(due)
