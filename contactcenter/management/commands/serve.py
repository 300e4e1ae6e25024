"""Start Switchboard: the ASGI server, and Celery worker and beat when Redis is configured.

Embedded default (no REDIS_URL): one process; the ASGI lifespan runs the
periodic schedule in-process. With REDIS_URL: ``celery worker`` and
``celery beat`` start as child processes beside the server and stop with it,
the same processes docker-compose runs as separate services.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from contactcenter.consumers import MAX_MESSAGE_BYTES


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class Command(BaseCommand):
    help = "Run the web server (and Celery worker and beat when REDIS_URL is set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-workers", action="store_true", help="With REDIS_URL: web server only.")

    def handle(self, *args: Any, host: str, port: int, no_workers: bool, **options: Any) -> None:
        # Until uvicorn installs its own handlers, SIGTERM must still unwind
        # through the finally below, or the worker and beat would be orphaned.
        signal.signal(signal.SIGTERM, _exit)
        children: list[subprocess.Popen[bytes]] = []
        if not settings.EMBEDDED_WORKER and not no_workers:
            celery = [sys.executable, "-m", "celery", "-A", "contactcenter"]
            children.append(subprocess.Popen([*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"]))
            children.append(subprocess.Popen([*celery, "beat", "--loglevel", "INFO"]))
        mode = "embedded (in-process background work)" if settings.EMBEDDED_WORKER else "Redis + Celery worker and beat"
        database = str(settings.DATABASES["default"]["ENGINE"]).rsplit(".", 1)[-1]
        self.stdout.write(f"Switchboard on http://{host}:{port}/ · database {database} · {mode}")
        try:
            uvicorn.run(
                "contactcenter.asgi:application",
                host=host,
                port=port,
                lifespan="on",
                log_level="info",
                # Refused (1009) before it is buffered whole; the consumer checks the same bound.
                ws_max_size=MAX_MESSAGE_BYTES,
            )
        finally:
            for child in children:
                child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
