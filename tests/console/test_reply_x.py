"""Replies on X: post_reply and find_reply with the real tweepy against mocked X API v2 HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import time_machine
from requests_mock import Mocker

from monitoring.platforms import AccountRef, PlatformError, ReplyRequest
from monitoring.platforms.x import XConnector

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "x"
API = "https://api.twitter.com"  # tweepy's host is fixed; mocks on api.x.com would never be hit.
ACCOUNT_ID = "4400100"
TWEET_ID = "1861000000000000101"  # Dana's tweet, which the public reply answers
PSID = "3309090"  # Priya, who wrote to us by DM
CREATE_TWEET_URL = f"{API}/2/tweets"
SEND_DM_URL = f"{API}/2/dm_conversations/with/{PSID}/messages"
OWN_TWEETS_URL = f"{API}/2/users/{ACCOUNT_ID}/tweets"
DM_CONVERSATION_URL = f"{API}/2/dm_conversations/with/{PSID}/dm_events"
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
SINCE = datetime(2026, 11, 20, 10, 40, tzinfo=UTC)

CREDENTIALS = {
    "bearer_token": "bearer-SECRET-abc",
    "consumer_key": "ck-SECRET-def",
    "consumer_secret": "cs-SECRET-ghi",
    "access_token": "at-SECRET-jkl",
    "access_token_secret": "ats-SECRET-mno",
}

PUBLIC = ReplyRequest(
    channel="x_public",
    text="@danaw Sorry Dana, an engineer is on the way. Your case is 55821. ^Ana",
    in_reply_to_external_id=TWEET_ID,
    recipient_external_id="3301001",
    idempotency_key="reply-41",
)
PRIVATE = ReplyRequest(
    channel="x_dm",
    text="Thanks Priya, I've asked an engineer to look at line 88-1203. ^Ana",
    in_reply_to_external_id="1861000000000000420",
    recipient_external_id=PSID,
    idempotency_key="reply-42",
    private=True,
)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def connector(credentials: dict[str, str] | None = None, *, max_pages: int = 10) -> XConnector:
    account = AccountRef(
        id=7,
        platform="x",
        external_id=ACCOUNT_ID,
        handle="northwind_help",
        credentials=CREDENTIALS if credentials is None else credentials,
    )
    return XConnector(account, timeout=3.5, max_pages=max_pages)


def answer(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """One X answer for requests-mock: a JSON body, labelled as JSON as X labels it."""
    return {"json": body, "status_code": status, "headers": {"Content-Type": "application/json", **(headers or {})}}


def sent_params(request: Any) -> dict[str, str]:
    """The query a request carried, case kept (``.qs`` lower-cases values)."""
    return dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))


def assert_no_secret(error: PlatformError) -> None:
    for secret in CREDENTIALS.values():
        assert secret not in str(error)
        assert secret not in error.message


# --- post_reply: what is sent ------------------------------------------------------------


def test_a_public_reply_is_a_tweet_answering_the_customers_tweet(requests_mock: Mocker) -> None:
    requests_mock.post(CREATE_TWEET_URL, [answer(fixture("create_tweet_201.json"), status=201)])

    reply_id = connector().post_reply(PUBLIC)

    assert reply_id == "1861000000000000999"
    (request,) = requests_mock.request_history
    assert request.method == "POST"
    assert request.json() == {"text": PUBLIC.text, "reply": {"in_reply_to_tweet_id": TWEET_ID}}
    # Posting needs OAuth 1.0a user context even when the account has a bearer token.
    assert request.headers["Authorization"].startswith("OAuth ")


def test_a_private_reply_is_a_direct_message_to_the_recipient(requests_mock: Mocker) -> None:
    requests_mock.post(SEND_DM_URL, [answer(fixture("create_dm_201.json"), status=201)])

    reply_id = connector().post_reply(PRIVATE)

    assert reply_id == "1861000000000000460"
    (request,) = requests_mock.request_history
    assert request.method == "POST"
    assert urlsplit(request.url).path == f"/2/dm_conversations/with/{PSID}/messages"
    assert request.json() == {"text": PRIVATE.text}
    assert request.headers["Authorization"].startswith("OAuth ")


def test_a_reply_marked_private_goes_by_direct_message_whatever_its_channel(requests_mock: Mocker) -> None:
    requests_mock.post(SEND_DM_URL, [answer(fixture("create_dm_201.json"), status=201)])
    request = ReplyRequest(
        channel="x_public",
        text="Let's continue in private, Priya.",
        in_reply_to_external_id=TWEET_ID,
        recipient_external_id=PSID,
        idempotency_key="reply-43",
        private=True,
    )

    assert connector().post_reply(request) == "1861000000000000460"
    assert requests_mock.request_history[0].json() == {"text": "Let's continue in private, Priya."}


# --- post_reply: what fails --------------------------------------------------------------


@pytest.mark.parametrize("request_", [PUBLIC, PRIVATE], ids=["public", "private"])
@pytest.mark.parametrize("call", ["post_reply", "find_reply"])
def test_replies_need_the_oauth1_user_keys_and_nothing_is_sent_without_them(
    requests_mock: Mocker, request_: ReplyRequest, call: str
) -> None:
    x = connector({"bearer_token": "bearer-only"})

    with pytest.raises(PlatformError) as raised:
        x.post_reply(request_) if call == "post_reply" else x.find_reply(request_, SINCE)

    assert (raised.value.permanent, raised.value.code) == (True, "no_credentials")
    assert requests_mock.call_count == 0


def test_a_reply_to_a_deleted_tweet_fails_permanently_as_target_gone(requests_mock: Mocker) -> None:
    requests_mock.post(CREATE_TWEET_URL, [answer(fixture("reply_to_deleted_tweet_403.json"), status=403)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PUBLIC)

    error = raised.value
    assert (error.permanent, error.code, error.status) == (True, "target_gone", 403)
    assert "deleted or not visible" in error.message
    assert_no_secret(error)


def test_a_duplicate_tweet_fails_permanently_as_duplicate(requests_mock: Mocker) -> None:
    requests_mock.post(CREATE_TWEET_URL, [answer(fixture("duplicate_tweet_403.json"), status=403)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PUBLIC)

    assert (raised.value.permanent, raised.value.code, raised.value.status) == (True, "duplicate", 403)


def test_a_dm_the_customer_does_not_accept_fails_permanently_as_forbidden(requests_mock: Mocker) -> None:
    requests_mock.post(SEND_DM_URL, [answer(fixture("dm_not_permitted_403.json"), status=403)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PRIVATE)

    assert (raised.value.permanent, raised.value.code) == (True, "forbidden")


@pytest.mark.parametrize(("url", "request_"), [(CREATE_TWEET_URL, PUBLIC), (SEND_DM_URL, PRIVATE)])
def test_revoked_credentials_fail_permanently_without_showing_them(
    requests_mock: Mocker, url: str, request_: ReplyRequest
) -> None:
    requests_mock.post(url, [answer(fixture("unauthorized_401.json"), status=401)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(request_)

    assert (raised.value.permanent, raised.value.code, raised.value.status) == (True, "unauthorized", 401)
    assert_no_secret(raised.value)


def test_a_rate_limited_reply_is_retried_at_the_reset_time(requests_mock: Mocker) -> None:
    requests_mock.post(
        CREATE_TWEET_URL,
        [answer(fixture("rate_limited_429.json"), status=429, headers={"x-rate-limit-reset": "1795176000"})],
    )

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PUBLIC)

    error = raised.value
    assert (error.permanent, error.code) == (False, "rate_limited")
    assert error.retry_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_temporary(requests_mock: Mocker, status: int) -> None:
    requests_mock.post(CREATE_TWEET_URL, [answer(fixture("service_unavailable_503.json"), status=status)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PUBLIC)

    assert (raised.value.permanent, raised.value.code, raised.value.status) == (False, "server_error", status)
    assert not raised.value.rate_limited


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (requests.ConnectionError("connection refused"), "connection_error"),
        (requests.ConnectTimeout("connect timed out"), "timeout"),
        (requests.ReadTimeout("read timed out"), "timeout"),
    ],
)
def test_a_network_failure_is_temporary(requests_mock: Mocker, failure: Exception, code: str) -> None:
    requests_mock.post(SEND_DM_URL, exc=failure)

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PRIVATE)

    assert (raised.value.permanent, raised.value.code) == (False, code)
    assert_no_secret(raised.value)


def test_an_answer_without_an_id_is_temporary_so_find_reply_decides(requests_mock: Mocker) -> None:
    requests_mock.post(CREATE_TWEET_URL, [answer({"data": {"text": PUBLIC.text}}, status=201)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PUBLIC)

    assert (raised.value.permanent, raised.value.code) == (False, "bad_response")


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (ReplyRequest("x_public", "Hi", "", "3301001", "k1"), "bad_request"),
        (ReplyRequest("x_dm", "Hi", "1861000000000000420", "", "k2"), "bad_request"),
        (ReplyRequest("x_public", " \n", TWEET_ID, "3301001", "k3"), "bad_request"),
        (ReplyRequest("facebook_public", "Hi", TWEET_ID, "3301001", "k4"), "unsupported"),
    ],
    ids=["public-without-tweet", "dm-without-recipient", "without-text", "other-platforms-channel"],
)
def test_a_reply_without_its_target_is_refused_before_calling_x(
    requests_mock: Mocker, request_: ReplyRequest, code: str
) -> None:
    with pytest.raises(PlatformError) as raised:
        connector().post_reply(request_)

    assert (raised.value.permanent, raised.value.code) == (True, code)
    assert requests_mock.call_count == 0


# --- find_reply: public ------------------------------------------------------------------


def test_find_reply_finds_our_tweet_answering_the_tweet_among_the_accounts_own_tweets(requests_mock: Mocker) -> None:
    requests_mock.get(OWN_TWEETS_URL, [answer(fixture("own_tweets_after_reply.json"))])

    assert connector().find_reply(PUBLIC, SINCE) == "1861000000000000999"

    (request,) = requests_mock.request_history
    assert sent_params(request) == {
        "start_time": "2026-11-20T10:40:00Z",
        "tweet.fields": "referenced_tweets,created_at,text",
        "max_results": "100",
    }
    assert request.headers["Authorization"].startswith("OAuth ")


def test_find_reply_ignores_the_same_text_answering_another_tweet(requests_mock: Mocker) -> None:
    # The fixture holds "@lu_p Sorry Dana, ..." answering tweet ...123, not Dana's tweet.
    tweets = fixture("own_tweets_after_reply.json")
    tweets["data"] = [tweet for tweet in tweets["data"] if tweet["id"] != "1861000000000000999"]
    requests_mock.get(OWN_TWEETS_URL, [answer(tweets)])

    assert connector().find_reply(PUBLIC, SINCE) is None


def test_find_reply_ignores_a_different_text_answering_the_same_tweet(requests_mock: Mocker) -> None:
    requests_mock.get(OWN_TWEETS_URL, [answer(fixture("own_tweets_after_reply.json"))])
    other = ReplyRequest("x_public", "@danaw We're sorry, Dana.", TWEET_ID, "3301001", "reply-44")

    assert connector().find_reply(other, SINCE) is None


def test_find_reply_ignores_our_reply_from_before_since(requests_mock: Mocker) -> None:
    requests_mock.get(OWN_TWEETS_URL, [answer(fixture("own_tweets_after_reply.json"))])

    assert connector().find_reply(PUBLIC, datetime(2026, 11, 20, 10, 45, 1, tzinfo=UTC)) is None


def test_find_reply_compares_times_to_the_second_as_x_reports_them(requests_mock: Mocker) -> None:
    requests_mock.get(OWN_TWEETS_URL, [answer(fixture("own_tweets_after_reply.json"))])

    found = connector().find_reply(PUBLIC, datetime(2026, 11, 20, 10, 45, 0, 600_000, tzinfo=UTC))

    assert found == "1861000000000000999"
    assert sent_params(requests_mock.request_history[0])["start_time"] == "2026-11-20T10:45:00Z"


def test_find_reply_sees_through_x_escaping_links_and_reply_mentions(requests_mock: Mocker) -> None:
    # X stored our text with "&" escaped, the link replaced by a t.co link and "@danaw " put in front.
    requests_mock.get(OWN_TWEETS_URL, [answer(fixture("own_tweets_after_reply.json"))])
    with_link = ReplyRequest(
        channel="x_public",
        text="Outage map & live status:  https://status.northwind.example/bristol?from=x ^Ana",
        in_reply_to_external_id="1861000000000000117",
        recipient_external_id="3301001",
        idempotency_key="reply-45",
    )

    assert connector().find_reply(with_link, SINCE) == "1861000000000001010"


def test_find_reply_reads_the_next_page_of_own_tweets(requests_mock: Mocker) -> None:
    tweets = fixture("own_tweets_after_reply.json")
    first = {"data": tweets["data"][:1], "meta": {"result_count": 1, "next_token": "7140dibdnow9c7btw4b0pr8h6"}}
    second = {"data": tweets["data"][1:], "meta": {"result_count": 3}}
    requests_mock.get(OWN_TWEETS_URL, [answer(first), answer(second)])

    assert connector().find_reply(PUBLIC, SINCE) == "1861000000000000999"
    assert sent_params(requests_mock.request_history[1])["pagination_token"] == "7140dibdnow9c7btw4b0pr8h6"


def test_find_reply_does_not_guess_when_more_pages_follow_than_it_may_read(requests_mock: Mocker) -> None:
    page = {"data": fixture("own_tweets_after_reply.json")["data"][:1], "meta": {"next_token": "more"}}
    requests_mock.get(OWN_TWEETS_URL, [answer(page)])

    with pytest.raises(PlatformError) as raised:
        connector(max_pages=2).find_reply(PUBLIC, SINCE)

    assert (raised.value.permanent, raised.value.code) == (True, "lookup_incomplete")
    assert requests_mock.call_count == 2


def test_find_reply_with_no_tweets_since_finds_nothing(requests_mock: Mocker) -> None:
    requests_mock.get(OWN_TWEETS_URL, [answer(fixture("empty.json"))])

    assert connector().find_reply(PUBLIC, SINCE) is None


@time_machine.travel(NOW, tick=False)
def test_a_rate_limited_lookup_is_temporary(requests_mock: Mocker) -> None:
    requests_mock.get(OWN_TWEETS_URL, [answer(fixture("rate_limited_429.json"), status=429)])

    with pytest.raises(PlatformError) as raised:
        connector().find_reply(PUBLIC, SINCE)

    assert (raised.value.permanent, raised.value.code) == (False, "rate_limited")
    assert raised.value.retry_at == NOW + timedelta(minutes=15)


def test_find_reply_needs_an_aware_since() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        connector().find_reply(PUBLIC, datetime(2026, 11, 20, 10, 40))


# --- find_reply: direct messages ---------------------------------------------------------


def test_find_reply_finds_our_direct_message_in_the_conversation_with_the_recipient(requests_mock: Mocker) -> None:
    requests_mock.get(DM_CONVERSATION_URL, [answer(fixture("dm_conversation_events.json"))])

    assert connector().find_reply(PRIVATE, SINCE) == "1861000000000000460"

    (request,) = requests_mock.request_history
    params = sent_params(request)
    assert params["dm_event.fields"] == "id,text,created_at,sender_id"
    assert "pagination_token" not in params
    assert request.headers["Authorization"].startswith("OAuth ")


def test_find_reply_ignores_the_customer_sending_the_same_text(requests_mock: Mocker) -> None:
    events = fixture("dm_conversation_events.json")
    ours = next(event for event in events["data"] if event["sender_id"] == ACCOUNT_ID)
    ours["sender_id"] = PSID  # the customer pasted our words back
    del events["meta"]["next_token"]
    requests_mock.get(DM_CONVERSATION_URL, [answer(events)])

    assert connector().find_reply(PRIVATE, SINCE) is None


def test_find_reply_ignores_our_message_from_before_since_and_reads_no_older_page(requests_mock: Mocker) -> None:
    requests_mock.get(DM_CONVERSATION_URL, [answer(fixture("dm_conversation_events.json"))])

    # The page reaches back past since, so its next_token is not followed.
    assert connector().find_reply(PRIVATE, datetime(2026, 11, 20, 10, 42, tzinfo=UTC)) is None
    assert requests_mock.call_count == 1


def test_find_reply_reads_older_dm_pages_until_since(requests_mock: Mocker) -> None:
    events = fixture("dm_conversation_events.json")
    first = {"data": events["data"][:1], "meta": {"result_count": 1, "next_token": "18LAA581J5II7LA00C00YYYY"}}
    second = {"data": events["data"][1:], "meta": {"result_count": 2}}
    requests_mock.get(DM_CONVERSATION_URL, [answer(first), answer(second)])

    assert connector().find_reply(PRIVATE, SINCE) == "1861000000000000460"
    assert sent_params(requests_mock.request_history[1])["pagination_token"] == "18LAA581J5II7LA00C00YYYY"


def test_find_reply_with_a_revoked_token_fails_permanently(requests_mock: Mocker) -> None:
    requests_mock.get(DM_CONVERSATION_URL, [answer(fixture("unauthorized_401.json"), status=401)])

    with pytest.raises(PlatformError) as raised:
        connector().find_reply(PRIVATE, SINCE)

    assert (raised.value.permanent, raised.value.code) == (True, "unauthorized")
    assert_no_secret(raised.value)
