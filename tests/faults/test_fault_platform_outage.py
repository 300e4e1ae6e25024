"""Fault: a platform that answers 503 or times out for ten minutes, then recovers.

In-process and quick (``make test`` runs it): the real tasks (beat's ``schedule_due_polls`` every 5 s, the
outbox's ``retry_queued_replies`` sweep every 30 s) and the real X connector (tweepy over requests) against
mocked X HTTP, with the clock moved by time-machine. What is checked is that a failing source is retried on a
back-off (a number of calls that grows with the log of the outage, not with its length), that its failures do
not hold up other accounts nor make many failing sources return at one instant, and that the first success
resets the back-off and captures the backlog.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import time_machine
from django.utils import timezone
from requests_mock import Mocker

from core.actions import do_record_reply
from core.models import ConversationState as S
from core.models import Delivery, Message
from monitoring.credentials import encrypt
from monitoring.models import SocialAccount
from monitoring.tasks import schedule_due_polls
from responses.outbox import do_post_reply
from responses.tasks import post_reply, retry_queued_replies
from routing.models import Queue
from tests.states import conversation_in_state

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
API = "https://api.twitter.com"  # tweepy's fixed host
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OUTAGE = timedelta(minutes=10)
INTERVAL = 60
X_CREDENTIALS = {
    "bearer_token": "bearer-abc",
    "consumer_key": "ck-def",
    "consumer_secret": "cs-ghi",
    "access_token": "at-jkl",
    "access_token_secret": "ats-mno",
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class FlakyX:
    """X during an outage: until ``recovers_at`` every call alternates a 503 and a read timeout."""

    def __init__(self, recovers_at: datetime, healthy: Any) -> None:
        self.recovers_at = recovers_at
        self.healthy = healthy
        self.failed = 0
        self.succeeded = 0

    def __call__(self, request: Any, context: Any) -> str:
        if timezone.now() < self.recovers_at:
            self.failed += 1
            if self.failed % 2 == 0:
                raise requests.exceptions.ReadTimeout("read timed out")
            context.status_code = 503
            context.headers["Content-Type"] = "application/json"
            return json.dumps(fixture("x/service_unavailable_503.json"))
        self.succeeded += 1
        context.headers["Content-Type"] = "application/json"
        body, status = self.healthy(request)
        context.status_code = status
        return json.dumps(body)


def backlog(request: Any) -> tuple[Any, int]:
    """The mentions written during the outage: two pages."""
    page = (
        "x/mentions_page2.json"
        if "pagination_token" in parse_qs(urlsplit(request.url).query)
        else "x/mentions_page1.json"
    )
    return fixture(page), 200


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def accounts(clock: time_machine.Traveller, queue: Queue) -> list[SocialAccount]:
    """Northwind's X account (the one that fails), a healthy one, and ten more that fail together."""
    return [
        SocialAccount.objects.create(
            platform="x",
            external_id=external_id,
            name=f"Account {external_id}",
            poll_interval_seconds=INTERVAL,
            credentials_encrypted=encrypt({"bearer_token": "bearer-abc"}),  # mentions only, no DMs
        )
        for external_id in ["4400100", "4400200", *(f"44003{n:02d}" for n in range(10))]
    ]


def test_a_ten_minute_outage_is_polled_on_a_back_off_other_accounts_go_on_and_the_first_success_catches_up(
    accounts: list[SocialAccount], requests_mock: Mocker, clock: time_machine.Traveller, eager_tasks: None
) -> None:
    random.seed(8)  # the jitter, repeatable
    failing = FlakyX(NOW + OUTAGE, backlog)
    others = FlakyX(NOW + OUTAGE, lambda request: (fixture("x/empty.json"), 200))
    requests_mock.get(f"{API}/2/users/4400100/mentions", text=failing)
    requests_mock.get(f"{API}/2/users/4400200/mentions", json=fixture("x/empty.json"))
    for account in accounts[2:]:
        requests_mock.get(f"{API}/2/users/{account.external_id}/mentions", text=others)

    healthy_polls = 0
    first_retries: list[datetime] = []
    for tick in range(0, int(OUTAGE.total_seconds()), 5):  # beat's schedule: every 5 s
        clock.move_to(NOW + timedelta(seconds=tick))
        before = requests_mock.call_count
        schedule_due_polls()
        healthy_polls += sum(1 for r in requests_mock.request_history[before:] if "/users/4400200/" in r.url)
        if tick == 0:
            first_retries = list(
                SocialAccount.objects.filter(pk__in=[a.pk for a in accounts[2:]]).values_list("next_poll_at", flat=True)
            )

    # Without back-off the account would be called every minute (10 times), or on every tick (120 times).
    bound = 1 + math.ceil(math.log2(OUTAGE.total_seconds() / INTERVAL + 1))
    print(f"polls of the failing account in the outage: {failing.failed} (bound {bound}); healthy: {healthy_polls}")  # noqa: T201
    assert 2 <= failing.failed <= bound, f"{failing.failed} calls in ten minutes of outage"
    assert failing.succeeded == 0
    account = SocialAccount.objects.get(external_id="4400100")
    assert account.consecutive_failures == failing.failed
    assert account.enabled, "a temporary outage never disables an account"
    assert healthy_polls >= 9, "the healthy account is polled every minute throughout"
    assert others.failed <= 10 * bound
    spread = max(first_retries) - min(first_retries)
    assert len(set(first_retries)) == 10 and spread >= timedelta(seconds=0.1 * 2 * INTERVAL), (
        "sources failing together come back at different times (jitter), not in one stampede"
    )

    # X is back: the next due poll succeeds at once and reads the whole backlog.
    deadline = NOW + OUTAGE + timedelta(hours=1)
    while failing.succeeded == 0:
        assert timezone.now() < deadline, "never polled again after the outage"
        clock.shift(5)
        schedule_due_polls()
    recovered_at = timezone.now()
    assert recovered_at - (NOW + OUTAGE) <= timedelta(seconds=INTERVAL * 2 ** min(failing.failed, 10) * 1.2 + 5)
    account.refresh_from_db()
    assert (account.consecutive_failures, account.last_error) == (0, "")
    assert account.next_poll_at == recovered_at + timedelta(seconds=INTERVAL), "back to the normal interval"
    stored = Counter(Message.objects.filter(account=account).values_list("external_id", flat=True))
    expected = [t["id"] for page in ("x/mentions_page1.json", "x/mentions_page2.json") for t in fixture(page)["data"]]
    assert stored == Counter(expected), "the backlog is captured, each post once"


def test_replies_during_a_ten_minute_outage_are_retried_on_a_back_off_and_posted_once_when_it_ends(
    accounts: list[SocialAccount],
    requests_mock: Mocker,
    clock: time_machine.Traveller,
    make_post: Any,
    queue: Queue,
    agent: Any,
    eager_tasks: None,
    settings: Any,
) -> None:
    SocialAccount.objects.filter(pk=accounts[0].pk).update(credentials_encrypted=encrypt(X_CREDENTIALS))
    post = make_post(external_id="1861000000000000101")
    conversation = conversation_in_state(S.ASSIGNED, replace(post, account_id=accounts[0].pk), queue=queue, agent=agent)
    x = FlakyX(NOW + OUTAGE, lambda request: (fixture("x/create_tweet_201.json"), 201))
    requests_mock.post(f"{API}/2/tweets", text=x)
    reply = do_record_reply(conversation, agent, "@danaw Sorry Dana, an engineer is on the way. ^Ana")
    assert post_reply.apply(args=(reply.pk,)).get() == "retry"

    for tick in range(30, int(OUTAGE.total_seconds()), 30):  # the retry sweep: every 30 s
        clock.move_to(NOW + timedelta(seconds=tick))
        retry_queued_replies()
        assert do_post_reply(reply.pk) == "skipped", "nothing is posted before its retry time"

    # Doubling from 10 s: a ten-minute outage costs about log2(600 / 10) attempts, not one per sweep (20).
    bound = 1 + math.ceil(math.log2(OUTAGE.total_seconds() / 10))
    print(f"reply attempts in the outage: {x.failed} (bound {bound})")  # noqa: T201
    assert 4 <= x.failed <= bound, f"{x.failed} attempts in ten minutes"
    reply.refresh_from_db()
    assert reply.delivery == Delivery.QUEUED and reply.delivery_attempts == x.failed
    assert reply.delivery_attempts < settings.OUTBOX_MAX_ATTEMPTS, "a ten-minute outage does not fail the reply"

    deadline = NOW + OUTAGE + timedelta(hours=1)
    while x.succeeded == 0:
        assert timezone.now() < deadline
        clock.shift(30)
        retry_queued_replies()
    reply.refresh_from_db()
    assert (reply.delivery, reply.external_id) == (Delivery.SENT, fixture("x/create_tweet_201.json")["data"]["id"])
    assert x.succeeded == 1, "posted once"
    clock.shift(3600)
    retry_queued_replies()
    assert x.succeeded == 1 and x.failed == reply.delivery_attempts - 1
