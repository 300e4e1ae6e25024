"""Celery tasks for reporting: thin adapters."""

from __future__ import annotations

from celery import shared_task

from reporting.alerts import do_announce_spikes
from reporting.rollup import do_roll_up


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def announce_spikes() -> int:
    """The dashboard's spike rule, evaluated every minute; each (category, hour) is announced once."""
    return len(do_announce_spikes())


@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def roll_up_ledger() -> None:
    """Sum the ended hours into the hourly rollup the reports read (reporting.rollup), every 5 minutes."""
    do_roll_up()
