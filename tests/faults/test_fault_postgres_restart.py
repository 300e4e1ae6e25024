"""Fault: PostgreSQL stops for a few seconds while the web server, a Celery worker and beat run, then comes back.

All against a private PostgreSQL cluster and Redis (never the machine's). Nothing is restarted by hand: the
health check must say 503 while the database is down and 200 once it is back, and the worker and beat must go
on capturing the sandbox's posts (beat → ``schedule_due_polls`` → worker → poll → capture) by themselves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.processes import Stack, driver, open_stack, wait_until

pytestmark = pytest.mark.faults

DOWN_FOR = 6.0


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    yield from open_stack(request, tmp_path, SANDBOX_POSTS_PER_MINUTE="120", SANDBOX_SEED="7")


def health(url: str) -> int:
    return requests.get(f"{url}/healthz", timeout=10).status_code


def captured(stack: Stack) -> int:
    return int(stack.query("SELECT count(*) FROM core_message WHERE direction = 'in'")[0][0])  # type: ignore[call-overload]


def test_web_worker_and_beat_recover_from_a_postgres_restart_without_being_restarted(stack: Stack) -> None:
    driver(stack.env, "seed-sandbox", "--interval", "5")
    web, url = stack.web()
    processes = [web, stack.worker(), stack.beat()]
    wait_until(lambda: health(url) == 200, timeout=60, what="the web server")
    wait_until(lambda: captured(stack) > 0, timeout=90, what="the first sandbox posts captured")
    pids = [p.pid for p in processes]

    assert stack.postgres is not None
    stack.postgres.stop()
    down_at = time.monotonic()
    wait_until(lambda: health(url) == 503, timeout=15, what="/healthz to report the database down")
    body = requests.get(f"{url}/healthz", timeout=10).json()
    assert body["status"] == "unavailable"
    time.sleep(max(0.0, DOWN_FOR - (time.monotonic() - down_at)))
    assert all(p.alive() for p in processes), "a database outage kills no process"
    stack.postgres.start()

    healthy_after = wait_until(lambda: health(url) == 200, timeout=30, what="/healthz to recover")
    before = captured(stack)
    captured_after = wait_until(lambda: captured(stack) > before, timeout=120, what="new posts captured again")
    assert all(p.alive() for p in processes) and [p.pid for p in processes] == pids, "no process was restarted"
    print(  # noqa: T201
        f"PostgreSQL down {DOWN_FOR:g} s; /healthz 200 again {healthy_after:.1f} s after it came back; "
        f"new posts captured {healthy_after + captured_after:.1f} s after"
    )
