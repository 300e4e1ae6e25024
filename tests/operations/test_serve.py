"""`make run`'s last step, end to end: a fresh data folder, the real server, posts arriving live."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websockets

from tests.processes import ROOT, free_port, log_in, run_sql


def start_server(environ: dict[str, str], log: Path) -> Iterator[str]:
    """Migrate, seed and serve with ``environ``; yield the base URL once healthy; stop it after."""
    environ = {**environ, "SANDBOX_POSTS_PER_MINUTE": "600", "SANDBOX_SEED": "11", "SANDBOX_ENABLED": "true"}
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput", "-v0"], ["seed_demo", "--posts", "3", "--force"]):
        subprocess.run([*manage, *command], cwd=ROOT, env=environ, check=True, capture_output=True, timeout=180)
    port = free_port()
    log_file = log.open("wb")
    server = subprocess.Popen(
        [*manage, "serve", "--port", str(port)],
        cwd=ROOT,
        env=environ,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so teardown can stop every child
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)  # anything left of the group
        log_file.close()
        print(log.read_text(errors="replace")[-5000:])  # noqa: T201 - pytest shows it when the test fails


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    yield from start_server({**environ, "DATA_DIR": str(tmp_path)}, tmp_path / "server.log")


@pytest.fixture
def production_server(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL, Redis, Celery worker and beat: the docker-compose topology, in processes."""
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        pytest.skip("needs DATABASE_URL and REDIS_URL")
    database_url = os.environ["DATABASE_URL"]
    base, _, name = database_url.rpartition("/")
    scratch = f"{name}_serve_{os.getpid()}"
    run_sql(base, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)', f'CREATE DATABASE "{scratch}"')
    try:
        environ = {**os.environ, "DATA_DIR": str(tmp_path), "DATABASE_URL": f"{base}/{scratch}"}
        yield from start_server(environ, tmp_path / "server.log")
    finally:
        run_sql(base, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def assert_posts_arrive_live(url: str) -> None:
    session = log_in(url, "supervisor", "switchboard-supervisor")
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())

    async def first_live_event() -> dict[str, object]:
        ws_url = url.replace("http://", "ws://") + "/ws/events/"
        async with websockets.connect(ws_url, additional_headers={"Cookie": cookie, "Origin": url}) as socket_:
            assert json.loads(await socket_.recv())["type"] == "hello"
            return json.loads(await asyncio.wait_for(socket_.recv(), timeout=20))

    event = asyncio.run(first_live_event())
    assert event["type"] == "conversations" and event["op"] == "changed" and event["ids"]
    live = session.get(f"{url}/live/", timeout=5).text
    assert live.count("/conversations/") > 3, "the sandbox keeps adding conversations"


def test_the_embedded_server_captures_sandbox_posts_and_pushes_them_live(embedded_server: str) -> None:
    assert_posts_arrive_live(embedded_server)


def test_the_production_topology_captures_through_celery_and_pushes_through_redis(production_server: str) -> None:
    assert_posts_arrive_live(production_server)
