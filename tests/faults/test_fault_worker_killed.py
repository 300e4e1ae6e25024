"""Fault: the Celery worker is killed (SIGKILL, the whole process group) while it posts replies.

The real topology runs in processes against private PostgreSQL and Redis servers; "Facebook" is a small HTTP
server in this test that counts every comment posted. The worker is killed from inside the fake platform at the
worst moment: right after Facebook accepted a reply and before the worker could write that down. A new worker
and the outbox's sweeps (retry of queued replies, reconciliation of stuck ones) must then get every reply to
``sent``, each posted exactly once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.processes import Stack, driver, free_port, open_stack

pytestmark = pytest.mark.faults

PAGE_ID = "501234567890123"
REPLIES = 200
KILL_AFTER = 60


class FakeGraph:
    """Just enough of the Graph API for replies: ``POST /{id}/comments`` and ``GET /{id}/comments``."""

    def __init__(self, *, delay: float) -> None:
        self.delay = delay
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.posted: list[str] = []  # the text of every comment accepted, in order
        self.lock = threading.Lock()
        self.on_post: Callable[[int], None] = lambda count: None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _parent(self) -> str | None:
                parts = urlparse(self.path).path.strip("/").split("/")
                return parts[1] if len(parts) == 3 and parts[2] == "comments" else None

            def do_POST(self) -> None:
                parent = self._parent()
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if parent is None or "message" not in form:
                    self._answer(400, {"error": {"message": "unsupported", "type": "OAuthException", "code": 100}})
                    return
                time.sleep(fake.delay)  # a platform takes a while: the worker has replies in flight
                with fake.lock:
                    comment = {
                        "id": f"{parent}_r{len(fake.posted)}",
                        "message": form["message"][0],
                        "from": {"id": PAGE_ID, "name": "Northwind"},
                        "created_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                    }
                    fake.comments.setdefault(parent, []).append(comment)
                    fake.posted.append(comment["message"])
                    count = len(fake.posted)
                fake.on_post(count)  # accepted, not yet answered: the moment a crash hurts most
                self._answer(200, {"id": comment["id"]})

            def do_GET(self) -> None:
                parent = self._parent()
                with fake.lock:
                    listed = list(reversed(fake.comments.get(parent or "", [])))  # newest first
                self._answer(200, {"data": listed, "paging": {}})

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph(delay=0.03)
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path, graph: FakeGraph) -> Iterator[Stack]:
    yield from open_stack(request, tmp_path, FAKE_GRAPH_URL=graph.url, PLATFORM_TIMEOUT_SECONDS="5")


def test_killing_the_worker_mid_posting_loses_no_reply_and_posts_none_twice(stack: Stack, graph: FakeGraph) -> None:
    driver(stack.env, "seed-replies", str(REPLIES), "--page-id", PAGE_ID)
    assert stack.query("SELECT count(*) FROM core_message WHERE direction = 'out' AND delivery = 'queued'") == [
        (REPLIES,)
    ]
    first = stack.worker("first")
    killed = threading.Event()
    killed_at: list[datetime] = []

    def kill_part_way(count: int) -> None:
        if count == KILL_AFTER and not killed.is_set():
            killed_at.append(datetime.now(UTC))
            first.kill()
            killed.set()

    graph.on_post = kill_part_way
    assert killed.wait(timeout=120), "the first worker never got 60 replies out\n" + first.tail()
    graph.on_post = lambda count: None
    posted_before_kill = len(graph.posted)
    states = dict(stack.query("SELECT delivery, count(*) FROM core_message WHERE direction = 'out' GROUP BY 1"))
    assert states.get("sending", 0) >= 1, f"the kill left a reply posted but not recorded: {states}"
    assert states.get("queued", 0) > 0, f"the kill came part-way: {states}"

    stack.worker("second")
    output = driver(stack.env, "sweep-outbox", "--killed-at", killed_at[0].isoformat(), "--timeout", "150")

    rows = stack.query(
        "SELECT text, delivery, external_id, delivery_attempts FROM core_message WHERE direction = 'out'"
    )
    assert len(rows) == REPLIES
    assert {delivery for _, delivery, _, _ in rows} == {"sent"}, "every reply ends sent"
    per_text: dict[str, int] = {}
    for text in graph.posted:
        per_text[text] = per_text.get(text, 0) + 1
    assert sorted(per_text) == sorted(text for text, _, _, _ in rows), "every reply reached Facebook"
    twice = {text: n for text, n in per_text.items() if n > 1}
    assert not twice, f"posted more than once: {twice}"
    assert len(graph.posted) == REPLIES
    ids = {comment["message"]: comment["id"] for comments in graph.comments.values() for comment in comments}
    assert all(external_id == ids[text] for text, _, external_id, _ in rows), "each stores Facebook's id"
    print(  # noqa: T201
        f"killed after {posted_before_kill} of {REPLIES} posted; {states}; sweep: {output.strip()}"
    )
