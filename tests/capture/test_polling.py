"""Polling through the public actions and tasks: the real X (and Facebook) connector against mocked HTTP.

What is checked is what the scheduler promises: every post stored once, the cursor saved only after the posts
it covers, failures backed off (or the account disabled and an admin told), and each source leased to one
worker at a time.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone
from requests_mock import Mocker

from agents.actions import do_create_user
from core.models import Conversation, Message
from core.models import ConversationState as S
from core.roles import ADMIN, AGENT
from monitoring import polling
from monitoring.credentials import encrypt
from monitoring.models import ListeningQuery, SocialAccount
from monitoring.pipeline import IngestStats
from monitoring.polling import LEASE, claim_due, do_poll_account, do_poll_query
from monitoring.tasks import schedule_due_polls
from routing.models import Queue
from tests.eager import tasks_run_eagerly

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
X_API = "https://api.twitter.com"  # tweepy's host is fixed; mocks on api.x.com would never be hit.
MENTIONS_URL = f"{X_API}/2/users/4400100/mentions"
SEARCH_URL = f"{X_API}/2/tweets/search/recent"
GRAPH = "https://graph.facebook.com/v21.0"
PAGE_ID = "501234567890123"
PAGE_TOKEN = "EAAGm0PX4ZCpsBAKZBstoredpagetoken"
BEARER = "bearer-test-token"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

PAGE1_IDS = ["1861000000000000101", "1861000000000000117", "1861000000000000123"]
PAGE2_IDS = ["1860999999999999001"]
NEWEST_MENTION = "1861000000000000123"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def answer(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """One JSON answer for requests-mock, labelled as JSON as both platforms label it."""
    return {"json": body, "status_code": status, "headers": {"Content-Type": "application/json", **(headers or {})}}


def mentions_pages() -> list[dict[str, Any]]:
    return [answer(fixture("x/mentions_page1.json")), answer(fixture("x/mentions_page2.json"))]


def query_of(request: Any) -> dict[str, str]:
    """A mocked request's query, case kept (``.qs`` lower-cases values)."""
    return dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))


def sent_params(api: Mocker, url: str) -> list[dict[str, str]]:
    """The query of each request to ``url``, in order."""
    return [query_of(request) for request in api.request_history if request.url.split("?")[0] == url]


def reload(source: Any) -> Any:
    source.refresh_from_db()
    return source


def stored_external_ids() -> Counter[str]:
    return Counter(Message.objects.values_list("external_id", flat=True))


@pytest.fixture(autouse=True)
def _x_credentials(settings: Any) -> None:
    # A bearer token only: mentions and search work, DMs (which need user context) are skipped.
    settings.PLATFORM_CREDENTIALS = {"x": {"bearer_token": BEARER}, "facebook": {}}


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Tasks run in the caller, also when a Redis broker is configured."""
    with tasks_run_eagerly():
        yield


@pytest.fixture
def x_account(db: None, clock: time_machine.Traveller) -> SocialAccount:
    return SocialAccount.objects.create(
        platform="x", external_id="4400100", name="Northwind Help", handle="northwind_help"
    )


@pytest.fixture
def api(requests_mock: Mocker) -> Mocker:
    """The platforms' HTTP, mocked: a URL given several answers returns them in turn."""
    return requests_mock


# --- A successful poll ---------------------------------------------------------------------------------------


def test_a_poll_stores_the_mentions_of_every_page_and_queues_their_conversations(
    x_account: SocialAccount, queue: Queue, api: Mocker
) -> None:
    api.get(MENTIONS_URL, mentions_pages())

    stats = do_poll_account(x_account.pk)

    assert stats is not None and stats.stored == 4 and stats.new_conversations == 3
    first, second = sent_params(api, MENTIONS_URL)
    assert "since_id" not in first and "pagination_token" not in first
    assert second["pagination_token"] == fixture("x/mentions_page1.json")["meta"]["next_token"]
    assert api.request_history[0].headers["Authorization"] == f"Bearer {BEARER}"
    assert stored_external_ids() == Counter(PAGE1_IDS + PAGE2_IDS)
    assert set(Message.objects.values_list("account_id", flat=True)) == {x_account.pk}
    assert set(Message.objects.values_list("listening_query_id", flat=True)) == {None}
    # The reply joins the conversation of the tweet it answers.
    assert Conversation.objects.count() == 3
    assert set(Conversation.objects.values_list("state", "queue_id")) == {(S.QUEUED, queue.pk)}


def test_the_cursor_is_saved_only_after_the_posts_are_stored(
    x_account: SocialAccount, queue: Queue, api: Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.get(MENTIONS_URL, mentions_pages())
    real_ingest = polling.ingest
    cursor_while_storing: list[dict[str, Any]] = []

    def watching_ingest(*args: Any, **kwargs: Any) -> IngestStats:
        cursor_while_storing.append(SocialAccount.objects.get(pk=x_account.pk).cursor)
        return real_ingest(*args, **kwargs)

    monkeypatch.setattr(polling, "ingest", watching_ingest)

    do_poll_account(x_account.pk)

    assert cursor_while_storing == [{}]
    account = reload(x_account)
    assert account.cursor["mentions_since_id"] == NEWEST_MENTION
    assert account.last_polled_at == NOW
    assert account.next_poll_at == NOW + timedelta(seconds=account.poll_interval_seconds)
    assert account.poll_lease_until is None


def test_the_next_poll_sends_the_saved_since_id(x_account: SocialAccount, queue: Queue, api: Mocker) -> None:
    api.get(MENTIONS_URL, [*mentions_pages(), answer(fixture("x/empty.json"))])
    do_poll_account(x_account.pk)

    stats = do_poll_account(x_account.pk)

    assert stats is not None and stats.received == 0
    first, _, third = sent_params(api, MENTIONS_URL)
    assert "since_id" not in first
    assert third["since_id"] == NEWEST_MENTION
    assert "pagination_token" not in third
    assert reload(x_account).cursor["mentions_since_id"] == NEWEST_MENTION


def test_a_crash_after_storing_keeps_the_cursor_and_the_next_poll_rereads_without_duplicates(
    x_account: SocialAccount,
    queue: Queue,
    api: Mocker,
    monkeypatch: pytest.MonkeyPatch,
    clock: time_machine.Traveller,
) -> None:
    api.get(MENTIONS_URL, [*mentions_pages(), *mentions_pages()])
    real_ingest = polling.ingest

    def ingest_then_crash(*args: Any, **kwargs: Any) -> IngestStats:
        real_ingest(*args, **kwargs)
        raise RuntimeError("worker killed between storing and saving the cursor")

    monkeypatch.setattr(polling, "ingest", ingest_then_crash)
    assert claim_due(SocialAccount) == [x_account.pk]
    with pytest.raises(RuntimeError):
        do_poll_account(x_account.pk)

    crashed = reload(x_account)
    assert crashed.cursor == {}
    assert crashed.last_polled_at is None
    assert Message.objects.count() == 4
    # The crashed worker's lease keeps the source until it expires; then the poll runs again.
    monkeypatch.setattr(polling, "ingest", real_ingest)
    assert claim_due(SocialAccount) == []
    clock.shift(LEASE + timedelta(seconds=1))
    assert claim_due(SocialAccount) == [x_account.pk]

    stats = do_poll_account(x_account.pk)

    assert stats is not None and stats.duplicates == 4 and stats.stored == 0
    reread = sent_params(api, MENTIONS_URL)[2]
    assert "since_id" not in reread
    assert Message.objects.count() == 4
    assert stored_external_ids() == Counter(PAGE1_IDS + PAGE2_IDS)
    assert Conversation.objects.count() == 3
    assert reload(x_account).cursor["mentions_since_id"] == NEWEST_MENTION


def test_a_facebook_poll_stores_feed_comments_and_messenger_messages_with_stored_credentials(
    db: None, clock: time_machine.Traveller, queue: Queue, api: Mocker
) -> None:
    page = SocialAccount.objects.create(
        platform="facebook",
        external_id=PAGE_ID,
        name="Northwind",
        credentials_encrypted=encrypt({"page_access_token": PAGE_TOKEN}),
    )
    feed_pages = [
        answer(fixture("facebook/graph_feed_poll.json")),
        answer(fixture("facebook/graph_feed_poll_page2.json")),
    ]
    api.get(f"{GRAPH}/{PAGE_ID}/feed", feed_pages)
    api.get(f"{GRAPH}/{PAGE_ID}/conversations", [answer(fixture("facebook/graph_conversations_poll.json"))])

    stats = do_poll_account(page.pk)

    assert stats is not None
    assert len(sent_params(api, f"{GRAPH}/{PAGE_ID}/feed")) == 2
    assert {params["access_token"] for params in map(query_of, api.request_history)} == {PAGE_TOKEN}
    assert stored_external_ids() == Counter(
        [
            "998877665544_112233445566",  # a customer's comment
            "998877665544_112233445599",  # the Page's own reply
            "501234567890123_998877660001",  # a visitor post
            "998877660001_112233440001",  # a comment on it
            "m_reply_0001_nw",  # the Page's own Messenger reply
            "m_AbCdEf0123456789_nw",  # the customer's message
        ]
    )
    own = Message.objects.filter(external_id__in=["998877665544_112233445599", "m_reply_0001_nw"])
    assert {message.conversation_id for message in own} == {None}
    assert all(message.filtered_reason for message in own)
    assert Conversation.objects.filter(state=S.QUEUED).count() == 3
    # Each listing's next window starts five minutes before the newest item it returned.
    newest_feed_item = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)  # the Page's reply
    newest_conversation = datetime(2026, 11, 20, 10, 15, 2, tzinfo=UTC)
    assert reload(page).cursor == {
        "feed": {"since": int((newest_feed_item - timedelta(minutes=5)).timestamp())},
        "messenger": {"since": int((newest_conversation - timedelta(minutes=5)).timestamp())},
    }


# --- Listening queries ---------------------------------------------------------------------------------------


def test_a_listening_query_poll_records_the_query_on_its_messages_and_keeps_its_own_cursor(
    x_account: SocialAccount, queue: Queue, api: Mocker
) -> None:
    query = ListeningQuery.objects.create(
        account=x_account, name="Outages", keywords=["outage"], hashtags=["northwind"], languages=["en"]
    )
    api.get(SEARCH_URL, [answer(fixture("x/search_recent.json"))])

    assert claim_due(ListeningQuery) == [query.pk]
    stats = do_poll_query(query.pk)

    assert stats is not None and stats.stored == 2
    (sent,) = sent_params(api, SEARCH_URL)
    assert sent["query"] == "(outage OR #northwind) lang:en -is:retweet"
    assert set(Message.objects.values_list("listening_query_id", "account_id")) == {(query.pk, x_account.pk)}
    query = reload(query)
    assert query.cursor == {"since_id": "1861000000000000612"}
    assert query.poll_lease_until is None
    assert query.next_poll_at == NOW + timedelta(seconds=query.poll_interval_seconds)
    assert reload(x_account).cursor == {}  # the account's mentions are a different listing


# --- Failures ------------------------------------------------------------------------------------------------


def test_a_rate_limit_reschedules_the_poll_at_the_reset_and_it_is_not_claimed_before(
    x_account: SocialAccount, api: Mocker, clock: time_machine.Traveller
) -> None:
    reset = NOW + timedelta(minutes=15)
    api.get(
        MENTIONS_URL,
        [
            answer(
                fixture("x/rate_limited_429.json"),
                status=429,
                headers={"x-rate-limit-reset": str(int(reset.timestamp()))},
            )
        ],
    )
    assert claim_due(SocialAccount) == [x_account.pk]

    assert do_poll_account(x_account.pk) is None

    account = reload(x_account)
    assert reset <= account.next_poll_at <= reset + timedelta(seconds=5)
    assert account.enabled and account.consecutive_failures == 1
    assert "429" in account.last_error
    assert account.cursor == {}
    assert account.poll_lease_until is None
    assert claim_due(SocialAccount) == []
    clock.move_to(reset - timedelta(seconds=1))
    assert claim_due(SocialAccount) == []
    clock.move_to(account.next_poll_at)
    assert claim_due(SocialAccount) == [x_account.pk]


def test_server_errors_back_off_exponentially_and_a_success_resets_the_failures(
    x_account: SocialAccount, queue: Queue, api: Mocker, clock: time_machine.Traveller
) -> None:
    unavailable = answer(fixture("x/service_unavailable_503.json"), status=503)
    api.get(MENTIONS_URL, [unavailable, unavailable, answer(fixture("x/mentions_page2.json"))])
    interval = timedelta(seconds=x_account.poll_interval_seconds)

    delays = []
    for failures in (1, 2):
        failed_at = timezone.now()
        assert claim_due(SocialAccount) == [x_account.pk]
        do_poll_account(x_account.pk)
        account = reload(x_account)
        assert account.consecutive_failures == failures
        assert "503" in account.last_error
        assert account.last_error_at == failed_at
        assert account.poll_lease_until is None
        delay = account.next_poll_at - failed_at
        # the interval doubled per failure, with 20% jitter either way
        assert interval * 2**failures * 0.8 <= delay <= interval * 2**failures * 1.2
        delays.append(delay)
        assert claim_due(SocialAccount) == []
        clock.move_to(account.next_poll_at)
    assert delays[1] > delays[0]

    assert claim_due(SocialAccount) == [x_account.pk]
    do_poll_account(x_account.pk)

    account = reload(x_account)
    assert account.consecutive_failures == 0
    assert account.last_error == ""
    assert account.cursor["mentions_since_id"] == PAGE2_IDS[0]
    assert stored_external_ids() == Counter(PAGE2_IDS)


def test_revoked_credentials_disable_the_account_and_email_admins_while_other_accounts_are_still_polled(
    x_account: SocialAccount,
    queue: Queue,
    api: Mocker,
    eager_tasks: None,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    other = SocialAccount.objects.create(platform="x", external_id="4400200", name="Northwind Billing")
    api.get(MENTIONS_URL, [answer(fixture("x/unauthorized_401.json"), status=401)])
    api.get(f"{X_API}/2/users/4400200/mentions", [answer(fixture("x/mentions_page2.json"))])
    do_create_user("root", "pw-root-12345", role=ADMIN, email="root@northwind.example")
    do_create_user("ada", "pw-ada-12345", role=ADMIN)  # no email address
    gone = do_create_user("old", "pw-old-12345", role=ADMIN, email="old@northwind.example")
    get_user_model().objects.filter(pk=gone.pk).update(is_active=False)
    do_create_user("ana", "pw-ana-12345", role=AGENT, email="ana@northwind.example")

    with django_capture_on_commit_callbacks(execute=True):
        schedule_due_polls.delay()

    disabled = reload(x_account)
    assert not disabled.enabled
    assert "401" in disabled.disabled_reason
    assert "401" in disabled.last_error
    assert disabled.poll_lease_until is None
    (email,) = mailoutbox
    assert email.to == ["root@northwind.example"]
    assert email.subject == "Switchboard stopped polling X: Northwind Help"
    assert "401" in email.body
    polled = reload(other)
    assert polled.enabled and polled.cursor["mentions_since_id"] == PAGE2_IDS[0]
    assert stored_external_ids() == Counter(PAGE2_IDS)
    assert set(Message.objects.values_list("account_id", flat=True)) == {other.pk}


# --- Claiming ------------------------------------------------------------------------------------------------


def test_a_disabled_account_and_its_queries_are_never_claimed(
    x_account: SocialAccount, api: Mocker, eager_tasks: None, clock: time_machine.Traveller
) -> None:
    query = ListeningQuery.objects.create(account=x_account, name="Outages", keywords=["outage"])
    SocialAccount.objects.filter(pk=x_account.pk).update(enabled=False, next_poll_at=NOW - timedelta(days=1))

    assert claim_due(SocialAccount) == []
    assert claim_due(ListeningQuery) == []
    clock.shift(timedelta(days=30))
    assert schedule_due_polls.delay().get() == 0
    assert do_poll_account(x_account.pk) is None
    assert do_poll_query(query.pk) is None

    assert api.request_history == []
    assert reload(x_account).poll_lease_until is None
    assert reload(query).poll_lease_until is None


def test_a_claimed_source_is_not_claimed_again_until_its_lease_expires(
    x_account: SocialAccount, clock: time_machine.Traveller
) -> None:
    assert claim_due(SocialAccount) == [x_account.pk]
    assert claim_due(SocialAccount) == []
    assert reload(x_account).poll_lease_until == NOW + LEASE

    clock.shift(LEASE - timedelta(seconds=1))
    assert claim_due(SocialAccount) == []

    clock.shift(timedelta(seconds=2))
    assert claim_due(SocialAccount) == [x_account.pk]
    assert claim_due(SocialAccount) == []


def test_credentials_never_reach_the_logs_the_email_or_the_account_record(
    x_account: SocialAccount,
    queue: Queue,
    api: Mocker,
    eager_tasks: None,
    mailoutbox: list[Any],
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    stored = "stored-bearer-" + "s3cr3t" * 4
    SocialAccount.objects.filter(pk=x_account.pk).update(credentials_encrypted=encrypt({"bearer_token": stored}))
    api.get(MENTIONS_URL, [answer(fixture("x/unauthorized_401.json"), status=401)])
    do_create_user("root", "pw-root-12345", role=ADMIN, email="root@northwind.example")

    with caplog.at_level("DEBUG"), django_capture_on_commit_callbacks(execute=True):
        schedule_due_polls.delay()

    assert api.last_request.headers["Authorization"] == f"Bearer {stored}", "the stored token was really used"
    disabled = reload(x_account)
    (email,) = mailoutbox
    for secret in (stored, BEARER):
        assert secret not in caplog.text
        assert secret not in email.subject + email.body
        assert secret not in disabled.disabled_reason + disabled.last_error
