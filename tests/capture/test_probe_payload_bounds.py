"""The bounds every platform's payloads are held to, on both engines: never a server error, never garbage stored.

A signed delivery with a value no database stores (NaN or Infinity anywhere, a count beyond 64 bits, a time a
datetime cannot hold) is refused with 400, or stored with the value made storable (a count is clamped); ids are
bounded by the id columns (and X's are the digits of a 64-bit number); times lie between 2004 and a day from now,
on X as on Facebook. Polled payloads that hold NaN (the platforms' clients parse it) are stored with null.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from requests_mock import Mocker

from core.models import Identity, Message
from monitoring.credentials import encrypt
from monitoring.models import SocialAccount
from monitoring.polling import do_poll_account
from routing.models import Queue
from tests.capture.test_webhooks import _webhook_secrets as _webhook_secrets  # autouse: the webhook secrets
from tests.capture.test_webhooks import deliver_facebook, deliver_x, fixture, fixture_bytes, nothing_stored

PAGE_ID = "501234567890123"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
COUNT_COLUMN_MAX = 2_147_483_647
"""The largest value of a PositiveIntegerField on every database (followers_count)."""


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def accounts(db: None) -> None:
    SocialAccount.objects.create(platform="facebook", external_id=PAGE_ID, name="Northwind")
    SocialAccount.objects.create(platform="x", external_id="4400100", name="Northwind Help")


def x_tweet(change: Callable[[dict[str, Any]], None]) -> bytes:
    payload = fixture("x/account_activity_tweet_create.json")
    change(payload["tweet_create_events"][0])
    return json.dumps(payload).encode()


def x_dm(change: Callable[[dict[str, Any]], None]) -> bytes:
    payload = fixture("x/account_activity_dm.json")
    change(payload["direct_message_events"][0])
    return json.dumps(payload).encode()


def facebook_comment(change: Callable[[dict[str, Any]], None]) -> bytes:
    payload = fixture("facebook/webhook_feed_comment.json")
    change(payload["entry"][0]["changes"][0]["value"])
    return json.dumps(payload).encode()


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda item: item.__setitem__(key, value)


def _set_user(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda tweet: tweet["user"].__setitem__(key, value)


# --- Numbers JSON does not have ------------------------------------------------------------------------------

LITERALS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]


def with_literal(body: bytes, literal: str) -> bytes:
    """``body`` with a sentinel string replaced by a bare literal, as a hand-written (or hostile) body holds it."""
    assert b'"SENTINEL"' in body
    return body.replace(b'"SENTINEL"', literal.encode())


@pytest.mark.parametrize("literal", LITERALS)
@pytest.mark.parametrize(
    ("platform", "body"),
    [
        pytest.param("x", x_tweet(_set("extra", "SENTINEL")), id="x-unread-field"),
        pytest.param("x", x_tweet(_set_user("followers_count", "SENTINEL")), id="x-followers"),
        pytest.param("x", x_tweet(_set("entities", {"urls": [{"indices": ["SENTINEL", 3]}]})), id="x-nested"),
        pytest.param("x", x_dm(_set("created_timestamp", "SENTINEL")), id="x-dm-time"),
        pytest.param("facebook", facebook_comment(_set("extra", "SENTINEL")), id="facebook-unread-field"),
        pytest.param("facebook", facebook_comment(_set("created_time", "SENTINEL")), id="facebook-time"),
    ],
)
def test_a_delivery_with_a_number_json_does_not_have_is_refused_and_nothing_stored(
    accounts: None, queue: Queue, platform: str, body: bytes, literal: str
) -> None:
    deliver = deliver_x if platform == "x" else deliver_facebook

    response = deliver(with_literal(body, literal))

    assert response.status_code == 400
    assert response.json()["code"] == "malformed"
    assert nothing_stored()


@pytest.mark.parametrize("followers", [2**63, 2**70, 10**40])
def test_a_follower_count_beyond_what_is_stored_is_clamped_and_the_post_kept(
    accounts: None, queue: Queue, followers: int
) -> None:
    response = deliver_x(x_tweet(_set_user("followers_count", followers)))

    assert response.status_code == 200
    assert response.json()["stored"] == 1
    identity = Identity.objects.get(external_id="3309090")
    assert identity.followers_count == COUNT_COLUMN_MAX
    assert Message.objects.get().raw["user"]["followers_count"] == followers  # the payload as sent


def test_a_delivered_number_beyond_64_bits_in_an_unread_field_is_kept_in_the_payload(
    accounts: None, queue: Queue
) -> None:
    response = deliver_x(x_tweet(_set("favorite_count", 2**70)))

    assert response.status_code == 200
    assert Message.objects.get().raw["favorite_count"] == 2**70


# --- Times ---------------------------------------------------------------------------------------------------

IMPLAUSIBLE_X_TIMES = [
    pytest.param("Mon Jan 01 00:00:00 +2359 0001", id="year-1-east-of-utc"),
    pytest.param("Mon Jan 01 00:00:00 +0000 0001", id="year-1"),
    pytest.param("Thu Jan 01 00:00:00 +0000 1970", id="epoch"),
    pytest.param("Wed Dec 31 23:59:59 +0000 2003", id="before-2004"),
    pytest.param("Sun Nov 22 12:00:01 +0000 2026", id="two-days-ahead"),
    pytest.param("Fri Dec 31 23:59:59 -2359 9999", id="year-9999-west-of-utc"),
]


@pytest.mark.parametrize("created_at", IMPLAUSIBLE_X_TIMES)
def test_a_tweet_at_an_implausible_time_is_refused_and_nothing_stored(
    accounts: None, queue: Queue, created_at: str
) -> None:
    response = deliver_x(x_tweet(_set("created_at", created_at)))

    assert response.status_code == 400
    assert "created_at" in response.json()["message"]
    assert nothing_stored()


@pytest.mark.parametrize(
    "created_at",
    [
        pytest.param("Thu Jan 01 00:00:00 +0000 2004", id="the-first-day"),
        pytest.param("Sat Nov 21 11:59:59 +0000 2026", id="a-day-ahead"),
        pytest.param("Fri Nov 20 11:00:00 -2359 2026", id="today-far-west"),
    ],
)
def test_a_tweet_at_a_plausible_time_is_stored(accounts: None, queue: Queue, created_at: str) -> None:
    response = deliver_x(x_tweet(_set("created_at", created_at)))

    assert response.status_code == 200
    assert response.json()["stored"] == 1


@pytest.mark.parametrize(
    ("platform", "body"),
    [
        pytest.param("x", x_dm(_set("created_timestamp", "0")), id="x-dm-epoch"),
        pytest.param("x", x_dm(_set("created_timestamp", "9" * 21)), id="x-dm-21-digits"),
        pytest.param("x", x_dm(_set("created_timestamp", "9" * 5000)), id="x-dm-5000-digits"),
        pytest.param(
            "x",
            x_dm(_set("created_timestamp", str(int((NOW + timedelta(days=2)).timestamp() * 1000)))),
            id="x-dm-two-days-ahead",
        ),
        pytest.param(
            "facebook",
            facebook_comment(_set("created_time", int(datetime(2003, 12, 31, tzinfo=UTC).timestamp()))),
            id="facebook-before-2004",
        ),
        pytest.param(
            "facebook",
            facebook_comment(_set("created_time", int((NOW + timedelta(days=2)).timestamp()))),
            id="facebook-two-days-ahead",
        ),
        pytest.param(
            "facebook",
            facebook_comment(_set("created_time", int(datetime(2150, 1, 1, tzinfo=UTC).timestamp()))),
            id="facebook-2150",
        ),
    ],
)
def test_a_unix_time_outside_the_plausible_window_is_refused_on_every_platform(
    accounts: None, queue: Queue, platform: str, body: bytes
) -> None:
    response = (deliver_x if platform == "x" else deliver_facebook)(body)

    assert response.status_code == 400
    assert "plausible time" in response.json()["message"]
    assert nothing_stored()


@pytest.mark.parametrize(
    "created_time", ["0001-01-01T00:00:00+2359", "9999-12-31T23:59:59-2359", "1999-01-01T00:00:00+0000"]
)
def test_a_graph_read_at_an_implausible_time_fails_the_poll_as_a_bad_answer(
    db: None, queue: Queue, requests_mock: Mocker, settings: Any, created_time: str
) -> None:
    settings.PLATFORM_CREDENTIALS = {"x": {}, "facebook": {}}
    page = SocialAccount.objects.create(
        platform="facebook",
        external_id=PAGE_ID,
        name="Northwind",
        credentials_encrypted=encrypt({"page_access_token": "EAAGm0PX4ZCpsBAKZBstoredpagetoken"}),
    )
    feed = fixture("facebook/graph_feed_poll.json")
    feed["data"][0]["comments"]["data"][0]["created_time"] = created_time
    feed.pop("paging")
    graph = "https://graph.facebook.com/v21.0"
    requests_mock.get(f"{graph}/{PAGE_ID}/feed", json=feed, headers={"Content-Type": "application/json"})
    requests_mock.get(
        f"{graph}/{PAGE_ID}/conversations", json={"data": []}, headers={"Content-Type": "application/json"}
    )

    assert do_poll_account(page.pk) is None

    page.refresh_from_db()
    assert page.enabled  # a bad answer is retried, not a reason to stop
    assert "not a plausible time" in page.last_error
    assert page.consecutive_failures == 1
    assert not Message.objects.exists()


# --- Ids -----------------------------------------------------------------------------------------------------

LONG_X_IDS = [
    pytest.param("1" * 500, id="500-digits"),
    pytest.param("1" * 129, id="129-digits"),
    pytest.param(str(2**64), id="beyond-64-bits"),
    pytest.param("1" * 21, id="21-digits"),
]


@pytest.mark.parametrize("value", LONG_X_IDS)
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda value: x_tweet(_set("id_str", value)), id="tweet-id"),
        pytest.param(lambda value: x_tweet(_set_user("id_str", value)), id="user-id"),
        pytest.param(lambda value: x_tweet(_set("in_reply_to_status_id_str", value)), id="in-reply-to"),
        pytest.param(lambda value: x_dm(_set("id", value)), id="dm-id"),
        pytest.param(
            lambda value: x_dm(lambda event: event["message_create"].__setitem__("sender_id", value)), id="dm-sender"
        ),
    ],
)
def test_an_x_id_beyond_64_bits_is_refused_and_nothing_stored(
    accounts: None, queue: Queue, make: Callable[[str], bytes], value: str
) -> None:
    response = deliver_x(make(value))

    assert response.status_code == 400
    assert "numeric id" in response.json()["message"]
    assert nothing_stored()


def test_the_largest_x_id_is_stored(accounts: None, queue: Queue) -> None:
    response = deliver_x(x_tweet(_set("id_str", str(2**64 - 1))))

    assert response.status_code == 200
    assert Message.objects.get().external_id == "18446744073709551615"


@pytest.mark.parametrize(
    ("field", "length"),
    [("comment_id", 129), ("comment_id", 500), ("post_id", 129)],
)
def test_a_facebook_id_longer_than_the_id_columns_is_refused_and_nothing_stored(
    accounts: None, queue: Queue, field: str, length: int
) -> None:
    response = deliver_facebook(facebook_comment(_set(field, "1" * length)))

    assert response.status_code == 400
    assert nothing_stored()


def test_a_facebook_id_as_long_as_the_id_columns_is_stored(accounts: None, queue: Queue) -> None:
    response = deliver_facebook(facebook_comment(_set("comment_id", "9" * 128)))

    assert response.status_code == 200
    assert Message.objects.get().external_id == "9" * 128


def test_a_for_user_id_beyond_64_bits_is_refused(accounts: None) -> None:
    body = fixture_bytes("x/account_activity_tweet_create.json").replace(b'"4400100"', b'"' + b"4" * 300 + b'"', 1)

    response = deliver_x(body)

    assert response.status_code == 400
    assert nothing_stored()


# --- Polled payloads -----------------------------------------------------------------------------------------

MENTIONS_URL = "https://api.twitter.com/2/users/4400100/mentions"


@pytest.fixture
def polled_x_account(db: None, settings: Any) -> SocialAccount:
    settings.PLATFORM_CREDENTIALS = {"x": {"bearer_token": "bearer-test-token"}, "facebook": {}}
    return SocialAccount.objects.create(platform="x", external_id="4400100", name="Northwind Help")


def mentions_text(tweet_change: Callable[[dict[str, Any]], None]) -> str:
    page = fixture("x/mentions_page2.json")
    page.pop("meta", None)
    page["meta"] = {"result_count": len(page["data"])}
    for tweet in page["data"]:
        tweet_change(tweet)
    return json.dumps(page)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_polled_tweet_whose_payload_holds_nan_is_stored_with_null_in_its_place(
    polled_x_account: SocialAccount, queue: Queue, requests_mock: Mocker, literal: str
) -> None:
    # tweepy parses the body with Python's json, which reads NaN and Infinity.
    body = mentions_text(lambda tweet: tweet.__setitem__("score", "SENTINEL")).replace('"SENTINEL"', literal)
    requests_mock.get(MENTIONS_URL, text=body, headers={"Content-Type": "application/json"})

    stats = do_poll_account(polled_x_account.pk)

    assert stats is not None and stats.stored >= 1
    polled_x_account.refresh_from_db()
    assert polled_x_account.last_error == ""
    assert {message.raw["score"] for message in Message.objects.all()} == {None}


def test_a_polled_edit_whose_payload_holds_nan_replaces_the_text_and_stores_null(
    polled_x_account: SocialAccount, queue: Queue, requests_mock: Mocker, clock: time_machine.Traveller
) -> None:
    original = fixture("x/mentions_page2.json")["data"][0]
    requests_mock.get(
        MENTIONS_URL, text=mentions_text(lambda tweet: None), headers={"Content-Type": "application/json"}
    )
    assert do_poll_account(polled_x_account.pk) is not None

    def edit(tweet: dict[str, Any]) -> None:
        tweet["edit_history_tweet_ids"] = [tweet["id"], "1861000000000000999"]
        tweet["id"] = "1861000000000000999"
        tweet["text"] = tweet["text"] + " (edited)"
        tweet["score"] = "SENTINEL"

    requests_mock.get(
        MENTIONS_URL,
        text=mentions_text(edit).replace('"SENTINEL"', "NaN"),
        headers={"Content-Type": "application/json"},
    )
    clock.shift(timedelta(minutes=5))

    assert do_poll_account(polled_x_account.pk) is not None

    message = Message.objects.get(external_id=original["id"])
    assert message.text == original["text"] + " (edited)"
    assert message.raw["score"] is None
    assert [version["text"] for version in message.edit_history] == [original["text"]]
