"""Request bodies are bounded at the server, before they are read: one limit per kind of route.

Probe finding: a 50 MB POST to ``/webhooks/x/``, unauthenticated, was read whole into a spooled
temporary file before any view ran (and so was a chunked one), although the docs said such bodies
are refused "before they are read". The limits: webhooks 1 MiB, the API 1 MiB, everything else
(forms) 256 KiB; a declared Content-Length over the limit is answered 413 without reading the body,
and a body of undeclared length is cut off with 413 as soon as it passes the limit.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contactcenter.asgi import application
from tests.processes import ROOT
from tests.served import Served, served

# The web server's own behaviour (HTTP framing, headers, logging) is the same on either engine:
# run once, on the embedded default, to keep CI's two passes within their time.
pytestmark = pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="engine-independent: run on SQLite only")

KIB = 1024
MIB = 1024 * KIB
CHUNK = 64 * KIB


class Body:
    """An ASGI ``receive`` that sends ``total`` bytes in ``chunk``-sized messages and counts what was taken."""

    def __init__(self, total: int, chunk: int = CHUNK) -> None:
        self.total, self.chunk = total, chunk
        self.messages = 0
        self.bytes = 0

    async def __call__(self) -> dict[str, Any]:
        size = min(self.chunk, self.total - self.bytes)
        self.messages += 1
        self.bytes += size
        return {"type": "http.request", "body": b" " * size, "more_body": self.bytes < self.total}


async def call(path: str, body: Body, *, declared: int | None = None) -> tuple[int, dict[str, Any]]:
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, body, send)
    status = sent[0]["status"]
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    return status, (json.loads(payload) if status == 413 else {})


# --- The ASGI application, driven directly --------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body() -> None:
    body = Body(50 * MIB)

    status, error = await call("/webhooks/x/", body, declared=50 * MIB)

    assert status == 413 and error["code"] == "too_large"
    assert body.messages == 0 and body.bytes == 0


@pytest.mark.asyncio
async def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit() -> None:
    body = Body(50 * MIB)  # no Content-Length: its size is only known as it arrives

    status, error = await call("/webhooks/x/", body)

    assert status == 413 and error["code"] == "too_large"
    # 16 chunks of 64 KiB are exactly the 1 MiB webhook limit; the 17th passes it, and nothing after it is read.
    assert body.messages == 17 and body.bytes == 17 * CHUNK


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "limit"),
    [
        pytest.param("/webhooks/facebook/", 1 * MIB, id="webhooks"),
        pytest.param("/api/v1/conversations/", 1 * MIB, id="api"),
        pytest.param("/login/", 256 * KIB, id="forms-login"),
        pytest.param("/conversations/1/notes/", 256 * KIB, id="forms-note"),
        # The reply routes take an email reply's files: twice their 10 MiB limit more.
        pytest.param("/conversations/1/reply/", 256 * KIB + 20 * MIB, id="replies-composer"),
        pytest.param("/api/v1/conversations/1/replies/", 1 * MIB + 20 * MIB, id="replies-api"),
        pytest.param("/admin/login/", 256 * KIB, id="forms-admin"),
    ],
)
async def test_each_kind_of_route_refuses_a_body_one_byte_over_its_limit(path: str, limit: int) -> None:
    declared = Body(limit + 1)
    chunked = Body(limit + 1)

    assert (await call(path, declared, declared=limit + 1))[0] == 413
    assert (await call(path, chunked))[0] == 413
    assert declared.bytes == 0 and chunked.bytes == limit + 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "setting"),
    [
        pytest.param("/webhooks/facebook/", "MAX_BODY_BYTES_WEBHOOKS", id="webhooks"),
        pytest.param("/api/v1/conversations/", "MAX_BODY_BYTES_API", id="api"),
        pytest.param("/login/", "MAX_BODY_BYTES_FORMS", id="forms"),
    ],
)
async def test_a_body_at_its_routes_limit_is_read_whole_and_reaches_django(
    settings: Any, path: str, setting: str
) -> None:
    setattr(settings, setting, 4 * KIB)
    body = Body(4 * KIB, chunk=KIB)

    status, _ = await call(path, body)

    assert status != 413  # the view's own answer: unsigned webhook, no credentials, no CSRF token
    assert body.bytes == 4 * KIB and body.messages == 4


@pytest.mark.asyncio
async def test_the_limits_come_from_settings(settings: Any) -> None:
    settings.MAX_BODY_BYTES_WEBHOOKS = 2 * KIB
    settings.MAX_BODY_BYTES_API = 3 * KIB
    settings.MAX_BODY_BYTES_FORMS = 5 * KIB

    settings.EMAIL_REPLY_ATTACHMENT_MAX_BYTES = 7 * KIB

    answers = [
        (await call(path, Body(size + 1), declared=size + 1))[1]["message"]
        for path, size in (
            ("/webhooks/x/", 2 * KIB),
            ("/api/v1/", 3 * KIB),
            ("/inbox/", 5 * KIB),
            ("/conversations/7/reply/", 5 * KIB + 14 * KIB),
            ("/api/v1/conversations/7/replies/", 3 * KIB + 14 * KIB),
        )
    ]

    assert answers == [
        "Request body over 2048 bytes (the limit for webhooks).",
        "Request body over 3072 bytes (the limit for api).",
        "Request body over 5120 bytes (the limit for forms).",
        "Request body over 19456 bytes (the limit for replies).",
        "Request body over 17408 bytes (the limit for replies).",
    ]


def _check(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environ.update({"DATA_DIR": str(tmp_path), **variables})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def test_a_limit_below_1_kib_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    result = _check(tmp_path, MAX_BODY_BYTES_FORMS="100")

    assert result.returncode != 0
    assert "MAX_BODY_BYTES_FORMS=100 is below the minimum of 1024" in result.stderr


def test_the_old_webhook_limit_variable_stops_start_up_with_its_new_name(tmp_path: Path) -> None:
    result = _check(tmp_path, WEBHOOK_MAX_BYTES="4096")

    assert result.returncode != 0
    assert "WEBHOOK_MAX_BYTES is now MAX_BODY_BYTES_WEBHOOKS" in result.stderr


# --- The real server (manage.py serve: uvicorn), over a raw socket -------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("body-limits")) as running:
        yield running


def _connect(server: Served) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _read_response(connection: socket.socket, timeout: float) -> bytes:
    """What the server answered before ``timeout`` (all of it if it closed the connection)."""
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = connection.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not data:
            break
        received += data
        if b"\r\n\r\n" in received and b'"fields"' in received:
            break
    return received


def _temp_files(server: Served) -> dict[str, int]:
    """Files under the server's TMPDIR it has open, and their sizes (deleted ones included)."""
    files = {}
    folder = Path(f"/proc/{server.process.pid}/fd")
    for fd in os.listdir(folder):
        try:
            target = os.readlink(folder / fd)
            if target.startswith(str(server.temp)):
                files[target] = os.stat(folder / fd).st_size
        except OSError:
            continue  # closed meanwhile
    return files


def test_the_server_answers_413_to_a_large_declared_body_before_it_is_sent(server: Served) -> None:
    with _connect(server) as connection:
        connection.sendall(
            b"POST /webhooks/x/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 52428800\r\n\r\n"
        )
        started = time.monotonic()
        response = _read_response(connection, timeout=5)  # not one byte of the body sent

    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert time.monotonic() - started < 5
    assert b'"code": "too_large"' in response


def test_the_server_cuts_off_a_chunked_body_past_the_limit_without_spooling_it(server: Served) -> None:
    chunk = b"%x\r\n%s\r\n" % (CHUNK, b" " * CHUNK)
    sent = 0
    largest_temp_file = 0
    response = b""
    with _connect(server) as connection:
        connection.sendall(
            b"POST /webhooks/x/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        while sent < 50 * MIB:
            readable, _, _ = select.select([connection], [], [], 0)
            if readable:
                break  # the server has answered
            try:
                connection.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
            if sent % MIB == 0:
                largest_temp_file = max([largest_temp_file, *_temp_files(server).values()])
        response = _read_response(connection, timeout=5)

    # What the client got out before the answer: the 1 MiB limit plus what the sockets' buffers hold
    # on loopback (a few MiB), not the 50 MiB it meant to send.
    assert sent < 16 * MIB, f"{sent / MIB:.0f} MiB sent before the server answered"
    assert largest_temp_file <= 1 * MIB, f"the body was spooled to a temporary file ({largest_temp_file} bytes)"
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
