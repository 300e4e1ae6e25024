"""Fault: Redis (broker, channel layer, cache) restarts, empty, while webhooks deliver posts through the web server.

Against private servers; the web server, a Celery worker and beat keep running throughout. "Facebook" here is the
test: it delivers Messenger messages as signed webhooks, one after another, and — as Meta does — delivers again
any that was not answered with 200. Every post is stored before the answer, and what needs Redis (the routing
request, the live event) comes after the commit and is allowed to fail: so even while Redis is down each delivery
is answered 200 (it was 500 before, for a post already stored; the retry then found a duplicate). Afterwards
routing and realtime must work again by themselves: every conversation ends assigned, and a browser connecting
after the restart hears of a new post. The worker runs under a restart policy, as in docker-compose.yml.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websockets

from tests.processes import Stack, Supervised, driver, log_in, open_stack, wait_until

pytestmark = pytest.mark.faults

APP_SECRET = "fault-app-secret"
PAGE_ID = "501234567890123"
POSTS = 90  # Ana takes up to 100 at once (the capacity limit): all can be routed to her
STOP_AFTER = 30
DOWN_FOR = 5.0
KOMBU_CRASH = "Unrecoverable error: AttributeError(\"'NoneType' object has no attribute 'hostname'\")"
PACE = 0.15  # seconds between deliveries: about a third of them while Redis is down


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    yield from open_stack(request, tmp_path, FACEBOOK_APP_SECRET=APP_SECRET)


def messenger_delivery(index: int) -> bytes:
    now_ms = int(time.time() * 1000)
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "time": now_ms,
                    "messaging": [
                        {
                            "sender": {"id": f"65432100{index:05d}"},
                            "recipient": {"id": PAGE_ID},
                            "timestamp": now_ms,
                            "message": {"mid": f"m_fault_{index:05d}", "text": f"My router is down ({index})"},
                        }
                    ],
                }
            ],
        }
    ).encode()


class Platform:
    """Delivers each webhook until it is answered 200, as Meta retries failed deliveries."""

    def __init__(self, url: str) -> None:
        self.url = f"{url}/webhooks/facebook/"
        self.answers: list[int | str] = []

    def deliver(self, index: int, *, deadline: float = 60) -> int:
        body = messenger_delivery(index)
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        attempts = 0
        give_up = time.monotonic() + deadline
        while time.monotonic() < give_up:
            attempts += 1
            try:
                status = requests.post(self.url, data=body, headers=headers, timeout=15).status_code
            except requests.RequestException as error:
                self.answers.append(type(error).__name__)
            else:
                self.answers.append(status)
                if status == 200:
                    return attempts
            time.sleep(0.5)
        raise AssertionError(f"delivery {index} was never accepted: {self.answers[-5:]}")


def count(stack: Stack, sql: str) -> int:
    return int(stack.query(sql)[0][0])  # type: ignore[call-overload]


def test_a_redis_restart_during_webhook_ingestion_loses_no_post_and_routing_and_realtime_resume(stack: Stack) -> None:
    driver(stack.env, "seed-sandbox", "--interval", "0", "--facebook-page", PAGE_ID)
    web, url = stack.web()
    worker = stack.worker(supervised=True)
    stack_beat = stack.beat()
    processes = [web, worker, stack_beat]
    wait_until(lambda: requests.get(f"{url}/healthz", timeout=5).status_code == 200, timeout=60, what="the web server")
    platform = Platform(url)
    pids = [p.pid for p in processes]

    retried = during_outage = after_restart = 0
    restarted = False
    for index in range(POSTS):
        if index == STOP_AFTER:
            stack.redis.stop()
            stopped_at = time.monotonic()
        if index > STOP_AFTER and stack.redis.process is None and time.monotonic() - stopped_at >= DOWN_FOR:
            stack.redis.start()  # the same port, empty: every queued task and group membership is gone
            restarted = True
        during_outage += stack.redis.process is None
        after_restart += restarted
        retried += platform.deliver(index) - 1
        time.sleep(PACE)
    if stack.redis.process is None:
        stack.redis.start()

    errors = [answer for answer in platform.answers if answer != 200]
    stored = count(stack, "SELECT count(*) FROM core_message WHERE direction = 'in'")
    distinct = count(stack, "SELECT count(DISTINCT external_id) FROM core_message WHERE direction = 'in'")
    assert (stored, distinct) == (POSTS, POSTS), "every post accepted with a 200 is stored, and once"
    assert during_outage >= 10, f"only {during_outage} deliveries while Redis was down"
    assert after_restart >= 10, f"only {after_restart} deliveries after Redis came back"
    assert not errors, "a stored post is answered 200 even while Redis is down"

    # Routing resumes: tasks lost with Redis are made up by beat's routing sweep; every conversation gets Ana.
    wait_until(
        lambda: count(stack, "SELECT count(*) FROM core_conversation WHERE state = 'assigned'") == POSTS,
        timeout=90,
        what="every conversation routed",
    )

    # Realtime resumes: a browser connecting now hears of a new post at once.
    session = log_in(url, "supervisor", "switchboard-supervisor")
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())

    async def hear_of_a_new_post() -> dict[str, object]:
        ws_url = url.replace("http://", "ws://") + "/ws/events/"
        async with websockets.connect(ws_url, additional_headers={"Cookie": cookie, "Origin": url}) as socket_:
            assert json.loads(await asyncio.wait_for(socket_.recv(), timeout=10))["type"] == "hello"
            await asyncio.to_thread(platform.deliver, POSTS)
            return json.loads(await asyncio.wait_for(socket_.recv(), timeout=20))

    event = asyncio.run(hear_of_a_new_post())
    assert event["type"] == "conversations"
    assert all(p.alive() for p in processes), "every process is running"
    assert [p.pid for p in (web, stack_beat)] == pids[::2], "the web server and beat were never restarted"
    # The worker, like every service in docker-compose.yml, runs under a restart policy (here Supervised). In about
    # one run in four the connection drops while it holds an unacknowledged task (acks_late); kombu 5.7's Redis
    # transport then fails to restore it to the unreachable broker, and the worker stops with "Unrecoverable
    # error" (celery/celery#8030, celery/kombu#582). The policy starts it again; that crash is the only exit allowed.
    assert isinstance(worker, Supervised)
    worker_log = worker.log.read_text(errors="replace")
    assert worker.restarts == 0 or KOMBU_CRASH in worker_log, "the worker exited for an unknown reason"
    print(  # noqa: T201
        f"{POSTS} posts, Redis down {DOWN_FOR:g} s after {STOP_AFTER} ({during_outage} delivered meanwhile, "
        f"{after_restart} after): "
        f"{len(errors)} answered with an error, {retried} retries; all stored once, all routed; "
        f"worker restarted {worker.restarts} time(s) by its restart policy"
    )
