"""Start Switchboard: the ASGI server, and Celery worker and beat when Redis is configured.

Embedded default (no REDIS_URL): one process; the ASGI lifespan runs the
periodic schedule in-process. With REDIS_URL: ``celery worker`` and
``celery beat`` start as child processes beside the server and stop with it,
the same processes docker-compose runs as separate services.

This is the one way the web server is started (``make run``, the Dockerfile,
docker-compose), so every deployment gets the same uvicorn options:

* **Proxy headers off** unless ``TRUSTED_PROXIES`` names the proxies: uvicorn
  would otherwise believe ``X-Forwarded-For`` from 127.0.0.1, and a client on
  the same machine (or behind a proxy that passes the header through) could
  pick its own address, and with it escape the login lockout.
* **The project's logging**: no log configuration of uvicorn's own, so its
  access and error loggers write through the handler settings.LOGGING sets up,
  which blanks query strings' values and credentials.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from contactcenter.consumers import MAX_MESSAGE_BYTES


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class Command(BaseCommand):
    help = "Run the web server (and Celery worker and beat when REDIS_URL is set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-workers", action="store_true", help="With REDIS_URL: web server only.")
        parser.add_argument(
            "--web-workers", type=int, default=1, help="Web server processes (uvicorn --workers), each WEB_THREADS."
        )

    def handle(self, *args: Any, host: str, port: int, no_workers: bool, web_workers: int, **options: Any) -> None:
        if web_workers < 1:
            raise CommandError(f"--web-workers={web_workers}: there must be at least one web server process.")
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
        proxies = ", ".join(settings.TRUSTED_PROXIES) or "none (X-Forwarded-For ignored)"
        self.stdout.write(
            f"Switchboard on http://{host}:{port}/ · database {database} · {mode} · trusted proxies: {proxies}"
        )
        try:
            uvicorn.run(
                "contactcenter.asgi:application",
                host=host,
                port=port,
                workers=web_workers,
                lifespan="on",
                # settings.LOGGING already covers uvicorn's loggers (levels included): configure nothing over it.
                log_config=None,
                log_level=None,
                proxy_headers=bool(settings.TRUSTED_PROXIES),
                forwarded_allow_ips=settings.TRUSTED_PROXIES or None,
                # Refused (1009) before it is buffered whole; each consumer checks its own bound below it (the
                # agents' socket MAX_MESSAGE_BYTES; the chat's CHAT_MAX_FRAME_BYTES, answered with an error frame
                # up to four times that, so a visitor's slightly long message keeps the socket open).
                ws_max_size=max(MAX_MESSAGE_BYTES, 4 * settings.CHAT_MAX_FRAME_BYTES),
            )
        finally:
            for child in children:
                child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
