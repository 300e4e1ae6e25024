"""Replies on Facebook: post_reply and find_reply with the real facebook-sdk against mocked Graph API answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import time_machine
from requests_mock import Mocker

from monitoring.platforms import AccountRef, PlatformError, ReplyRequest
from monitoring.platforms.facebook import FacebookConnector

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "facebook"
PAGE_ID = "501234567890123"
TOKEN = "EAAGm0PX4ZCpsBAKZBsecretpagetoken0123456789"
GRAPH = "https://graph.facebook.com/v21.0"
COMMENT_ID = "998877665544_112233445566"  # Marta's comment, which the public reply answers
PSID = "6543210987654321"  # Aisha, who wrote to the Page on Messenger
COMMENT_REPLIES_URL = f"{GRAPH}/{COMMENT_ID}/comments"
MESSAGES_URL = f"{GRAPH}/{PAGE_ID}/messages"
CONVERSATIONS_URL = f"{GRAPH}/{PAGE_ID}/conversations"
SINCE = datetime(2026, 11, 20, 10, 10, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)

PUBLIC = ReplyRequest(
    channel="facebook_public",
    text="We are looking into it Marta, sending you a message now",
    in_reply_to_external_id=COMMENT_ID,
    recipient_external_id="7001002003",
    idempotency_key="reply-51",
)
PRIVATE = ReplyRequest(
    channel="facebook_messenger",
    text="Thanks, checking now",
    in_reply_to_external_id="m_AbCdEf0123456789_nw",
    recipient_external_id=PSID,
    idempotency_key="reply-52",
    private=True,
)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def connector(token: str = TOKEN, *, timeout: float = 10.0) -> FacebookConnector:
    account = AccountRef(
        id=7, platform="facebook", external_id=PAGE_ID, handle="Northwind", credentials={"page_access_token": token}
    )
    return FacebookConnector(account, timeout=timeout)


def answer(body: Any, *, status: int = 200) -> dict[str, Any]:
    """One Graph API answer for requests-mock: facebook-sdk reads the body as JSON only when labelled so."""
    return {"json": body, "status_code": status, "headers": {"Content-Type": "application/json"}}


def form(request: Any) -> dict[str, str]:
    """The form fields a POST carried."""
    return {name: values[-1] for name, values in parse_qs(request.text).items()}


def query(request: Any) -> dict[str, str]:
    """The query a request carried, case kept (``.qs`` lower-cases values)."""
    return {name: values[-1] for name, values in parse_qs(urlsplit(request.url).query).items()}


def assert_no_token(error: PlatformError) -> None:
    assert TOKEN not in str(error)
    assert TOKEN not in error.message
    # Nothing chained either: a logged traceback would print the SDK's exception, request URL and all.
    assert error.__context__ is None


# ------------------------------------------------------------------------------------------------ post_reply


def test_a_public_reply_is_a_comment_answering_the_customers_comment(requests_mock: Mocker) -> None:
    requests_mock.post(COMMENT_REPLIES_URL, [answer(fixture("graph_comment_reply_200.json"))])

    reply_id = connector().post_reply(PUBLIC)

    assert reply_id == "998877665544_112233445700"
    (request,) = requests_mock.request_history
    assert request.method == "POST"
    assert form(request) == {"message": PUBLIC.text, "access_token": TOKEN}
    assert query(request) == {}  # the token travels in the body, never in the URL


def test_a_private_reply_is_a_messenger_response_to_the_customers_psid(requests_mock: Mocker) -> None:
    requests_mock.post(MESSAGES_URL, [answer(fixture("graph_send_message_200.json"))])

    reply_id = connector().post_reply(PRIVATE)

    assert reply_id == "m_reply_0001_nw"
    (request,) = requests_mock.request_history
    assert request.method == "POST"
    sent = form(request)
    assert json.loads(sent.pop("recipient")) == {"id": PSID}
    assert json.loads(sent.pop("message")) == {"text": "Thanks, checking now"}
    assert sent == {"messaging_type": "RESPONSE", "access_token": TOKEN}


def test_a_reply_marked_private_goes_by_messenger_whatever_its_channel(requests_mock: Mocker) -> None:
    requests_mock.post(MESSAGES_URL, [answer(fixture("graph_send_message_200.json"))])
    request = ReplyRequest(
        "facebook_public", "Sending you a message, Marta", COMMENT_ID, PSID, "reply-53", private=True
    )

    assert connector().post_reply(request) == "m_reply_0001_nw"
    assert json.loads(form(requests_mock.request_history[0])["recipient"]) == {"id": PSID}


@pytest.mark.parametrize("request_", [PUBLIC, PRIVATE], ids=["public", "private"])
@pytest.mark.parametrize("call", ["post_reply", "find_reply"])
def test_replies_need_a_page_token_and_nothing_is_sent_without_one(
    requests_mock: Mocker, request_: ReplyRequest, call: str
) -> None:
    facebook = connector(token="")

    with pytest.raises(PlatformError) as raised:
        facebook.post_reply(request_) if call == "post_reply" else facebook.find_reply(request_, SINCE)

    assert (raised.value.permanent, raised.value.code) == (True, "no_credentials")
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("url", "request_", "fixture_name", "status", "permanent", "code"),
    [
        (COMMENT_REPLIES_URL, PUBLIC, "graph_error_expired_token.json", 400, True, "unauthorized"),
        (MESSAGES_URL, PRIVATE, "graph_error_expired_token.json", 400, True, "unauthorized"),
        (MESSAGES_URL, PRIVATE, "graph_error_outside_window.json", 400, True, "outside_window"),
        (COMMENT_REPLIES_URL, PUBLIC, "graph_error_deleted_comment.json", 400, True, "target_gone"),
        (MESSAGES_URL, PRIVATE, "graph_error_person_unavailable.json", 400, True, "target_gone"),
        (COMMENT_REPLIES_URL, PUBLIC, "graph_error_rate_limited.json", 400, False, "rate_limited"),
        (MESSAGES_URL, PRIVATE, "graph_error_transient.json", 500, False, "server_error"),
    ],
    ids=[
        "190-comment",
        "190-message",
        "outside-24-hour-window",
        "deleted-comment",
        "person-unavailable",
        "rate-limit",
        "transient",
    ],
)
def test_graph_errors_on_a_reply_map_to_permanent_or_temporary_platform_errors(
    requests_mock: Mocker,
    url: str,
    request_: ReplyRequest,
    fixture_name: str,
    status: int,
    permanent: bool,
    code: str,
) -> None:
    body = fixture(fixture_name)
    requests_mock.post(url, [answer(body, status=status)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(request_)

    error = raised.value
    assert (error.permanent, error.code, error.status) == (permanent, code, status)
    assert body["error"]["message"] in error.message
    assert error.rate_limited is (code == "rate_limited")
    assert_no_token(error)


def test_outside_the_messaging_window_says_the_24_hour_window_closed(requests_mock: Mocker) -> None:
    requests_mock.post(MESSAGES_URL, [answer(fixture("graph_error_outside_window.json"), status=400)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PRIVATE)

    assert "within 24 hours of the customer's last message" in raised.value.message


@time_machine.travel(NOW, tick=False)
def test_a_rate_limited_reply_is_retried_five_minutes_later(requests_mock: Mocker) -> None:
    requests_mock.post(MESSAGES_URL, [answer(fixture("graph_error_rate_limited.json"), status=400)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PRIVATE)

    assert raised.value.retry_at == NOW + timedelta(minutes=5)


def test_a_5xx_without_an_error_object_is_a_temporary_server_error(requests_mock: Mocker) -> None:
    requests_mock.post(COMMENT_REPLIES_URL, [answer({}, status=503)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PUBLIC)

    assert (raised.value.permanent, raised.value.code, raised.value.status) == (False, "server_error", 503)


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (requests.ReadTimeout(f"Read timed out. (url: /v21.0/{PAGE_ID}/messages?access_token={TOKEN})"), "timeout"),
        (
            requests.ConnectionError(f"Max retries exceeded with url: /messages?access_token={TOKEN}"),
            "connection_error",
        ),
    ],
)
def test_a_network_failure_is_temporary_and_shows_no_token(
    requests_mock: Mocker, failure: Exception, code: str
) -> None:
    requests_mock.post(MESSAGES_URL, exc=failure)

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PRIVATE)

    assert (raised.value.permanent, raised.value.code) == (False, code)
    assert_no_token(raised.value)


def test_a_token_in_a_graph_error_message_is_scrubbed(requests_mock: Mocker) -> None:
    leaky = {"error": {"message": f"Invalid OAuth access token {TOKEN}", "type": "OAuthException", "code": 190}}
    requests_mock.post(COMMENT_REPLIES_URL, [answer(leaky, status=400)])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PUBLIC)

    assert raised.value.code == "unauthorized"
    assert "[redacted]" in raised.value.message
    assert_no_token(raised.value)


def test_an_answer_without_an_id_is_temporary_so_find_reply_decides(requests_mock: Mocker) -> None:
    requests_mock.post(MESSAGES_URL, [answer({"recipient_id": PSID})])

    with pytest.raises(PlatformError) as raised:
        connector().post_reply(PRIVATE)

    assert (raised.value.permanent, raised.value.code) == (False, "bad_response")


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (ReplyRequest("facebook_public", "Hi", "", "7001002003", "k1"), "bad_request"),
        (ReplyRequest("facebook_messenger", "Hi", "m_1", "", "k2"), "bad_request"),
        (ReplyRequest("facebook_messenger", "", "m_1", PSID, "k3"), "bad_request"),
        (ReplyRequest("x_public", "Hi", COMMENT_ID, PSID, "k4"), "unsupported"),
    ],
    ids=["comment-without-target", "message-without-recipient", "without-text", "other-platforms-channel"],
)
def test_a_reply_without_its_target_is_refused_before_calling_facebook(
    requests_mock: Mocker, request_: ReplyRequest, code: str
) -> None:
    with pytest.raises(PlatformError) as raised:
        connector().post_reply(request_)

    assert (raised.value.permanent, raised.value.code) == (True, code)
    assert requests_mock.call_count == 0


# ------------------------------------------------------------------------------------------------ find_reply


def test_find_reply_finds_the_pages_comment_among_the_replies_to_the_comment(requests_mock: Mocker) -> None:
    requests_mock.get(COMMENT_REPLIES_URL, [answer(fixture("graph_comment_replies.json"))])

    assert connector().find_reply(PUBLIC, SINCE) == "998877665544_112233445599"

    (request,) = requests_mock.request_history
    assert query(request) == {
        "fields": "id,message,from,created_time",
        "order": "reverse_chronological",
        "access_token": TOKEN,
    }


def test_find_reply_ignores_someone_elses_comment_with_the_same_text(requests_mock: Mocker) -> None:
    replies = fixture("graph_comment_replies.json")
    replies["data"][1]["from"] = {"id": "7008009001", "name": "Hannah Lee"}  # quoting the Page word for word
    requests_mock.get(COMMENT_REPLIES_URL, [answer(replies)])

    assert connector().find_reply(PUBLIC, SINCE) is None


def test_find_reply_ignores_a_comment_without_an_author(requests_mock: Mocker) -> None:
    # Graph leaves out ``from`` where the token may not read the author.
    replies = fixture("graph_comment_replies.json")
    del replies["data"][1]["from"]
    requests_mock.get(COMMENT_REPLIES_URL, [answer(replies)])

    assert connector().find_reply(PUBLIC, SINCE) is None


def test_find_reply_ignores_a_different_text_and_compares_whitespace_loosely(requests_mock: Mocker) -> None:
    requests_mock.get(COMMENT_REPLIES_URL, [answer(fixture("graph_comment_replies.json"))])
    facebook = connector()
    other = ReplyRequest("facebook_public", "Marta, we are on it", COMMENT_ID, "7001002003", "reply-54")
    spaced = ReplyRequest("facebook_public", f"  {PUBLIC.text.replace(' ', '  ')}\n", COMMENT_ID, "7001002003", "k")

    assert facebook.find_reply(other, SINCE) is None
    assert facebook.find_reply(spaced, SINCE) == "998877665544_112233445599"


def test_find_reply_ignores_the_pages_comment_from_before_since(requests_mock: Mocker) -> None:
    requests_mock.get(COMMENT_REPLIES_URL, [answer(fixture("graph_comment_replies.json"))])

    assert connector().find_reply(PUBLIC, datetime(2026, 11, 20, 10, 20, 1, tzinfo=UTC)) is None


def test_find_reply_compares_times_to_the_second_as_graph_reports_them(requests_mock: Mocker) -> None:
    requests_mock.get(COMMENT_REPLIES_URL, [answer(fixture("graph_comment_replies.json"))])

    since = datetime(2026, 11, 20, 10, 20, 0, 700_000, tzinfo=UTC)

    assert connector().find_reply(PUBLIC, since) == "998877665544_112233445599"


def test_find_reply_follows_paging_next_without_repeating_the_token(requests_mock: Mocker) -> None:
    replies = fixture("graph_comment_replies.json")
    first = {
        "data": replies["data"][:1],
        "paging": {"next": f"{COMMENT_REPLIES_URL}?access_token={TOKEN}&order=reverse_chronological&after=QVFIUnRv"},
    }
    second = {"data": replies["data"][1:]}
    requests_mock.get(COMMENT_REPLIES_URL, [answer(first), answer(second)])

    assert connector().find_reply(PUBLIC, SINCE) == "998877665544_112233445599"
    assert query(requests_mock.request_history[1])["after"] == "QVFIUnRv"


def test_find_reply_reads_no_page_older_than_since(requests_mock: Mocker) -> None:
    replies = fixture("graph_comment_replies.json")
    replies["paging"]["next"] = f"{COMMENT_REPLIES_URL}?access_token={TOKEN}&after=QVFIUnRv"
    requests_mock.get(COMMENT_REPLIES_URL, [answer(replies)])

    assert connector().find_reply(PUBLIC, datetime(2026, 11, 20, 10, 21, tzinfo=UTC)) is None
    assert requests_mock.call_count == 1


def test_find_reply_does_not_guess_when_more_pages_follow_than_it_may_read(requests_mock: Mocker) -> None:
    newest = fixture("graph_comment_replies.json")["data"][:1]
    endless = {"data": newest, "paging": {"next": f"{COMMENT_REPLIES_URL}?access_token={TOKEN}&after=more"}}
    requests_mock.get(COMMENT_REPLIES_URL, [answer(endless)])
    facebook = connector()
    facebook.max_pages = 3

    with pytest.raises(PlatformError) as raised:
        facebook.find_reply(PUBLIC, SINCE)

    assert (raised.value.permanent, raised.value.code) == (True, "lookup_incomplete")
    assert requests_mock.call_count == 3


def test_find_reply_on_a_deleted_comment_is_target_gone(requests_mock: Mocker) -> None:
    requests_mock.get(COMMENT_REPLIES_URL, [answer(fixture("graph_error_deleted_comment.json"), status=400)])

    with pytest.raises(PlatformError) as raised:
        connector().find_reply(PUBLIC, SINCE)

    assert (raised.value.permanent, raised.value.code) == (True, "target_gone")
    assert_no_token(raised.value)


def test_find_reply_on_a_transient_error_is_temporary(requests_mock: Mocker) -> None:
    requests_mock.get(CONVERSATIONS_URL, [answer(fixture("graph_error_transient.json"), status=500)])

    with pytest.raises(PlatformError) as raised:
        connector().find_reply(PRIVATE, SINCE)

    assert (raised.value.permanent, raised.value.code) == (False, "server_error")


def test_find_reply_on_an_answer_of_the_wrong_shape_is_temporary(requests_mock: Mocker) -> None:
    requests_mock.get(COMMENT_REPLIES_URL, [answer({"data": [{"id": "1_2", "created_time": "yesterday"}]})])

    with pytest.raises(PlatformError) as raised:
        connector().find_reply(PUBLIC, SINCE)

    assert (raised.value.permanent, raised.value.code) == (False, "bad_response")


def test_find_reply_finds_the_pages_message_in_the_conversation_with_the_customer(requests_mock: Mocker) -> None:
    requests_mock.get(CONVERSATIONS_URL, [answer(fixture("graph_conversation_with_user.json"))])

    assert connector().find_reply(PRIVATE, SINCE) == "m_reply_0001_nw"

    (request,) = requests_mock.request_history
    assert query(request) == {
        "platform": "messenger",
        "user_id": PSID,
        "fields": "messages.limit(25){id,message,from,created_time}",
        "access_token": TOKEN,
    }


def test_find_reply_ignores_the_customer_sending_the_same_text(requests_mock: Mocker) -> None:
    conversation = fixture("graph_conversation_with_user.json")
    conversation["data"][0]["messages"]["data"][1]["from"] = {"name": "Aisha Khan", "id": PSID}
    requests_mock.get(CONVERSATIONS_URL, [answer(conversation)])

    assert connector().find_reply(PRIVATE, SINCE) is None


def test_find_reply_ignores_the_pages_message_from_before_since(requests_mock: Mocker) -> None:
    requests_mock.get(CONVERSATIONS_URL, [answer(fixture("graph_conversation_with_user.json"))])

    assert connector().find_reply(PRIVATE, datetime(2026, 11, 20, 10, 15, 3, tzinfo=UTC)) is None


def test_find_reply_without_a_conversation_finds_nothing(requests_mock: Mocker) -> None:
    requests_mock.get(CONVERSATIONS_URL, [answer({"data": []})])

    assert connector().find_reply(PRIVATE, SINCE) is None


def test_find_reply_needs_an_aware_since() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        connector().find_reply(PUBLIC, datetime(2026, 11, 20, 10, 10))
