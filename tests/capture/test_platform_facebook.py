"""The Facebook connector: the real facebook-sdk against mocked Graph API answers, and Meta's webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import time_machine
from requests_mock import Mocker

import monitoring.platforms
from core.models import Channel, Platform
from core.posts import Author, Deletion
from monitoring.platforms import AccountRef, MalformedPayload, PlatformError, QuerySpec
from monitoring.platforms.facebook import (
    CONVERSATION_FIELDS,
    FEED_FIELDS,
    MESSENGER_CHANNEL,
    PUBLIC_CHANNEL,
    FacebookConnector,
    handshake_response,
    parse_webhook,
    signature_valid,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "facebook"
PAGE_ID = "501234567890123"
TOKEN = "EAAGm0PX4ZCpsBAKZBsecretpagetoken0123456789"
GRAPH = "https://graph.facebook.com/v21.0"
FEED_URL = f"{GRAPH}/{PAGE_ID}/feed"
CONVERSATIONS_URL = f"{GRAPH}/{PAGE_ID}/conversations"
NOTHING: dict[str, Any] = {"data": []}
APP_SECRET = "app_secret_123"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def unix(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def connector(token: str = TOKEN, timeout: float = 10.0) -> FacebookConnector:
    account = AccountRef(
        id=7,
        platform="facebook",
        external_id=PAGE_ID,
        handle="Northwind",
        credentials={"page_access_token": token},
    )
    return FacebookConnector(account, timeout=timeout)


# A cursor from a poll a day earlier: both listings read from 2026-11-19 00:00 UTC.
SINCE = unix("2026-11-19T00:00:00+00:00")
CURSOR: dict[str, Any] = {"feed": {"since": SINCE}, "messenger": {"since": SINCE}}


@pytest.fixture
def graph(requests_mock: Mocker) -> Mocker:
    """The Graph API, mocked: a URL given several answers returns them in turn (the last one repeats)."""
    return requests_mock


def answer(body: Any, *, status: int = 200) -> dict[str, Any]:
    """One Graph API answer for requests-mock: facebook-sdk reads the body as JSON only when labelled so."""
    return {"json": body, "status_code": status, "headers": {"Content-Type": "application/json"}}


def sent(request: Any) -> dict[str, str]:
    """The query a mocked request was sent with, one value per name, case kept (``.qs`` lower-cases values)."""
    return {name: values[-1] for name, values in parse_qs(urlparse(request.url).query).items()}


def calls_to(graph: Mocker, url: str) -> list[Any]:
    return [request for request in graph.request_history if request.url.split("?")[0] == url]


def by_id(posts: list[Any]) -> dict[str, Any]:
    return {post.external_id: post for post in posts}


# ------------------------------------------------------------------------------------------------ the feed


def test_it_is_registered_as_the_facebook_connector() -> None:
    assert FacebookConnector.platform == Platform.FACEBOOK == "facebook"
    assert monitoring.platforms._REGISTRY["facebook"] is FacebookConnector
    assert (PUBLIC_CHANNEL, MESSENGER_CHANNEL) == (Channel.FACEBOOK_PUBLIC, Channel.FACEBOOK_MESSENGER)


def test_feed_poll_captures_a_visitor_comment_as_its_own_thread_answering_the_post(graph: Mocker) -> None:
    feed = fixture("graph_feed_poll.json")
    del feed["paging"]["next"]
    graph.get(FEED_URL, [answer(feed)])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])

    posts = by_id(connector().poll(CURSOR).posts)

    comment = posts["998877665544_112233445566"]
    assert comment.platform == "facebook"
    assert comment.channel == "facebook_public"
    assert comment.thread_key == "998877665544_112233445566"
    assert comment.in_reply_to_external_id == "501234567890123_998877665544"
    assert comment.text == "Three weeks waiting for my refund. Order NW-40021. Please call me back"
    assert comment.author == Author(platform="facebook", external_id="7001002003", display_name="Marta Jovanović")
    assert comment.sent_at == datetime(2026, 11, 20, 10, 4, 58, tzinfo=UTC)
    assert comment.account_id == 7
    assert comment.edited is False
    assert comment.raw == feed["data"][0]["comments"]["data"][0]


def test_feed_poll_keeps_the_pages_own_reply_written_by_the_page_id_threaded_to_the_parent(graph: Mocker) -> None:
    feed = fixture("graph_feed_poll.json")
    del feed["paging"]["next"]
    graph.get(FEED_URL, [answer(feed)])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])

    posts = by_id(connector().poll(CURSOR).posts)

    reply = posts["998877665544_112233445599"]
    assert reply.author.external_id == PAGE_ID  # the pipeline recognises the Page's own posts by this
    assert reply.author.display_name == "Northwind"
    assert reply.thread_key == "998877665544_112233445566"
    assert reply.in_reply_to_external_id == "998877665544_112233445566"


def test_feed_poll_skips_the_pages_own_posts_but_captures_visitor_posts_without_their_comments_in_raw(
    graph: Mocker,
) -> None:
    graph.get(FEED_URL, [answer(fixture("graph_feed_poll_page2.json"))])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])

    posts = by_id(connector().poll(CURSOR).posts)

    assert set(posts) == {"501234567890123_998877660001", "998877660001_112233440001"}
    visitor_post = posts["501234567890123_998877660001"]
    assert visitor_post.thread_key == "501234567890123_998877660001"
    assert visitor_post.in_reply_to_external_id == ""
    assert visitor_post.author.external_id == "7004005006"
    # The comments connection is captured as posts of its own; its paging links would carry the token.
    assert "comments" not in visitor_post.raw
    assert visitor_post.raw["message"].startswith("Is the Bristol store open")


def test_feed_poll_asks_for_all_comments_and_replies_since_the_cursor_with_the_timeout(graph: Mocker) -> None:
    graph.get(FEED_URL, [answer(NOTHING)])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])

    connector(timeout=3.5).poll(CURSOR)

    [feed_call] = calls_to(graph, FEED_URL)
    assert sent(feed_call) == {"fields": FEED_FIELDS, "since": str(SINCE), "access_token": TOKEN}
    assert "comments.filter(stream)" in FEED_FIELDS  # without it Graph returns top-level comments only
    assert feed_call.timeout == 3.5
    [conversations_call] = calls_to(graph, CONVERSATIONS_URL)
    assert sent(conversations_call) == {"platform": "messenger", "fields": CONVERSATION_FIELDS, "access_token": TOKEN}
    assert conversations_call.timeout == 3.5


def test_poll_advances_the_cursor_to_the_newest_post_seen_minus_the_overlap(graph: Mocker) -> None:
    feed = fixture("graph_feed_poll.json")
    del feed["paging"]["next"]
    graph.get(FEED_URL, [answer(feed)])
    graph.get(CONVERSATIONS_URL, [answer(fixture("graph_conversations_poll.json"))])

    page = connector().poll(CURSOR)

    # The Page's reply at 10:20:00 is the newest feed item; the newest conversation was updated at 10:15:02.
    assert page.cursor == {
        "feed": {"since": unix("2026-11-20T10:20:00+00:00") - 300},
        "messenger": {"since": unix("2026-11-20T10:15:02+00:00") - 300},
    }


def test_the_next_poll_sends_the_advanced_since(graph: Mocker) -> None:
    feed = fixture("graph_feed_poll.json")
    del feed["paging"]["next"]
    graph.get(FEED_URL, [answer(feed), answer(NOTHING)])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])
    fb = connector()

    first = fb.poll(CURSOR)
    second = fb.poll(first.cursor)

    feed_calls = calls_to(graph, FEED_URL)
    assert sent(feed_calls[1])["since"] == str(first.cursor["feed"]["since"])
    assert second.posts == []
    assert second.cursor == first.cursor  # nothing new: the window stays where it was


def test_the_cursor_never_moves_back_for_posts_older_than_the_window(graph: Mocker) -> None:
    feed = fixture("graph_feed_poll.json")
    del feed["paging"]["next"]
    graph.get(FEED_URL, [answer(feed)])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])
    later = unix("2026-11-21T00:00:00+00:00")

    page = connector().poll({"feed": {"since": later}, "messenger": {"since": later}})

    assert page.cursor == {"feed": {"since": later}, "messenger": {"since": later}}
    assert len(page.posts) == 2  # returned anyway: duplicates are dropped by the pipeline, gaps are not healed


@time_machine.travel(datetime(2026, 11, 20, 11, 0, tzinfo=UTC), tick=False)
def test_the_first_poll_reads_one_day_back(graph: Mocker) -> None:
    graph.get(FEED_URL, [answer(NOTHING)])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])

    page = connector().poll({})

    day_ago = unix("2026-11-19T11:00:00+00:00")
    assert sent(calls_to(graph, FEED_URL)[0])["since"] == str(day_ago)
    assert page.cursor == {"feed": {"since": day_ago}, "messenger": {"since": day_ago}}


def test_an_unreadable_cursor_starts_afresh_instead_of_failing(graph: Mocker) -> None:
    graph.get(FEED_URL, [answer(NOTHING)])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])

    page = connector().poll({"feed": {"since": "yesterday"}, "messenger": [1, 2]})

    assert set(page.cursor) == {"feed", "messenger"}
    assert isinstance(page.cursor["feed"]["since"], int)


def test_feed_poll_follows_paging_next_to_the_second_page_without_losing_the_fields(graph: Mocker) -> None:
    graph.get(FEED_URL, [answer(fixture("graph_feed_poll.json")), answer(fixture("graph_feed_poll_page2.json"))])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])

    page = connector().poll(CURSOR)

    _first, second = calls_to(graph, FEED_URL)
    # The fixture's paging.next carries only after and limit; the SDK sends our token, not the link's.
    assert sent(second) == {
        "fields": FEED_FIELDS,
        "since": str(SINCE),
        "after": "QVFIUk5w",
        "limit": "25",
        "access_token": TOKEN,
    }
    assert set(by_id(page.posts)) == {
        "998877665544_112233445566",
        "998877665544_112233445599",
        "501234567890123_998877660001",
        "998877660001_112233440001",
    }
    assert page.cursor["feed"] == {"since": unix("2026-11-20T10:20:00+00:00") - 300}


def test_feed_poll_stops_at_the_page_cap_and_the_next_poll_resumes_there_before_moving_since(graph: Mocker) -> None:
    graph.get(FEED_URL, [answer(fixture("graph_feed_poll.json")), answer(fixture("graph_feed_poll_page2.json"))])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])
    fb = connector()
    fb.max_pages = 1

    capped = fb.poll(CURSOR)

    assert len(calls_to(graph, FEED_URL)) == 1
    newest = unix("2026-11-20T10:20:00+00:00")
    # The window stays put until the older pages are read, and the token is not kept in the cursor.
    assert capped.cursor["feed"] == {"since": SINCE, "resume": {"after": "QVFIUk5w", "limit": "25"}, "newest": newest}

    resumed = fb.poll(capped.cursor)

    assert sent(calls_to(graph, FEED_URL)[1])["after"] == "QVFIUk5w"
    assert sent(calls_to(graph, FEED_URL)[1])["since"] == str(SINCE)
    assert "501234567890123_998877660001" in by_id(resumed.posts)
    assert resumed.cursor["feed"] == {"since": newest - 300}


def test_an_expired_resume_cursor_rereads_the_window_from_the_top(graph: Mocker) -> None:
    graph.get(
        FEED_URL,
        [
            answer({"error": {"message": "(#100) Invalid cursor", "type": "OAuthException", "code": 100}}, status=400),
            answer(fixture("graph_feed_poll_page2.json")),
        ],
    )
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])
    cursor = {"feed": {"since": SINCE, "resume": {"after": "stale"}, "newest": SINCE}, "messenger": {"since": SINCE}}

    page = connector().poll(cursor)

    stale, fresh = calls_to(graph, FEED_URL)
    assert sent(stale)["after"] == "stale"
    assert "after" not in sent(fresh)
    assert len(page.posts) == 2
    assert page.cursor["feed"] == {"since": unix("2026-11-20T08:41:07+00:00") - 300}


def test_a_posts_further_comment_pages_are_read_while_they_are_inside_the_window(graph: Mocker) -> None:
    feed = fixture("graph_feed_poll_page2.json")
    comments = feed["data"][0]["comments"]
    comments["paging"]["next"] = (
        f"{GRAPH}/998877660001/comments?access_token=PAGE_TOKEN&filter=stream&order=reverse_chronological"
        "&limit=100&after=QVFIUkN0"
    )
    older_comment = {
        "id": "998877660001_112233440000",
        "message": "Open 10 to 4 on Sundays I think",
        "created_time": "2026-11-20T08:35:00+0000",
        "from": {"id": "7008009002", "name": "Leo Brandt"},
    }
    comments_url = f"{GRAPH}/998877660001/comments"
    graph.get(FEED_URL, [answer(feed)])
    graph.get(comments_url, [answer({"data": [older_comment], "paging": {"cursors": {"after": "QVFIUkN1"}}})])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])

    page = connector().poll(CURSOR)

    [comments_call] = calls_to(graph, comments_url)
    assert sent(comments_call) == {
        "filter": "stream",
        "order": "reverse_chronological",
        "limit": "100",
        "after": "QVFIUkN0",
        "access_token": TOKEN,
    }
    assert by_id(page.posts)["998877660001_112233440000"].thread_key == "998877660001_112233440000"


def test_comment_pages_older_than_the_window_are_not_read(graph: Mocker) -> None:
    feed = fixture("graph_feed_poll_page2.json")
    feed["data"][0]["comments"]["paging"]["next"] = f"{GRAPH}/998877660001/comments?access_token=X&after=QVFIUkN0"
    graph.get(FEED_URL, [answer(feed)])
    graph.get(CONVERSATIONS_URL, [answer(NOTHING)])
    later = unix("2026-11-20T09:00:00+00:00")

    connector().poll({"feed": {"since": later}, "messenger": {"since": later}})

    assert calls_to(graph, f"{GRAPH}/998877660001/comments") == []


# ------------------------------------------------------------------------------------------------ Messenger


def test_messenger_poll_captures_messages_threaded_by_the_customers_psid(graph: Mocker) -> None:
    conversations = fixture("graph_conversations_poll.json")
    graph.get(FEED_URL, [answer(NOTHING)])
    graph.get(CONVERSATIONS_URL, [answer(conversations)])

    posts = by_id(connector().poll(CURSOR).posts)

    message = posts["m_AbCdEf0123456789_nw"]
    assert message.channel == "facebook_messenger"
    assert message.thread_key == "6543210987654321"
    assert message.author.external_id == "6543210987654321"
    assert message.author.display_name == "Aisha Khan"
    assert message.text == "Hi, is there an outage in Bristol? My TV box shows error E-17"
    assert message.sent_at == datetime(2026, 11, 20, 10, 14, 59, tzinfo=UTC)
    assert message.account_id == 7
    assert message.raw == conversations["data"][0]["messages"]["data"][1]


def test_messenger_poll_keeps_the_pages_own_messages_in_the_customers_thread(graph: Mocker) -> None:
    graph.get(FEED_URL, [answer(NOTHING)])
    graph.get(CONVERSATIONS_URL, [answer(fixture("graph_conversations_poll.json"))])

    reply = by_id(connector().poll(CURSOR).posts)["m_reply_0001_nw"]

    assert reply.author.external_id == PAGE_ID
    assert reply.thread_key == "6543210987654321"


def test_messenger_poll_stops_at_the_first_conversation_not_updated_since_the_cursor(graph: Mocker) -> None:
    graph.get(FEED_URL, [answer(NOTHING)])
    graph.get(CONVERSATIONS_URL, [answer(fixture("graph_conversations_poll.json"))])

    posts = by_id(connector().poll(CURSOR).posts)

    assert "m_Old0000000000001_nw" not in posts  # last updated 2026-11-17, before the cursor
    assert len(calls_to(graph, CONVERSATIONS_URL)) == 1  # paging.next is not followed past it


def test_messenger_poll_follows_paging_next_while_conversations_are_recent(graph: Mocker) -> None:
    first_page = fixture("graph_conversations_poll.json")
    old_conversation = first_page["data"].pop()
    graph.get(FEED_URL, [answer(NOTHING)])
    graph.get(CONVERSATIONS_URL, [answer(first_page), answer({"data": [old_conversation]})])

    page = connector().poll(CURSOR)

    second = calls_to(graph, CONVERSATIONS_URL)[1]
    assert sent(second)["after"] == "QVFIUkNz"
    assert "m_Old0000000000001_nw" not in by_id(page.posts)
    assert page.cursor["messenger"] == {"since": unix("2026-11-20T10:15:02+00:00") - 300}


# ------------------------------------------------------------------------------------------------ search


def test_search_is_refused_because_the_graph_api_has_no_keyword_search(graph: Mocker) -> None:
    with pytest.raises(PlatformError) as raised:
        connector().search(QuerySpec(id=1, keywords=["refund"]), {})

    assert raised.value.permanent is True
    assert raised.value.code == "unsupported"
    assert "no public keyword search" in raised.value.message
    assert graph.call_count == 0


# ------------------------------------------------------------------------------------------------ errors


def test_a_missing_token_is_a_permanent_error_without_calling_facebook(graph: Mocker) -> None:
    with pytest.raises(PlatformError) as raised:
        connector(token="").poll(CURSOR)

    assert raised.value.permanent is True
    assert raised.value.code == "no_credentials"
    assert graph.call_count == 0


def graph_error(code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC123xyz", **extra}}


@pytest.mark.parametrize(
    ("status", "body", "permanent", "code"),
    [
        (400, fixture("graph_error_expired_token.json"), True, "unauthorized"),
        (400, graph_error(4, "(#4) Application request limit reached", is_transient=True), False, "rate_limited"),
        (400, graph_error(17, "(#17) User request limit reached"), False, "rate_limited"),
        (400, graph_error(32, "(#32) Page request limit reached"), False, "rate_limited"),
        (400, graph_error(613, "(#613) Calls to this api have exceeded the rate limit."), False, "rate_limited"),
        (400, fixture("graph_error_outside_window.json"), True, "outside_window"),
        (400, graph_error(100, "(#100) Unsupported get request.", error_subcode=33), True, "bad_request"),
        (500, graph_error(1, "An unknown error occurred", is_transient=False), False, "server_error"),
        (500, graph_error(2, "An unexpected error has occurred.", is_transient=True), False, "server_error"),
        (500, graph_error(368, "Temporarily blocked", is_transient=True), False, "server_error"),
        (403, graph_error(10, "(#10) Application does not have permission for this action"), True, "forbidden"),
        (403, graph_error(200, "(#200) Requires pages_read_engagement permission"), True, "forbidden"),
        (400, graph_error(80001, "There have been too many calls to this Page account"), False, "api_error"),
    ],
    ids=[
        "190-expired-token",
        "4-app-rate-limit",
        "17-user-rate-limit",
        "32-page-rate-limit",
        "613-rate-limit",
        "10-2018278-outside-window",
        "100-bad-parameter",
        "1-unknown",
        "2-transient",
        "is-transient",
        "10-permission",
        "200-permission",
        "unknown-code",
    ],
)
def test_graph_errors_map_to_platform_errors(
    graph: Mocker, status: int, body: dict[str, Any], permanent: bool, code: str
) -> None:
    graph.get(FEED_URL, [answer(body, status=status)])

    with pytest.raises(PlatformError) as raised:
        connector().poll(CURSOR)

    assert raised.value.permanent is permanent
    assert raised.value.code == code
    assert raised.value.status == status
    assert body["error"]["message"] in raised.value.message
    assert raised.value.rate_limited is (code == "rate_limited")


@time_machine.travel(datetime(2026, 11, 20, 11, 0, tzinfo=UTC), tick=False)
def test_a_rate_limit_is_retried_five_minutes_later(graph: Mocker) -> None:
    graph.get(
        FEED_URL, [answer(graph_error(613, "(#613) Calls to this api have exceeded the rate limit."), status=400)]
    )

    with pytest.raises(PlatformError) as raised:
        connector().poll(CURSOR)

    assert raised.value.retry_at == datetime(2026, 11, 20, 11, 5, tzinfo=UTC)


def test_a_502_html_page_from_a_proxy_is_a_temporary_server_error(graph: Mocker) -> None:
    graph.get(
        FEED_URL,
        status_code=502,
        text="<html><body><h1>502 Bad Gateway</h1></body></html>",
        headers={"Content-Type": "text/html"},
    )

    with pytest.raises(PlatformError) as raised:
        connector().poll(CURSOR)

    assert raised.value.permanent is False
    assert raised.value.code == "server_error"
    assert raised.value.status == 502
    assert "HTTP 502" in raised.value.message


def test_a_truncated_json_body_is_a_temporary_bad_response(graph: Mocker) -> None:
    graph.get(
        FEED_URL, status_code=200, text='{"data": [{"id": "1_2", "mess', headers={"Content-Type": "application/json"}
    )

    with pytest.raises(PlatformError) as raised:
        connector().poll(CURSOR)

    assert (raised.value.permanent, raised.value.code) == (False, "bad_response")


def test_an_answer_without_content_type_is_a_temporary_bad_response(graph: Mocker) -> None:
    # facebook-sdk indexes response.headers["content-type"] directly and raises KeyError without one.
    graph.get(FEED_URL, status_code=200, text='{"data": []}')  # requests-mock adds no Content-Type of its own

    with pytest.raises(PlatformError) as raised:
        connector().poll(CURSOR)

    assert (raised.value.permanent, raised.value.code) == (False, "bad_response")
    assert "Content-Type" in raised.value.message


def test_an_html_page_with_status_200_is_a_temporary_bad_response(graph: Mocker) -> None:
    graph.get(
        FEED_URL,
        status_code=200,
        text="<html><body>Sign in to the guest Wi-Fi</body></html>",
        headers={"Content-Type": "text/html"},
    )

    with pytest.raises(PlatformError) as raised:
        connector().poll(CURSOR)

    assert (raised.value.permanent, raised.value.code) == (False, "bad_response")


def test_a_5xx_json_without_an_error_object_is_a_temporary_server_error(graph: Mocker) -> None:
    graph.get(FEED_URL, [answer({"data": []}, status=503)])

    with pytest.raises(PlatformError) as raised:
        connector().poll(CURSOR)

    assert (raised.value.permanent, raised.value.code, raised.value.status) == (False, "server_error", 503)


def test_an_answer_of_the_wrong_shape_is_a_temporary_bad_response(graph: Mocker) -> None:
    graph.get(FEED_URL, [answer({"data": {"id": "not a list"}})])

    with pytest.raises(PlatformError) as raised:
        connector().poll(CURSOR)

    assert (raised.value.permanent, raised.value.code) == (False, "bad_response")


def test_a_connection_error_is_temporary_and_its_url_token_is_scrubbed(graph: Mocker) -> None:
    url = f"{FEED_URL}?access_token={TOKEN}&fields=id"
    graph.get(FEED_URL, exc=requests.ConnectionError(f"Max retries exceeded with url: {url} (Connection refused)"))

    with pytest.raises(PlatformError) as raised:
        connector().poll(CURSOR)

    assert raised.value.permanent is False
    assert raised.value.code == "connection_error"
    assert TOKEN not in str(raised.value)
    assert "access_token=[redacted]" in raised.value.message
    # Nothing chained either: a logged traceback would print the original exception with the URL.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None


def test_a_timeout_is_temporary(graph: Mocker) -> None:
    graph.get(FEED_URL, exc=requests.ReadTimeout(f"Read timed out. (url: /v21.0/feed?access_token={TOKEN})"))

    with pytest.raises(PlatformError) as raised:
        connector(timeout=2).poll(CURSOR)

    assert (raised.value.permanent, raised.value.code) == (False, "timeout")
    assert "2 s" in raised.value.message
    assert TOKEN not in raised.value.message


def test_tokens_are_scrubbed_from_graph_error_messages(graph: Mocker) -> None:
    leaky = f"Invalid OAuth access token - Cannot parse access token {TOKEN}; see /me?access_token={TOKEN}"
    graph.get(FEED_URL, [answer(graph_error(190, leaky), status=400)])

    with pytest.raises(PlatformError) as raised:
        connector().poll(CURSOR)

    assert TOKEN not in str(raised.value)
    assert "[redacted]" in raised.value.message
    assert raised.value.__context__ is None


def test_an_error_on_the_messenger_listing_fails_the_whole_poll_so_no_cursor_moves(graph: Mocker) -> None:
    graph.get(FEED_URL, [answer(fixture("graph_feed_poll_page2.json"))])
    graph.get(
        CONVERSATIONS_URL, [answer(graph_error(2, "Service temporarily unavailable", is_transient=True), status=500)]
    )

    with pytest.raises(PlatformError):
        connector().poll(CURSOR)


# ------------------------------------------------------------------------------------------------ webhooks


CAFE_BODY = (
    b'{"object":"page","entry":[{"id":"1234","time":1718020000,"changes":[{"field":"feed","value":'
    b'{"item":"comment","verb":"add","message":"caf\\u00e9"}}]}]}'
)
CAFE_SIGNATURE = "sha256=9bace3ea0ff7481a2bf62cb15239031161ceb779a50fcd906217b310d018e312"


def test_signature_matches_metas_test_vector_on_the_exact_bytes() -> None:
    assert signature_valid(APP_SECRET, CAFE_BODY, CAFE_SIGNATURE) is True
    # The same JSON re-serialised with the é unescaped is different bytes: it must not verify.
    reserialised = json.dumps(json.loads(CAFE_BODY), separators=(",", ":"), ensure_ascii=False).encode()
    assert signature_valid(APP_SECRET, reserialised, CAFE_SIGNATURE) is False


def test_a_good_signature_on_a_fixture_body_is_valid() -> None:
    import hashlib
    import hmac

    body = (FIXTURES / "webhook_feed_comment.json").read_bytes()
    header = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()

    assert signature_valid(APP_SECRET, body, header) is True


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (APP_SECRET, CAFE_BODY.replace(b"caf", b"tea"), CAFE_SIGNATURE),
        ("another_secret", CAFE_BODY, CAFE_SIGNATURE),
        ("", CAFE_BODY, CAFE_SIGNATURE),
        (APP_SECRET, CAFE_BODY, None),
        (APP_SECRET, CAFE_BODY, ""),
        (APP_SECRET, CAFE_BODY, "sha256="),
        (APP_SECRET, CAFE_BODY, "sha256"),
        (APP_SECRET, CAFE_BODY, CAFE_SIGNATURE.removeprefix("sha256=")),
        (APP_SECRET, CAFE_BODY, CAFE_SIGNATURE.replace("sha256=", "sha1=")),
        (APP_SECRET, CAFE_BODY, CAFE_SIGNATURE[:-2]),
        (APP_SECRET, CAFE_BODY, "sha256=zz" + CAFE_SIGNATURE[9:]),
        (APP_SECRET, CAFE_BODY, "sha256=é" + CAFE_SIGNATURE[8:]),
    ],
    ids=[
        "tampered-body",
        "wrong-secret",
        "no-secret-configured",
        "missing",
        "empty",
        "no-digest",
        "no-equals",
        "no-scheme",
        "sha1",
        "truncated",
        "not-hex",
        "non-ascii",
    ],
)
def test_a_bad_missing_or_garbled_signature_is_invalid(secret: str, body: bytes, header: str | None) -> None:
    assert signature_valid(secret, body, header) is False


def test_handshake_answers_the_challenge_when_the_verify_token_matches() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "verify-me-42", "hub.challenge": "1158201444"}

    assert handshake_response(params, "verify-me-42") == "1158201444"


@pytest.mark.parametrize(
    ("params", "verify_token"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"}, "verify-me-42"),
        ({"hub.mode": "unsubscribe", "hub.verify_token": "verify-me-42", "hub.challenge": "1"}, "verify-me-42"),
        ({"hub.verify_token": "verify-me-42", "hub.challenge": "1158201444"}, "verify-me-42"),
        ({"hub.mode": "subscribe", "hub.challenge": "1158201444"}, "verify-me-42"),
        ({"hub.mode": "subscribe", "hub.verify_token": "verify-me-42"}, "verify-me-42"),
        ({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1158201444"}, ""),
        ({"hub.mode": "subscribe", "hub.verify_token": "verify-me-42", "hub.challenge": "<script>"}, "verify-me-42"),
        ({"hub.mode": "subscribe", "hub.verify_token": "vérify", "hub.challenge": "1"}, "verify-me-42"),
    ],
    ids=[
        "wrong-token",
        "wrong-mode",
        "no-mode",
        "no-token",
        "no-challenge",
        "no-token-configured",
        "markup-challenge",
        "non-ascii-token",
    ],
)
def test_handshake_is_refused_otherwise(params: dict[str, str], verify_token: str) -> None:
    assert handshake_response(params, verify_token) is None


def test_webhook_feed_comment_becomes_a_public_post_threaded_by_the_comment() -> None:
    payload = fixture("webhook_feed_comment.json")

    events = parse_webhook(payload)

    assert list(events) == [PAGE_ID]
    [post] = events[PAGE_ID].posts
    assert post.platform == "facebook"
    assert post.channel == "facebook_public"
    assert post.external_id == "998877665544_112233445566"
    assert post.thread_key == "998877665544_112233445566"
    assert post.in_reply_to_external_id == "501234567890123_998877665544"
    assert post.author == Author(platform="facebook", external_id="7001002003", display_name="Marta Jovanović")
    assert post.text == "Three weeks waiting for my refund. Order NW-40021. Please call me back"
    assert post.sent_at == datetime.fromtimestamp(1763633098, tz=UTC)  # Unix seconds in feed changes
    assert post.edited is False
    assert post.account_id is None  # set by the caller, which knows the account
    assert post.raw == payload["entry"][0]["changes"][0]["value"]
    assert events[PAGE_ID].deletions == []


def test_webhook_edited_comment_becomes_an_edited_post_with_the_new_text() -> None:
    [post] = parse_webhook(fixture("webhook_comment_reply_edited.json"))[PAGE_ID].posts

    assert post.edited is True
    assert post.external_id == "998877665544_112233445566"
    assert post.text.endswith("Please call me back, today if possible")


def test_webhook_reply_threads_under_its_parent_comment_and_reactions_are_ignored() -> None:
    [reply] = parse_webhook(fixture("webhook_feed_reply_and_reaction.json"))[PAGE_ID].posts

    assert reply.external_id == "998877665544_112233445577"
    assert reply.thread_key == "998877665544_112233445566"
    assert reply.in_reply_to_external_id == "998877665544_112233445566"


def test_webhook_visitor_post_becomes_its_own_thread() -> None:
    [post] = parse_webhook(fixture("webhook_feed_visitor_post.json"))[PAGE_ID].posts

    assert (post.external_id, post.thread_key, post.in_reply_to_external_id) == (
        "501234567890123_998877660001",
        "501234567890123_998877660001",
        "",
    )
    assert post.channel == "facebook_public"


def test_webhook_keeps_a_comment_written_by_the_page_itself() -> None:
    payload = fixture("webhook_feed_comment.json")
    payload["entry"][0]["changes"][0]["value"]["from"] = {"id": PAGE_ID, "name": "Northwind"}

    [post] = parse_webhook(payload)[PAGE_ID].posts

    assert post.author.external_id == PAGE_ID


@pytest.mark.parametrize(
    ("name", "verb"), [("webhook_feed_comment_removed.json", "remove"), ("webhook_feed_comment_hidden.json", "hide")]
)
def test_webhook_removed_or_hidden_comment_becomes_a_deletion(name: str, verb: str) -> None:
    payload = fixture(name)

    page = parse_webhook(payload)[PAGE_ID]

    assert page.posts == []
    created = payload["entry"][0]["changes"][0]["value"]["created_time"]
    assert page.deletions == [
        Deletion(platform="facebook", external_id="998877665544_112233445566", at=datetime.fromtimestamp(created, UTC))
    ]


def test_webhook_removed_post_is_a_deletion_of_the_post() -> None:
    payload = fixture("webhook_feed_visitor_post.json")
    payload["entry"][0]["changes"][0]["value"]["verb"] = "remove"

    [deletion] = parse_webhook(payload)[PAGE_ID].deletions

    assert deletion.external_id == "501234567890123_998877660001"


def test_webhook_messenger_text_becomes_a_messenger_post_threaded_by_the_psid() -> None:
    payload = fixture("webhook_messenger_text.json")

    [post] = parse_webhook(payload)[PAGE_ID].posts

    assert post.channel == "facebook_messenger"
    assert post.external_id == "m_AbCdEf0123456789_nw"
    assert post.thread_key == "6543210987654321"
    assert post.author == Author(platform="facebook", external_id="6543210987654321")
    assert post.text == "Hi, is there an outage in Bristol? My TV box shows error E-17"
    assert post.sent_at == datetime.fromtimestamp(1763633699.871, tz=UTC)  # milliseconds in Messenger
    assert post.raw == payload["entry"][0]["messaging"][0]


def test_webhook_messenger_echo_and_read_receipt_capture_nothing() -> None:
    events = parse_webhook(fixture("webhook_messenger_echo_and_read.json"))

    assert events[PAGE_ID].posts == []
    assert events[PAGE_ID].deletions == []


def test_webhook_messenger_attachment_edit_and_reply_and_ignored_receipts() -> None:
    payload = fixture("webhook_messenger_attachment_and_edit.json")

    posts = parse_webhook(payload)[PAGE_ID].posts

    photo, edit, reply = posts  # the delivery receipt and the reaction are dropped
    assert photo.text == "[image attachment]"
    assert photo.raw["message"]["attachments"][0]["payload"]["url"].endswith("error-e17.jpg")
    assert (edit.external_id, edit.edited) == ("m_AbCdEf0123456789_nw", True)
    assert edit.text.endswith("since this morning")
    assert reply.in_reply_to_external_id == "m_AbCdEf0123456789_nw"


def test_webhook_with_entries_for_two_pages_is_split_by_page() -> None:
    events = parse_webhook(fixture("webhook_two_pages.json"))

    assert set(events) == {PAGE_ID, "502000000000777"}
    assert [post.external_id for post in events[PAGE_ID].posts] == [
        "998877665544_112233445566",
        "m_AbCdEf0123456789_nw",
    ]
    assert [post.external_id for post in events["502000000000777"].posts] == ["m_SecondPage000001_nw"]


def test_webhook_ignores_other_fields_and_unknown_feed_items() -> None:
    payload = {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": 1763633100,
                "changes": [
                    {"field": "name", "value": {"page": "Northwind Ltd"}},
                    {"field": "feed", "value": {"item": "like", "verb": "add", "post_id": "1_2"}},
                    {"field": "feed", "value": {"item": "share", "verb": "add", "post_id": "1_2", "link": "x"}},
                ],
            }
        ],
    }

    assert parse_webhook(payload)[PAGE_ID].posts == []


def _feed(**value: Any) -> dict[str, Any]:
    payload = fixture("webhook_feed_comment.json")
    target = payload["entry"][0]["changes"][0]["value"]
    for key, new in value.items():
        if new is DROP:
            del target[key]
        else:
            target[key] = new
    return payload


def _messaging(**event: Any) -> dict[str, Any]:
    payload = fixture("webhook_messenger_text.json")
    target = payload["entry"][0]["messaging"][0]
    for key, new in event.items():
        if new is DROP:
            del target[key]
        else:
            target[key] = new
    return payload


def _entry(**entry: Any) -> dict[str, Any]:
    payload = fixture("webhook_feed_comment.json")
    payload["entry"][0].update(entry)
    return payload


DROP = object()
MESSAGE = {"mid": "m_1", "text": "hi"}


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


MALFORMED: dict[str, Any] = {
    "not-an-object": [],
    "a-string": "page",
    "null": None,
    "object-missing": {"entry": []},
    "object-instagram": {"object": "instagram", "entry": []},
    "entry-missing": {"object": "page"},
    "entry-an-object": {"object": "page", "entry": {"id": PAGE_ID}},
    "entry-item-a-string": {"object": "page", "entry": ["501234567890123"]},
    "entry-id-missing": _entry(id=None),
    "entry-id-a-number": _entry(id=501234567890123),
    "entry-id-empty": _entry(id=""),
    "entry-id-huge": _entry(id="9" * 10_000),
    "changes-an-object": _entry(changes={"field": "feed"}),
    "change-a-list": _entry(changes=[["feed"]]),
    "field-a-number": _entry(changes=[{"field": 1, "value": {}}]),
    "value-a-list": _entry(changes=[{"field": "feed", "value": []}]),
    "value-deeply-nested": _entry(changes=[{"field": "feed", "value": _nested(5_000)}]),
    "value-missing": _entry(changes=[{"field": "feed"}]),
    "item-missing": _feed(item=DROP),
    "verb-a-number": _feed(verb=1),
    "comment-id-missing": _feed(comment_id=DROP),
    "post-id-a-number": _feed(post_id=501234567890123),
    "parent-id-a-list": _feed(parent_id=["x"]),
    "from-missing": _feed(**{"from": DROP}),
    "from-a-string": _feed(**{"from": "Marta"}),
    "from-id-a-number": _feed(**{"from": {"id": 7001002003}}),
    "from-name-an-object": _feed(**{"from": {"id": "7001002003", "name": {"first": "Marta"}}}),
    "message-a-number": _feed(message=42),
    "created-time-missing": _feed(created_time=DROP),
    "created-time-iso": _feed(created_time="2025-11-20T10:04:58+0000"),
    "created-time-float": _feed(created_time=1763633098.5),
    "created-time-bool": _feed(created_time=True),
    "created-time-negative": _feed(created_time=-1),
    "created-time-huge": _feed(created_time=10**30),
    "created-time-in-milliseconds": _feed(created_time=1763633098000),
    "removal-created-time-a-string": _feed(verb="remove", created_time="yesterday"),
    "messaging-an-object": _entry(changes=None, messaging={"sender": {}}),
    "messaging-event-a-string": _entry(changes=None, messaging=["hi"]),
    "message-a-list": _messaging(message=["hi"]),
    "mid-missing": _messaging(message={"text": "hi"}),
    "mid-a-number": _messaging(message={"mid": 1, "text": "hi"}),
    "text-a-number": _messaging(message={"mid": "m_1", "text": 42}),
    "is-echo-a-string": _messaging(message={"mid": "m_1", "text": "hi", "is_echo": "yes"}),
    "attachments-an-object": _messaging(message={"mid": "m_1", "attachments": {"type": "image"}}),
    "attachment-type-a-number": _messaging(message={"mid": "m_1", "attachments": [{"type": 3}]}),
    "reply-to-a-string": _messaging(message={**MESSAGE, "reply_to": "m_0"}),
    "sender-missing": _messaging(sender=DROP),
    "sender-id-a-number": _messaging(sender={"id": 6543210987654321}),
    "timestamp-missing": _messaging(timestamp=DROP),
    "timestamp-a-string": _messaging(timestamp="1763633699871"),
    "timestamp-in-seconds": _messaging(timestamp=1763633699),
    "message-edit-a-string": _messaging(message=DROP, message_edit="new text"),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_webhook_payloads_raise_malformed_payload(payload: Any) -> None:
    with pytest.raises(MalformedPayload):
        parse_webhook(payload)


def test_malformed_payload_messages_say_where_the_problem_is() -> None:
    with pytest.raises(MalformedPayload, match=r"entry\[0\]\.changes\[0\]\.value\.created_time"):
        parse_webhook(_feed(created_time="2025-11-20T10:04:58+0000"))


def test_a_deletion_without_created_time_is_dated_when_received() -> None:
    before = datetime.now(UTC)
    [deletion] = parse_webhook(_feed(verb="remove", created_time=DROP))[PAGE_ID].deletions

    assert before <= deletion.at <= datetime.now(UTC) + timedelta(seconds=1)
