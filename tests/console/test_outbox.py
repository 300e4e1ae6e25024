"""The outbox: a reply reaches the platform exactly once, whatever fails on the way.

Replies are stored by the same actions the console uses, then posted through
the real connectors (tweepy, facebook-sdk) against mocked X and Graph HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from requests_mock import Mocker

from core.actions import do_record_reply
from core.models import Conversation, Delivery, Event, EventKind, Message
from core.models import ConversationState as S
from monitoring.credentials import encrypt
from monitoring.models import SocialAccount
from responses import outbox
from responses.actions import do_send_reply
from responses.outbox import STUCK_AFTER, RetryLater, do_post_reply, do_reconcile_stuck_replies, due_replies
from responses.tasks import post_reply, retry_queued_replies
from routing.models import Queue
from tests.states import conversation_in_state

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NOW = datetime(2026, 11, 20, 10, 45, tzinfo=UTC)

API = "https://api.twitter.com"  # tweepy's fixed host
X_ACCOUNT_ID = "4400100"
TWEET_ID = "1861000000000000101"  # Dana's tweet, which our reply answers
POSTED_ID = "1861000000000000999"  # the id X gives our reply (create_tweet_201.json)
CREATE_TWEET_URL = f"{API}/2/tweets"
OWN_TWEETS_URL = f"{API}/2/users/{X_ACCOUNT_ID}/tweets"
REPLY = "@danaw Sorry Dana, an engineer is on the way. Your case is 55821. ^Ana"
X_CREDENTIALS = {
    "bearer_token": "bearer-abc",
    "consumer_key": "ck-def",
    "consumer_secret": "cs-ghi",
    "access_token": "at-jkl",
    "access_token_secret": "ats-mno",
}

PAGE_ID = "501234567890123"
PSID = "6543210987654321"
MESSENGER_URL = f"https://graph.facebook.com/v21.0/{PAGE_ID}/messages"


class WorkerDied(Exception):
    """The worker process is killed: nothing after this point runs."""


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def answer(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"json": body, "status_code": status, "headers": {"Content-Type": "application/json", **(headers or {})}}


CREATED = answer(fixture("x/create_tweet_201.json"), status=201)
SERVER_ERROR = answer(fixture("x/service_unavailable_503.json"), status=503)


def posts_to(requests_mock: Mocker, url: str) -> list[Any]:
    return [r for r in requests_mock.request_history if r.method == "POST" and r.url == url]


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def x_account(db: None) -> SocialAccount:
    return SocialAccount.objects.create(
        platform="x",
        external_id=X_ACCOUNT_ID,
        name="Northwind Help",
        handle="northwind_help",
        credentials_encrypted=encrypt(X_CREDENTIALS),
    )


@pytest.fixture
def x_conversation(
    clock: time_machine.Traveller, x_account: SocialAccount, make_post: Any, queue: Queue, agent: Any
) -> Conversation:
    """Dana's tweet, captured by the X account and assigned to Ana."""
    post = replace(make_post(external_id=TWEET_ID), account_id=x_account.pk)
    return conversation_in_state(S.ASSIGNED, post, queue=queue, agent=agent)


@pytest.fixture
def die_once_after_posting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The worker dies after the platform accepted the reply and before the database heard of it.

    Returns the platform ids the dead worker never wrote down.
    """
    lost: list[str] = []
    record_sent = outbox._sent

    def crash_once(message: Message, external_id: str) -> None:
        if not lost:
            lost.append(external_id)
            raise WorkerDied
        record_sent(message, external_id)

    monkeypatch.setattr(outbox, "_sent", crash_once)
    return lost


def own_tweets(*tweets: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(tweets), "meta": {"result_count": len(tweets)}}


def our_reply_on_x(*, created_at: datetime) -> dict[str, Any]:
    """Our reply as X lists it among the account's tweets."""
    return {
        "id": POSTED_ID,
        "text": REPLY,
        "edit_history_tweet_ids": [POSTED_ID],
        "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "referenced_tweets": [{"type": "replied_to", "id": TWEET_ID}],
    }


def ledger(conversation: Conversation, kind: str) -> list[Event]:
    return list(Event.objects.filter(conversation=conversation, kind=kind))


def reload(message: Message) -> Message:
    message.refresh_from_db()
    return message


# --- Success ---------------------------------------------------------------------------------


def test_a_reply_is_posted_once_in_answer_to_the_customers_tweet_and_its_id_stored(
    requests_mock: Mocker, x_conversation: Conversation, agent: Any
) -> None:
    requests_mock.post(CREATE_TWEET_URL, [CREATED])
    reply = do_record_reply(x_conversation, agent, REPLY)
    assert (reply.delivery, reply.external_id, reply.posted_at) == ("queued", None, None)

    assert do_post_reply(reply.pk) == "sent"

    reply = reload(reply)
    assert (reply.delivery, reply.external_id, reply.posted_at) == ("sent", POSTED_ID, NOW)
    assert (reply.delivery_attempts, reply.delivery_error, reply.text) == (1, "", REPLY)
    (request,) = requests_mock.request_history
    assert request.json() == {"text": REPLY, "reply": {"in_reply_to_tweet_id": TWEET_ID}}


def test_sending_from_the_composer_posts_the_reply_after_the_commit(
    requests_mock: Mocker,
    x_conversation: Conversation,
    agent: Any,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    requests_mock.post(CREATE_TWEET_URL, [CREATED])

    with django_capture_on_commit_callbacks(execute=True):
        reply = do_send_reply(x_conversation, agent, REPLY)
        assert requests_mock.call_count == 0, "nothing is posted while the transaction is open"

    assert (reload(reply).delivery, reply.external_id) == ("sent", POSTED_ID)
    assert requests_mock.call_count == 1


# --- Duplicate deliveries --------------------------------------------------------------------


def test_a_task_delivered_twice_posts_once(requests_mock: Mocker, x_conversation: Conversation, agent: Any) -> None:
    requests_mock.post(CREATE_TWEET_URL, [CREATED, CREATED])
    reply = do_record_reply(x_conversation, agent, REPLY)

    assert post_reply.apply(args=(reply.pk,)).get() == "sent"
    assert post_reply.apply(args=(reply.pk,)).get() == "skipped"
    assert do_post_reply(reply.pk) == "skipped"

    assert len(posts_to(requests_mock, CREATE_TWEET_URL)) == 1
    assert (reload(reply).delivery, reply.external_id, reply.delivery_attempts) == ("sent", POSTED_ID, 1)


def test_a_second_worker_arriving_while_the_first_is_posting_posts_nothing(
    requests_mock: Mocker, x_conversation: Conversation, agent: Any
) -> None:
    reply = do_record_reply(x_conversation, agent, REPLY)
    second_worker: list[str] = []

    def x_accepts_while_another_worker_tries(request: Any, context: Any) -> Any:
        # The first worker holds the reply in "sending" while X answers.
        second_worker.append(do_post_reply(reply.pk))
        context.status_code = 201
        return fixture("x/create_tweet_201.json")

    requests_mock.post(CREATE_TWEET_URL, json=x_accepts_while_another_worker_tries)

    assert do_post_reply(reply.pk) == "sent"

    assert second_worker == ["skipped"]
    assert requests_mock.call_count == 1
    assert reload(reply).delivery == "sent"


# --- Temporary failures ----------------------------------------------------------------------


def test_temporary_failures_keep_the_reply_queued_until_a_later_attempt_posts_it(
    requests_mock: Mocker, clock: time_machine.Traveller, x_conversation: Conversation, agent: Any
) -> None:
    reset = NOW + timedelta(minutes=15)
    rate_limited = answer(
        fixture("x/rate_limited_429.json"), status=429, headers={"x-rate-limit-reset": str(int(reset.timestamp()))}
    )
    requests_mock.post(CREATE_TWEET_URL, [SERVER_ERROR, rate_limited, CREATED])
    reply = do_record_reply(x_conversation, agent, REPLY)

    with pytest.raises(RetryLater) as later:
        do_post_reply(reply.pk)
    reply = reload(reply)
    assert (reply.delivery, reply.external_id, reply.sending_since) == ("queued", None, None)
    assert reply.retry_at == NOW + timedelta(seconds=later.value.countdown)
    assert "503" in reply.delivery_error
    assert do_post_reply(reply.pk) == "skipped", "not before its retry time"

    second_attempt_at = reply.retry_at
    clock.move_to(second_attempt_at)
    with pytest.raises(RetryLater) as later:
        do_post_reply(reply.pk)
    reply = reload(reply)
    assert reply.delivery == "queued"
    assert reply.retry_at == reset, "X said when its rate limit resets"
    assert later.value.countdown == pytest.approx((reset - second_attempt_at).total_seconds())
    assert "429" in reply.delivery_error

    clock.move_to(reset)
    assert do_post_reply(reply.pk) == "sent"
    reply = reload(reply)
    assert (reply.delivery, reply.external_id, reply.delivery_attempts) == ("sent", POSTED_ID, 3)
    assert reply.delivery_error == ""
    assert requests_mock.call_count == 3
    assert not ledger(x_conversation, EventKind.REPLY_FAILED)


def test_the_task_leaves_a_temporary_failure_to_the_sweeper_which_posts_it_when_due(
    requests_mock: Mocker, clock: time_machine.Traveller, x_conversation: Conversation, agent: Any, eager_tasks: None
) -> None:
    requests_mock.post(CREATE_TWEET_URL, [SERVER_ERROR, CREATED])
    reply = do_record_reply(x_conversation, agent, REPLY)

    assert post_reply.apply(args=(reply.pk,)).get() == "retry"
    retry_at = reload(reply).retry_at
    assert retry_at is not None and retry_at > NOW

    assert retry_queued_replies() == 0, "not due yet"
    clock.move_to(retry_at)
    assert retry_queued_replies() == 1

    assert (reload(reply).delivery, reply.external_id) == ("sent", POSTED_ID)
    assert requests_mock.call_count == 2


def test_after_the_last_allowed_attempt_a_temporary_failure_fails_the_reply(
    requests_mock: Mocker, clock: time_machine.Traveller, x_conversation: Conversation, agent: Any, settings: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 3
    requests_mock.post(CREATE_TWEET_URL, [SERVER_ERROR])
    reply = do_record_reply(x_conversation, agent, REPLY)

    for _ in range(2):
        with pytest.raises(RetryLater):
            do_post_reply(reply.pk)
        clock.move_to(reload(reply).retry_at)
    assert do_post_reply(reply.pk) == "failed"

    reply = reload(reply)
    assert (reply.delivery, reply.delivery_attempts, reply.text) == ("failed", 3, REPLY)
    assert "503" in reply.delivery_error
    (failed,) = ledger(x_conversation, EventKind.REPLY_FAILED)
    assert failed.data["message_id"] == reply.pk and failed.data["code"] == "server_error"
    assert do_post_reply(reply.pk) == "skipped"
    assert requests_mock.call_count == 3


# --- Permanent failures ----------------------------------------------------------------------


def test_a_reply_to_a_deleted_tweet_fails_at_once_with_the_reason_and_keeps_its_text(
    requests_mock: Mocker, x_conversation: Conversation, agent: Any
) -> None:
    requests_mock.post(CREATE_TWEET_URL, [answer(fixture("x/reply_to_deleted_tweet_403.json"), status=403)])
    reply = do_record_reply(x_conversation, agent, REPLY)

    assert do_post_reply(reply.pk) == "failed"

    reply = reload(reply)
    assert (reply.delivery, reply.external_id, reply.text) == ("failed", None, REPLY)
    assert "deleted or not visible" in reply.delivery_error
    (failed,) = ledger(x_conversation, EventKind.REPLY_FAILED)
    assert failed.data["code"] == "target_gone" and failed.agent == agent
    assert do_post_reply(reply.pk) == "skipped", "a failed reply is not retried"
    assert requests_mock.call_count == 1


def test_a_messenger_reply_outside_the_window_fails_with_the_reason(
    requests_mock: Mocker, clock: time_machine.Traveller, make_post: Any, queue: Queue, agent: Any
) -> None:
    page = SocialAccount.objects.create(
        platform="facebook",
        external_id=PAGE_ID,
        name="Northwind",
        credentials_encrypted=encrypt({"page_access_token": "EAAG-page-token"}),
    )
    post = make_post(
        channel="facebook_messenger", external_id="m_AbCdEf0123456789_nw", thread_key="t_100", author_id=PSID
    )
    conversation = conversation_in_state(S.ASSIGNED, replace(post, account_id=page.pk), queue=queue, agent=agent)
    requests_mock.post(MESSENGER_URL, [answer(fixture("facebook/graph_error_outside_window.json"), status=400)])
    reply = do_record_reply(conversation, agent, "Thanks Aisha, checking now")

    assert do_post_reply(reply.pk) == "failed"

    (request,) = requests_mock.request_history
    assert "recipient" in request.text and PSID in request.text
    reply = reload(reply)
    assert (reply.delivery, reply.text) == ("failed", "Thanks Aisha, checking now")
    assert "outside of allowed window" in reply.delivery_error
    (failed,) = ledger(conversation, EventKind.REPLY_FAILED)
    assert failed.data["code"] == "outside_window"


# --- A crash after the platform accepted the reply -------------------------------------------


def test_a_reply_stuck_after_a_crash_is_found_on_x_and_marked_sent_without_posting_again(
    requests_mock: Mocker,
    clock: time_machine.Traveller,
    x_conversation: Conversation,
    agent: Any,
    die_once_after_posting: list[str],
) -> None:
    requests_mock.post(CREATE_TWEET_URL, [CREATED, CREATED])
    requests_mock.get(OWN_TWEETS_URL, [answer(own_tweets(our_reply_on_x(created_at=NOW + timedelta(seconds=1))))])
    reply = do_record_reply(x_conversation, agent, REPLY)

    with pytest.raises(WorkerDied):
        do_post_reply(reply.pk)

    assert die_once_after_posting == [POSTED_ID]
    reply = reload(reply)
    assert (reply.delivery, reply.external_id, reply.sending_since) == ("sending", None, NOW)
    assert do_post_reply(reply.pk) == "skipped", "the redelivered task does not post it again"

    clock.shift(STUCK_AFTER - timedelta(seconds=1))
    assert do_reconcile_stuck_replies() == {"found": 0, "requeued": 0, "unknown": 0, "failed": 0}, "not stuck yet"
    clock.shift(timedelta(seconds=2))
    assert do_reconcile_stuck_replies() == {"found": 1, "requeued": 0, "unknown": 0, "failed": 0}

    reply = reload(reply)
    assert (reply.delivery, reply.external_id) == ("sent", POSTED_ID)
    assert len(posts_to(requests_mock, CREATE_TWEET_URL)) == 1
    (lookup,) = [r for r in requests_mock.request_history if r.method == "GET"]
    assert parse_qs(urlsplit(lookup.url).query)["start_time"] == ["2026-11-20T10:44:00Z"], "from before the attempt"
    assert do_reconcile_stuck_replies() == {"found": 0, "requeued": 0, "unknown": 0, "failed": 0}


def test_a_stuck_reply_x_does_not_list_is_queued_again_and_posted_once_more(
    requests_mock: Mocker,
    clock: time_machine.Traveller,
    x_conversation: Conversation,
    agent: Any,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # The worker dies while its request is on the wire: X never got it.
    requests_mock.post(CREATE_TWEET_URL, [{"exc": WorkerDied}, CREATED])
    requests_mock.get(OWN_TWEETS_URL, [answer(fixture("x/empty.json"))])
    reply = do_record_reply(x_conversation, agent, REPLY)
    with pytest.raises(WorkerDied):
        do_post_reply(reply.pk)
    assert reload(reply).delivery == "sending"

    clock.shift(STUCK_AFTER + timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert do_reconcile_stuck_replies() == {"found": 0, "requeued": 1, "unknown": 0, "failed": 0}

    reply = reload(reply)
    assert (reply.delivery, reply.external_id) == ("sent", POSTED_ID)
    attempts = posts_to(requests_mock, CREATE_TWEET_URL)
    assert len(attempts) == 2, "the lost attempt, then exactly one more"
    assert attempts[1].json() == {"text": REPLY, "reply": {"in_reply_to_tweet_id": TWEET_ID}}


def test_a_stuck_reply_whose_lookup_fails_is_left_alone_until_x_can_answer(
    requests_mock: Mocker,
    clock: time_machine.Traveller,
    x_conversation: Conversation,
    agent: Any,
    die_once_after_posting: list[str],
) -> None:
    requests_mock.post(CREATE_TWEET_URL, [CREATED])
    requests_mock.get(
        OWN_TWEETS_URL,
        [SERVER_ERROR, answer(own_tweets(our_reply_on_x(created_at=NOW)))],
    )
    reply = do_record_reply(x_conversation, agent, REPLY)
    with pytest.raises(WorkerDied):
        do_post_reply(reply.pk)

    clock.shift(STUCK_AFTER + timedelta(seconds=1))
    assert do_reconcile_stuck_replies() == {"found": 0, "requeued": 0, "unknown": 1, "failed": 0}
    assert reload(reply).delivery == "sending", "never posted again while it may be on X"
    assert do_reconcile_stuck_replies() == {"found": 1, "requeued": 0, "unknown": 0, "failed": 0}

    assert (reload(reply).delivery, reply.external_id) == ("sent", POSTED_ID)
    assert len(posts_to(requests_mock, CREATE_TWEET_URL)) == 1


# --- The sandbox ----------------------------------------------------------------------------------


def test_the_sandbox_posts_idempotently_by_the_replys_key(
    clock: time_machine.Traveller,
    make_post: Any,
    queue: Queue,
    agent: Any,
    eager_tasks: None,
    die_once_after_posting: list[str],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    sandbox = SocialAccount.objects.create(platform="sandbox", external_id="sandbox", name="Sandbox")
    post = replace(make_post(channel="sandbox_public"), account_id=sandbox.pk)
    conversation = conversation_in_state(S.ASSIGNED, post, queue=queue, agent=agent)
    reply = do_record_reply(conversation, agent, "Thanks, we're on it.")
    expected_id = f"sbx-reply-{reply.idempotency_key}"

    with pytest.raises(WorkerDied):
        do_post_reply(reply.pk)
    clock.shift(STUCK_AFTER + timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        # The sandbox cannot list its replies, so the reply is posted again: under the same key.
        assert do_reconcile_stuck_replies() == {"found": 0, "requeued": 1, "unknown": 0, "failed": 0}

    assert die_once_after_posting == [expected_id]
    assert (reload(reply).delivery, reply.external_id) == ("sent", expected_id)


# --- The sweeper's list ---------------------------------------------------------------------------


def test_due_replies_are_queued_ones_whose_retry_time_has_come_or_whose_task_was_lost(
    requests_mock: Mocker,
    clock: time_machine.Traveller,
    x_account: SocialAccount,
    make_post: Any,
    queue: Queue,
    agent: Any,
) -> None:
    requests_mock.post(CREATE_TWEET_URL, [SERVER_ERROR, CREATED])

    def conversation() -> Conversation:
        return conversation_in_state(
            S.ASSIGNED, replace(make_post(), account_id=x_account.pk), queue=queue, agent=agent
        )

    retrying = do_record_reply(conversation(), agent, "First reply")
    with pytest.raises(RetryLater):
        do_post_reply(retrying.pk)
    sent = do_record_reply(conversation(), agent, "Second reply")
    assert do_post_reply(sent.pk) == "sent"
    fresh = do_record_reply(conversation(), agent, "Third reply")  # its task is on its way

    assert due_replies() == []
    retry_at = reload(retrying).retry_at
    assert retry_at is not None
    assert due_replies(retry_at - timedelta(seconds=1)) == []
    assert due_replies(retry_at) == [retrying.pk]
    # A queued reply nobody picked up within 20 s lost its task (a broker restart): the sweeper takes it.
    assert sorted(due_replies(NOW + timedelta(seconds=21))) == [retrying.pk, fresh.pk]


def test_unreadable_credentials_fail_the_reply_instead_of_leaving_it_stuck(
    x_conversation: Conversation, x_account: SocialAccount, agent: Any, requests_mock: Mocker
) -> None:
    SocialAccount.objects.filter(pk=x_account.pk).update(credentials_encrypted="not-a-fernet-token")
    message = do_record_reply(x_conversation, agent, REPLY)
    assert do_post_reply(message.pk) == "failed"
    message.refresh_from_db()
    assert message.delivery == Delivery.FAILED and "cannot be decrypted" in message.delivery_error
    assert not requests_mock.request_history
