"""`make run`'s last step, end to end: a fresh data folder, the real server, posts arriving live."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websockets

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environ.update({"DATA_DIR": str(tmp_path), "SANDBOX_POSTS_PER_MINUTE": "600", "SANDBOX_SEED": "11"})
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput", "-v0"], ["seed_demo", "--posts", "3"]):
        subprocess.run([*manage, *command], cwd=ROOT, env=environ, check=True, capture_output=True, timeout=180)
    port = free_port()
    server = subprocess.Popen(
        [*manage, "serve", "--port", str(port)], cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
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
        server.wait(timeout=20)


def log_in(url: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/login/", timeout=5).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = session.post(
        f"{url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{url}/login/"},
        timeout=5,
    )
    assert response.status_code == 200 and "The floor, live" in response.text
    return session


def test_the_embedded_server_captures_sandbox_posts_and_pushes_them_live(embedded_server: str) -> None:
    session = log_in(embedded_server, "supervisor", "switchboard-supervisor")
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())

    async def first_live_event() -> dict[str, object]:
        ws_url = embedded_server.replace("http://", "ws://") + "/ws/events/"
        async with websockets.connect(
            ws_url, additional_headers={"Cookie": cookie, "Origin": embedded_server}
        ) as socket_:
            assert json.loads(await socket_.recv())["type"] == "hello"
            return json.loads(await asyncio.wait_for(socket_.recv(), timeout=20))

    event = asyncio.run(first_live_event())
    assert event["type"] == "conversation" and event["op"] == "changed"
    live = session.get(f"{embedded_server}/live/", timeout=5).text
    assert live.count("/conversations/") > 3, "the sandbox keeps adding conversations"
