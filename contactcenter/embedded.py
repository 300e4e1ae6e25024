"""Background work for the embedded default: the beat schedule, run inside the ASGI server.

Without Redis there is no broker, so no separate worker or beat. Instead the
ASGI lifespan starts :class:`EmbeddedScheduler`, an asyncio task in the
server's own event loop that runs each periodic task when it is due, in a
worker thread. Running in the server's loop matters: realtime events the
tasks send reach the in-process channel layer that the websockets listen on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from contactcenter.celery import BEAT_SCHEDULE, app

logger = logging.getLogger(__name__)


class EmbeddedScheduler:
    def __init__(self, schedule: dict[str, dict[str, Any]]) -> None:
        self.intervals = {name: float(entry["schedule"]) for name, entry in schedule.items()}
        self.tasks = {name: str(entry["task"]) for name, entry in schedule.items()}
        self.next_run = {name: 0.0 for name in schedule}

    def due(self, now: float) -> list[str]:
        return [name for name, at in self.next_run.items() if at <= now]

    async def run_forever(self) -> None:
        # A worker imports every app's tasks module at start; do the same.
        await sync_to_async(app.loader.import_default_modules, thread_sensitive=False)()
        logger.info("embedded scheduler running %s", ", ".join(self.tasks.values()))
        while True:
            for name in self.due(time.monotonic()):
                await sync_to_async(self.run_task, thread_sensitive=False)(name)
                self.next_run[name] = time.monotonic() + self.intervals[name]
            await asyncio.sleep(0.25)

    def run_task(self, name: str) -> None:
        close_old_connections()
        try:
            app.tasks[self.tasks[name]].apply(throw=False)
        except Exception:
            logger.exception("embedded task %s failed", name)
        finally:
            close_old_connections()


class Lifespan:
    """ASGI lifespan handler: starts the embedded scheduler when there is no Redis."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if settings.EMBEDDED_WORKER:
                    self.task = asyncio.create_task(EmbeddedScheduler(BEAT_SCHEDULE).run_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.task is not None:
                    self.task.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return
