"""What each pytest-xdist worker keeps to itself when the suite runs in parallel (``make test`` runs ``-n 2``).

Loaded as a plugin (``-p tests.parallel`` in pyproject's addopts), so this module is imported before
pytest-django reads Django's settings, in the controller and in every worker (``gw0``, ``gw1``, ...):

- SQLite and PostgreSQL test databases: pytest-django already gives each worker its own (``test_<name>_gw0``).
- Redis: worker ``gwN`` uses database ``D + N`` of ``REDIS_URL`` (database ``D``). Tests that start the
  production topology run a real Celery worker and beat on ``REDIS_URL``; sharing one database, one worker's
  Celery would take the tasks another worker's test enqueued (for rows in another database), and realtime
  events would reach another worker's sockets. The environment is rewritten, not only Django's settings,
  because those tests pass it on to the processes they start.
- Servers started once for a module (module-scoped fixtures): ``--dist loadfile`` (in the same addopts) runs
  each test file whole on one worker, so they start once, not once per worker. (``--dist loadgroup`` with
  ``xdist_group`` marks would group finer, but pytest-xdist 3.8 cannot group under pytest 9.2's node ids:
  pytest-dev/pytest-xdist#1386.)
- Ports, data folders and scratch databases are already private to a test or a process: servers listen on a
  free port the kernel picks, ``DATA_DIR`` is the test's ``tmp_path`` (each worker has its own base temp
  folder), and scratch PostgreSQL databases are named after the process id.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16
"""redis-server's default ``databases``: the highest database a worker may take is 15."""


def worker_index() -> int:
    """0 outside xdist and in worker ``gw0``; N in worker ``gwN``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw"))


def redis_url_for_worker(url: str, index: int) -> str:
    """``url`` with its database number moved up by ``index`` (``redis://host:6379/1``, worker 1: ``.../2``)."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    database = int(path) if path else 0
    if database + index >= REDIS_DATABASES:
        raise RuntimeError(
            f"REDIS_URL {url} with worker {index}: database {database + index} does not exist (0-15); "
            f"give REDIS_URL a lower database or run fewer workers (-n)"
        )
    return urlunsplit(parts._replace(path=f"/{database + index}"))


def _isolate_redis() -> None:
    url = os.environ.get("REDIS_URL")
    if url and os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["REDIS_URL"] = redis_url_for_worker(url, worker_index())


_isolate_redis()
