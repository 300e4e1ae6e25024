"""The embedded default runs the periodic schedule inside the ASGI server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from contactcenter.celery import BEAT_SCHEDULE
from contactcenter.embedded import EmbeddedScheduler, Lifespan


def test_every_scheduled_entry_is_due_at_start_then_after_its_interval() -> None:
    scheduler = EmbeddedScheduler({"a": {"task": "x", "schedule": 5.0}, "b": {"task": "y", "schedule": 60}})
    assert scheduler.due(0.0) == ["a", "b"]
    scheduler.next_run = {"a": 5.0, "b": 60.0}
    assert scheduler.due(4.9) == [] and scheduler.due(5.0) == ["a"]


def test_the_schedule_names_registered_tasks() -> None:
    from contactcenter.celery import app

    app.loader.import_default_modules()
    for entry in BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks


async def run_lifespan(settings: Any, embedded: bool) -> Lifespan:
    settings.EMBEDDED_WORKER = embedded
    lifespan = Lifespan()
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: list[dict[str, str]] = []
    for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
        inbox.put_nowait(message)

    async def send(message: dict[str, str]) -> None:
        outbox.append(message)

    await lifespan({"type": "lifespan"}, inbox.get, send)
    assert [m["type"] for m in outbox] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    return lifespan


@pytest.mark.asyncio
async def test_lifespan_starts_the_scheduler_only_without_redis(settings: Any) -> None:
    assert (await run_lifespan(settings, embedded=True)).task is not None
    assert (await run_lifespan(settings, embedded=False)).task is None
