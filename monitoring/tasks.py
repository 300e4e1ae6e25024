"""Celery tasks for capture: thin adapters around the pipeline."""

from __future__ import annotations

import math
import random

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from monitoring.pipeline import ingest
from monitoring.queries import open_sandbox_threads
from monitoring.sandbox import SandboxSource

SANDBOX_INTERVAL_SECONDS = 5.0

_source: SandboxSource | None = None


def _sandbox() -> SandboxSource:
    global _source
    if _source is None:
        _source = SandboxSource(settings.SANDBOX_SEED or None)
    return _source


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=60)
def poll_sandbox() -> int:
    """Produce this interval's share of the sandbox's posts and capture them.

    The expected number per interval is fractional at low rates; the integer
    part is always produced and the rest with matching probability, so the
    long-run rate is exactly ``SANDBOX_POSTS_PER_MINUTE``.
    """
    if not settings.SANDBOX_ENABLED or settings.SANDBOX_POSTS_PER_MINUTE == 0:
        return 0
    expected = settings.SANDBOX_POSTS_PER_MINUTE * SANDBOX_INTERVAL_SECONDS / 60
    count = math.floor(expected) + (1 if random.random() < expected - math.floor(expected) else 0)
    if count == 0:
        return 0
    posts = _sandbox().posts(count, now=timezone.now(), open_threads=open_sandbox_threads())
    return ingest(posts).stored
