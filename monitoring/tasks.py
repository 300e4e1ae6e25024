"""Celery tasks for capture: thin adapters around the polling actions."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from monitoring.models import ListeningQuery, SocialAccount
from monitoring.polling import claim_due, do_poll_account, do_poll_query

DATABASE_DOWN = (OperationalError, InterfaceError)
POLL_RETRIES = 10


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=60)
def schedule_due_polls() -> int:
    """Lease every source that is due and hand each to a worker."""
    accounts = claim_due(SocialAccount)
    queries = claim_due(ListeningQuery)
    for account_id in accounts:
        poll_account.delay(account_id)
    for query_id in queries:
        poll_query.delay(query_id)
    return len(accounts) + len(queries)


def _retry_while_the_database_is_down(task: Any, error: Exception) -> Exception:
    """The database went away mid-poll: try again soon, instead of leaving the source idle.

    The source is leased (``polling.LEASE``, five minutes) and nothing could record the failure, so without a
    retry it would not be polled again until the lease expires. Polling again is safe: the cursor moves only
    after the posts are stored. After ``POLL_RETRIES`` the lease's expiry takes over.
    """
    if task.request.is_eager:
        return error  # no broker to wait on: the next scheduled poll, after the lease, tries again
    return task.retry(exc=error, countdown=min(60, 2 ** (task.request.retries + 1)))


@shared_task(bind=True, ignore_result=True, soft_time_limit=240, time_limit=270, max_retries=POLL_RETRIES)
def poll_account(self: Any, account_id: int) -> None:
    try:
        do_poll_account(account_id)
    except DATABASE_DOWN as error:
        raise _retry_while_the_database_is_down(self, error) from None


@shared_task(bind=True, ignore_result=True, soft_time_limit=240, time_limit=270, max_retries=POLL_RETRIES)
def poll_query(self: Any, query_id: int) -> None:
    try:
        do_poll_query(query_id)
    except DATABASE_DOWN as error:
        raise _retry_while_the_database_is_down(self, error) from None
