"""Celery tasks run in the caller (``.delay`` returns once the task has run), also when a Redis broker is configured."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from contactcenter.celery import app as celery_app

EAGER = {"task_always_eager": True, "task_eager_propagates": True}


@contextlib.contextmanager
def tasks_run_eagerly() -> Iterator[None]:
    """Undone by taking back exactly what was set, not by writing back what was read: Celery's conf reads through
    to Django's settings, so a value read during a test's settings override and written back would stay for every
    later test in the process (on Redis, the suite passed or failed by the order its tests ran in)."""
    changes = celery_app.conf.changes
    before = {key: changes[key] for key in EAGER if key in changes}
    celery_app.conf.update(EAGER)
    try:
        yield
    finally:
        for key in EAGER:
            changes.pop(key, None)
        changes.update(before)
