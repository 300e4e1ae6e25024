"""The websocket findings against the real server (`manage.py serve`, uvicorn), as a browser meets them:
bad frames close with a code and one log line, logout closes the open socket (through Redis in the
production topology), and another port's origin is refused at the handshake."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websockets

from tests.operations.test_serve import production_server, start_server
from tests.processes import log_in

__all__ = ["production_server"]  # a fixture of test_serve's, used here too


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: Any) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("embedded")
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    log = folder / "server.log"
    for url in start_server({**environ, "DATA_DIR": str(folder)}, log):
        yield url, log


def cookie_of(session: requests.Session) -> str:
    return "; ".join(f"{key}={value}" for key, value in session.cookies.items())


async def close_code_after(url: str, cookie: str, frame: str | bytes | None = None, then: Any = None) -> int | None:
    """Open a socket, send ``frame`` or call ``then()``, and return the code the server closes it with."""
    ws_url = url.replace("http://", "ws://") + "/ws/events/"
    async with websockets.connect(ws_url, additional_headers={"Cookie": cookie, "Origin": url}) as socket_:
        assert json.loads(await socket_.recv())["type"] == "hello"
        if frame is not None:
            await socket_.send(frame)
        if then is not None:
            await asyncio.get_running_loop().run_in_executor(None, then)
        try:
            while True:
                await asyncio.wait_for(socket_.recv(), timeout=10)  # events until the close
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


def log_after(log: Path, start: int) -> str:
    time.sleep(0.5)  # the server's log line is written as it closes
    return log.read_text(errors="replace")[start:]


@pytest.mark.parametrize(
    ("frame", "code"),
    [("not JSON", 4400), (b"\x00binary", 4400), ("[" * 100_000, 1009)],
    ids=["text-not-json", "binary", "100000-brackets"],
)
def test_the_real_server_closes_on_a_bad_frame_with_its_code_and_one_log_line(
    embedded: tuple[str, Path], frame: str | bytes, code: int
) -> None:
    url, log = embedded
    cookie = cookie_of(log_in(url, "supervisor", "switchboard-supervisor"))
    start = len(log.read_text(errors="replace"))

    assert asyncio.run(close_code_after(url, cookie, frame=frame)) == code
    written = log_after(log, start)
    assert "Traceback" not in written and "Exception" not in written, written
    assert written.count(f"closed with {code}") == 1, written


def test_logging_out_closes_the_open_socket_on_the_real_server(embedded: tuple[str, Path]) -> None:
    assert_logout_closes_the_socket(embedded[0])


def test_logging_out_closes_the_open_socket_through_redis(production_server: str) -> None:
    assert_logout_closes_the_socket(production_server)


def assert_logout_closes_the_socket(url: str) -> None:
    browser = log_in(url, "supervisor", "switchboard-supervisor")

    def log_out() -> None:
        token = browser.cookies["csrftoken"]
        response = browser.post(f"{url}/logout/", headers={"X-CSRFToken": token, "Origin": url}, timeout=5)
        assert response.status_code in (200, 302)

    assert asyncio.run(close_code_after(url, cookie_of(browser), then=log_out)) == 4401


def test_the_real_server_refuses_a_socket_from_another_port(embedded: tuple[str, Path]) -> None:
    url, _ = embedded
    cookie = cookie_of(log_in(url, "supervisor", "switchboard-supervisor"))
    other_port = url.rsplit(":", 1)[0] + ":9999"

    async def handshake() -> None:
        ws_url = url.replace("http://", "ws://") + "/ws/events/"
        async with websockets.connect(ws_url, additional_headers={"Cookie": cookie, "Origin": other_port}):
            pass

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(handshake())
    assert refused.value.response.status_code == 403
