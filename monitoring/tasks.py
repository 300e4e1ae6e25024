"""Celery tasks for capture: thin adapters around the polling actions."""

from __future__ import annotations

from celery import shared_task

from monitoring.models import ListeningQuery, SocialAccount
from monitoring.polling import claim_due, do_poll_account, do_poll_query


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


@shared_task(ignore_result=True, soft_time_limit=240, time_limit=270)
def poll_account(account_id: int) -> None:
    do_poll_account(account_id)


@shared_task(ignore_result=True, soft_time_limit=240, time_limit=270)
def poll_query(query_id: int) -> None:
    do_poll_query(query_id)
