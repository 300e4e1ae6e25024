"""The X connector against mocked X API v2 HTTP (real tweepy, real requests), and the webhook functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import time_machine
from requests_mock import Mocker

from core.posts import Deletion, InboundPost
from monitoring.platforms import AccountRef, MalformedPayload, Page, PlatformError, QuerySpec
from monitoring.platforms.x import (
    DM_FORBIDDEN_PAUSE,
    XConnector,
    build_search_query,
    crc_response_token,
    parse_account_activity,
    signature_valid,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "x"
API = "https://api.twitter.com"  # tweepy's host is fixed; mocks on api.x.com would never be hit.
MENTIONS_URL = f"{API}/2/users/4400100/mentions"
DM_EVENTS_URL = f"{API}/2/dm_events"
SEARCH_URL = f"{API}/2/tweets/search/recent"
PAGE1_TOKEN = "7140dibdnow9c7btw4b0pr8h6xqbj2mp3i8xdxv2hbtl1"
DM_PAGE1_TOKEN = "18LAA581J5II7LA00C00ZZZZ"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

CREDENTIALS = {
    "bearer_token": "bearer-SECRET-abc",
    "consumer_key": "ck-SECRET-def",
    "consumer_secret": "cs-SECRET-ghi",
    "access_token": "at-SECRET-jkl",
    "access_token_secret": "ats-SECRET-mno",
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def account(credentials: dict[str, str] | None = None) -> AccountRef:
    return AccountRef(
        id=7,
        platform="x",
        external_id="4400100",
        handle="northwind_help",
        credentials=CREDENTIALS if credentials is None else credentials,
    )


@pytest.fixture
def x() -> XConnector:
    return XConnector(account(), timeout=3.5)


class AllAnsweredMocker(Mocker):
    """requests-mock that also records what it was given, so a test fails when an answer goes unrequested."""

    def __init__(self) -> None:
        super().__init__()
        self.registered: list[tuple[str, Any, int]] = []

    def register_uri(
        self, method: str, url: str, response_list: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> Any:
        matcher = super().register_uri(method, url, response_list, **kwargs)
        self.registered.append((url, matcher, len(response_list) if response_list else 1))
        return matcher


@pytest.fixture
def api() -> Iterator[AllAnsweredMocker]:
    """X's API, mocked: a URL given several answers returns them in turn (the last one repeats)."""
    with AllAnsweredMocker() as mock:
        yield mock
    unrequested = [
        f"{url}: {matcher.call_count} of {count} answers requested"
        for url, matcher, count in mock.registered
        if matcher.call_count < count
    ]
    assert not unrequested, unrequested


def answer(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """One X answer for requests-mock: a JSON body, labelled as JSON as X labels it."""
    return {"json": body, "status_code": status, "headers": {"Content-Type": "application/json", **(headers or {})}}


def no_dms(api: Mocker, pages: int = 1) -> None:
    api.get(DM_EVENTS_URL, [answer(fixture("empty.json"))] * pages)


def sent_params(api: Mocker, url: str) -> list[dict[str, str]]:
    """The query each request to ``url`` carried, in order, with case kept (``.qs`` lower-cases values)."""
    return [
        dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
        for request in api.request_history
        if request.url.split("?")[0] == url
    ]


def by_id(posts: list[InboundPost]) -> dict[str, InboundPost]:
    return {post.external_id: post for post in posts}


# --- Mentions ----------------------------------------------------------------------------


def test_poll_follows_next_token_and_sends_since_id_on_every_page(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("mentions_page1.json")), answer(fixture("mentions_page2.json"))])
    no_dms(api)

    page = x.poll({"mentions_since_id": "1860999999999990000"})

    first, second = sent_params(api, MENTIONS_URL)
    assert first["since_id"] == second["since_id"] == "1860999999999990000"
    assert "pagination_token" not in first
    assert second["pagination_token"] == PAGE1_TOKEN
    assert first["max_results"] == "100"
    assert first["expansions"] == "author_id,referenced_tweets.id,in_reply_to_user_id"
    assert "edit_history_tweet_ids" in first["tweet.fields"].split(",")
    assert first["user.fields"] == "username,name,verified,public_metrics"
    assert [post.external_id for post in page.posts] == [
        "1861000000000000101",
        "1861000000000000117",
        "1861000000000000123",
        "1860999999999999001",
    ]


def test_poll_advances_since_id_to_the_newest_mention(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("mentions_page1.json")), answer(fixture("mentions_page2.json"))])
    no_dms(api)

    page = x.poll({"mentions_since_id": "1860999999999990000"})

    assert page.cursor["mentions_since_id"] == "1861000000000000123"
    assert "mentions_next_token" not in page.cursor
    assert "mentions_sweep_newest_id" not in page.cursor


def test_first_poll_sends_no_since_id(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("mentions_page2.json"))])
    no_dms(api)

    page = x.poll({})

    assert "since_id" not in sent_params(api, MENTIONS_URL)[0]
    assert page.cursor["mentions_since_id"] == "1860999999999999001"


@pytest.mark.parametrize("cursor", [{}, {"mentions_since_id": "1861000000000000123"}])
def test_poll_with_no_new_mentions_keeps_the_cursor(x: XConnector, api: Mocker, cursor: dict[str, str]) -> None:
    api.get(MENTIONS_URL, [answer({"meta": {"result_count": 0}})])
    no_dms(api)

    page = x.poll(dict(cursor))

    assert page.posts == []
    assert page.cursor == cursor


def test_page_cap_resumes_at_the_token_without_moving_since_id(api: Mocker) -> None:
    x = XConnector(account(), max_pages=1)
    api.get(MENTIONS_URL, [answer(fixture("mentions_page1.json")), answer(fixture("mentions_page2.json"))])
    no_dms(api, pages=2)

    first = x.poll({"mentions_since_id": "1860999999999990000"})
    # Page 2 is still unfetched: since_id must stay below it or it would be skipped.
    assert first.cursor == {
        "mentions_since_id": "1860999999999990000",
        "mentions_next_token": PAGE1_TOKEN,
        "mentions_sweep_newest_id": "1861000000000000123",
    }
    assert len(first.posts) == 3

    second = x.poll(first.cursor)

    resumed = sent_params(api, MENTIONS_URL)[1]
    assert resumed["pagination_token"] == PAGE1_TOKEN
    assert resumed["since_id"] == "1860999999999990000"
    assert [post.external_id for post in second.posts] == ["1860999999999999001"]
    # The finished sweep's boundary is the newest mention of the whole sweep, not of its last page.
    assert second.cursor == {"mentions_since_id": "1861000000000000123"}


def test_rejected_pagination_token_restarts_the_sweep_from_the_top(x: XConnector, api: Mocker) -> None:
    api.get(
        MENTIONS_URL,
        [answer(fixture("invalid_pagination_token_400.json"), status=400), answer(fixture("mentions_page2.json"))],
    )
    no_dms(api)

    page = x.poll(
        {
            "mentions_since_id": "1860999999999990000",
            "mentions_next_token": PAGE1_TOKEN,
            "mentions_sweep_newest_id": "1861000000000000123",
        }
    )

    stale, restarted = sent_params(api, MENTIONS_URL)
    assert stale["pagination_token"] == PAGE1_TOKEN
    assert "pagination_token" not in restarted
    assert restarted["since_id"] == "1860999999999990000"
    assert len(page.posts) == 1
    assert page.cursor["mentions_since_id"] == "1861000000000000123"


def test_a_rejected_token_from_this_polls_own_page_is_a_real_error(x: XConnector, api: Mocker) -> None:
    api.get(
        MENTIONS_URL,
        [answer(fixture("mentions_page1.json")), answer(fixture("invalid_pagination_token_400.json"), status=400)],
    )

    with pytest.raises(PlatformError) as raised:
        x.poll({"mentions_since_id": "1860999999999990000"})

    assert raised.value.permanent
    assert raised.value.code == "bad_request"
    assert api.call_count == 2


def test_mention_maps_thread_reply_language_author_and_raw(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("mentions_page1.json")), answer(fixture("mentions_page2.json"))])
    no_dms(api)

    posts = by_id(x.poll({}).posts)

    reply = posts["1861000000000000117"]
    assert reply.platform == "x"
    assert reply.channel == "x_public"
    assert reply.thread_key == "1861000000000000101"
    assert reply.in_reply_to_external_id == "1861000000000000101"
    assert reply.language == "en"
    assert reply.sent_at == datetime(2026, 11, 20, 9, 40, 51, tzinfo=UTC)
    assert reply.text.startswith("@northwind_help still nothing")
    assert reply.account_id == 7
    assert reply.query_id is None
    assert not reply.edited
    assert reply.author.external_id == "3301001"
    assert reply.author.handle == "danaw"
    assert reply.author.display_name == "Dana Whitfield"
    assert reply.author.followers_count == 18450
    assert reply.author.verified is False
    assert reply.raw["id"] == "1861000000000000117"
    assert reply.raw["public_metrics"]["like_count"] == 1
    assert reply.raw["author"]["username"] == "danaw"
    json.dumps(reply.raw)  # stored in a JSON field

    root = posts["1861000000000000101"]
    assert root.thread_key == "1861000000000000101"
    assert root.in_reply_to_external_id == ""
    assert posts["1861000000000000123"].language == "es"
    praise = posts["1860999999999999001"]
    assert praise.author.verified is True
    assert praise.author.followers_count == 250000


def test_mention_without_conversation_or_included_user_falls_back_to_ids(x: XConnector, api: Mocker) -> None:
    tweet = {
        "id": "1861000000000000777",
        "text": "@northwind_help hi",
        "edit_history_tweet_ids": ["1861000000000000777"],
    }
    api.get(
        MENTIONS_URL,
        [answer({"data": [{**tweet, "author_id": "3309999", "created_at": "2026-11-20T08:00:00.000Z"}], "meta": {}})],
    )
    no_dms(api)

    (post,) = x.poll({}).posts

    assert post.thread_key == "1861000000000000777"
    assert post.author.external_id == "3309999"
    assert post.author.handle == ""
    assert post.raw["author"] == {"id": "3309999"}


def test_poll_drops_retweets_maps_und_to_no_language_and_keys_edits_by_their_first_id(
    x: XConnector, api: Mocker
) -> None:
    api.get(MENTIONS_URL, [answer(fixture("mentions_retweet_edit_und.json"))])
    no_dms(api)

    page = x.poll({})

    posts = by_id(page.posts)
    assert "1861000000000000140" not in posts  # the retweet
    assert posts["1861000000000000135"].language == ""
    edit = posts["1861000000000000128"]
    assert edit.edited is True
    assert edit.raw["id"] == "1861000000000000131"
    assert edit.text.endswith("(edited: it's 7am actually)")
    # The retweet is still behind the boundary: it must not come back next time either.
    assert page.cursor["mentions_since_id"] == "1861000000000000140"


def test_poll_keeps_mentions_written_by_the_account_itself(x: XConnector, api: Mocker) -> None:
    own = {
        "id": "1861000000000000999",
        "text": "@danaw Sorry Dana, an engineer is on the way. @northwind_help",
        "edit_history_tweet_ids": ["1861000000000000999"],
        "author_id": "4400100",
        "conversation_id": "1861000000000000101",
    }
    api.get(MENTIONS_URL, [answer({"data": [own], "meta": {"result_count": 1}})])
    no_dms(api)

    (post,) = x.poll({}).posts

    assert post.author.external_id == "4400100"


# --- Direct messages ---------------------------------------------------------------------


def test_poll_returns_direct_messages_as_x_dm_posts(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("empty.json"))])
    api.get(DM_EVENTS_URL, [answer(fixture("dm_events_page1.json")), answer(fixture("dm_events_page2.json"))])

    page = x.poll({})

    first, second = sent_params(api, DM_EVENTS_URL)
    assert first["dm_event.fields"] == "id,text,created_at,sender_id,dm_conversation_id,event_type"
    assert first["expansions"] == "sender_id"
    assert first["user.fields"] == "username,name,verified,public_metrics"
    assert first["max_results"] == "100"
    assert second["pagination_token"] == DM_PAGE1_TOKEN
    # DMs need user context: OAuth 1.0a signs them, never the bearer token.
    assert api.request_history[1].headers["Authorization"].startswith("OAuth ")
    posts = by_id(page.posts)
    assert set(posts) == {"1861000000000000450", "1861000000000000420", "1861000000000000350"}
    message = posts["1861000000000000420"]
    assert message.platform == "x"
    assert message.channel == "x_dm"
    assert message.thread_key == "3309090-4400100"
    assert message.text == "Here is my account number 88-1203, can you check the line?"
    assert message.sent_at == datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    assert message.author.handle == "priyak"
    assert message.author.followers_count == 530
    assert message.account_id == 7
    assert message.raw["author"]["username"] == "priyak"
    # The account's own reply is kept: the pipeline recognises and counts it.
    assert posts["1861000000000000450"].author.external_id == "4400100"
    assert page.cursor["dm_since_id"] == "1861000000000000450"


def test_poll_ignores_dm_events_other_than_message_create(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("empty.json"))])
    api.get(DM_EVENTS_URL, [answer(fixture("dm_events_page1.json")), answer(fixture("dm_events_page2.json"))])

    page = x.poll({})

    assert "1861000000000000415" not in by_id(page.posts)  # ParticipantsJoin


def test_poll_pages_dms_only_down_to_the_newest_event_seen_last_time(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("empty.json"))])
    api.get(DM_EVENTS_URL, [answer(fixture("dm_events_page1.json"))])

    page = x.poll({"dm_since_id": "1861000000000000420"})

    assert len(sent_params(api, DM_EVENTS_URL)) == 1  # page 2 is older: not fetched
    assert [post.external_id for post in page.posts] == ["1861000000000000450"]
    assert page.cursor["dm_since_id"] == "1861000000000000450"


def test_dm_page_cap_resumes_without_moving_the_dm_boundary(api: Mocker) -> None:
    x = XConnector(account(), max_pages=1)
    api.get(MENTIONS_URL, [answer(fixture("empty.json"))] * 2)
    api.get(DM_EVENTS_URL, [answer(fixture("dm_events_page1.json")), answer(fixture("dm_events_page2.json"))])

    first = x.poll({"dm_since_id": "1861000000000000100"})
    assert first.cursor["dm_since_id"] == "1861000000000000100"
    assert first.cursor["dm_next_token"] == DM_PAGE1_TOKEN
    assert first.cursor["dm_sweep_newest_id"] == "1861000000000000450"

    second = x.poll(first.cursor)

    assert sent_params(api, DM_EVENTS_URL)[1]["pagination_token"] == DM_PAGE1_TOKEN
    assert [post.external_id for post in second.posts] == ["1861000000000000350"]
    assert second.cursor == {"dm_since_id": "1861000000000000450"}


@time_machine.travel(NOW, tick=False)
def test_dm_403_pauses_dms_and_still_returns_mentions(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("mentions_page2.json"))])
    api.get(DM_EVENTS_URL, [answer(fixture("dm_forbidden_403.json"), status=403)])

    page = x.poll({"dm_since_id": "1861000000000000100"})

    assert [post.external_id for post in page.posts] == ["1860999999999999001"]
    assert page.cursor == {
        "mentions_since_id": "1860999999999999001",
        "dm_since_id": "1861000000000000100",
        "dm_error": "forbidden",
        "dm_paused_until": (NOW + DM_FORBIDDEN_PAUSE).isoformat(),
    }


@time_machine.travel(NOW, tick=False)
def test_paused_dms_are_not_requested_until_the_pause_ends(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("empty.json"))])
    paused_until = (NOW + timedelta(minutes=5)).isoformat()

    page = x.poll({"dm_since_id": "1861000000000000100", "dm_error": "forbidden", "dm_paused_until": paused_until})

    assert api.call_count == 1
    assert page.cursor["dm_paused_until"] == paused_until
    assert page.cursor["dm_since_id"] == "1861000000000000100"


@time_machine.travel(NOW, tick=False)
def test_dms_are_requested_again_once_the_pause_has_ended(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("empty.json"))])
    api.get(DM_EVENTS_URL, [answer(fixture("dm_events_page2.json"))])

    page = x.poll({"dm_error": "forbidden", "dm_paused_until": (NOW - timedelta(seconds=1)).isoformat()})

    assert [post.external_id for post in page.posts] == ["1861000000000000350"]
    assert page.cursor == {"dm_since_id": "1861000000000000350"}


def test_dm_rate_limit_pauses_dms_until_the_reset(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("mentions_page2.json"))])
    api.get(
        DM_EVENTS_URL,
        [answer(fixture("rate_limited_429.json"), status=429, headers={"x-rate-limit-reset": "1795176000"})],
    )

    page = x.poll({})

    assert len(page.posts) == 1
    assert page.cursor["dm_error"] == "rate_limited"
    assert page.cursor["dm_paused_until"] == datetime.fromtimestamp(1795176000, UTC).isoformat()


def test_revoked_credentials_on_dms_fail_the_poll(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("empty.json"))])
    api.get(DM_EVENTS_URL, [answer(fixture("unauthorized_401.json"), status=401)])

    with pytest.raises(PlatformError) as raised:
        x.poll({})

    assert raised.value.permanent
    assert raised.value.code == "unauthorized"


def test_dms_are_skipped_without_oauth1_user_keys(api: Mocker) -> None:
    x = XConnector(account({"bearer_token": "bearer-only"}))
    api.get(MENTIONS_URL, [answer(fixture("empty.json"))])

    page = x.poll({})

    assert api.call_count == 1
    assert api.request_history[0].headers["Authorization"] == "Bearer bearer-only"
    assert page.cursor == {"dm_error": "no_user_context"}


def test_mentions_use_user_context_when_there_is_no_bearer_token(api: Mocker) -> None:
    x = XConnector(account({key: value for key, value in CREDENTIALS.items() if key != "bearer_token"}))
    api.get(MENTIONS_URL, [answer(fixture("empty.json"))])
    no_dms(api)

    x.poll({})

    assert api.request_history[0].headers["Authorization"].startswith("OAuth ")


def test_an_account_without_credentials_fails_permanently_without_calling_x(api: Mocker) -> None:
    with pytest.raises(PlatformError) as raised:
        XConnector(account({})).poll({})

    assert raised.value.permanent
    assert raised.value.code == "no_credentials"
    assert api.call_count == 0


# --- Search ------------------------------------------------------------------------------


def test_search_query_ors_terms_negates_exclusions_and_drops_retweets() -> None:
    query = QuerySpec(
        id=5,
        keywords=["router", " outage "],
        hashtags=["northwind", "#NWHelp"],
        phrases=["internet  down"],
        exclusions=["spam", "free followers"],
        languages=["en", "es"],
    )

    assert build_search_query(query) == (
        '(router OR outage OR #northwind OR #NWHelp OR "internet down") -spam -"free followers" '
        "(lang:en OR lang:es) -is:retweet"
    )


def test_search_query_with_one_term_and_one_language() -> None:
    assert build_search_query(QuerySpec(id=1, hashtags=["northwind"], languages=["en"])) == (
        "(#northwind) lang:en -is:retweet"
    )


@pytest.mark.parametrize(
    "query",
    [
        QuerySpec(id=9),
        QuerySpec(id=9, exclusions=["spam"], languages=["en"]),
        QuerySpec(id=9, keywords=["  "], hashtags=[""], phrases=['""']),
    ],
)
def test_search_refuses_a_query_with_nothing_to_look_for(api: Mocker, query: QuerySpec) -> None:
    with pytest.raises(PlatformError) as raised:
        XConnector(account()).search(query, {})

    assert raised.value.permanent
    assert raised.value.code == "empty_query"
    assert api.call_count == 0


def test_search_sends_the_query_and_tags_posts_with_the_query_id(x: XConnector, api: Mocker) -> None:
    api.get(SEARCH_URL, [answer(fixture("search_recent.json"))])
    query = QuerySpec(id=5, keywords=["northwind"], hashtags=["northwind"])

    page = x.search(query, {"since_id": "1861000000000000500"})

    (params,) = sent_params(api, SEARCH_URL)
    assert params["query"] == "(northwind OR #northwind) -is:retweet"
    assert params["since_id"] == "1861000000000000500"
    assert params["max_results"] == "100"
    assert params["expansions"] == "author_id,referenced_tweets.id,in_reply_to_user_id"
    assert "next_token" not in params
    assert {post.query_id for post in page.posts} == {5}
    reply = by_id(page.posts)["1861000000000000605"]
    assert reply.thread_key == "1861000000000000590"
    assert reply.author.handle == "omarh"
    assert page.cursor == {"since_id": "1861000000000000612"}


def test_search_resumes_with_next_token_not_pagination_token(api: Mocker) -> None:
    x = XConnector(account(), max_pages=1)
    api.get(SEARCH_URL, [answer(fixture("mentions_page1.json")), answer(fixture("mentions_page2.json"))])
    query = QuerySpec(id=5, keywords=["northwind_help"])

    first = x.search(query, {})
    second = x.search(query, first.cursor)

    assert first.cursor == {"next_token": PAGE1_TOKEN, "sweep_newest_id": "1861000000000000123"}
    resumed = sent_params(api, SEARCH_URL)[1]
    assert resumed["next_token"] == PAGE1_TOKEN
    assert "pagination_token" not in resumed
    assert second.cursor == {"since_id": "1861000000000000123"}


def test_search_drops_a_since_id_older_than_the_search_window(x: XConnector, api: Mocker) -> None:
    api.get(
        SEARCH_URL, [answer(fixture("since_id_too_old_400.json"), status=400), answer(fixture("search_recent.json"))]
    )

    page = x.search(QuerySpec(id=5, keywords=["northwind"]), {"since_id": "1859000000000000000"})

    stale, retried = sent_params(api, SEARCH_URL)
    assert stale["since_id"] == "1859000000000000000"
    assert "since_id" not in retried
    assert len(page.posts) == 2
    assert page.cursor == {"since_id": "1861000000000000612"}


def test_a_bad_request_that_is_not_about_the_cursor_is_permanent(x: XConnector, api: Mocker) -> None:
    api.get(
        SEARCH_URL, [answer({"title": "Invalid Request", "detail": "There were errors processing it."}, status=400)]
    )

    with pytest.raises(PlatformError) as raised:
        x.search(QuerySpec(id=5, keywords=["northwind"]), {})

    assert raised.value.permanent
    assert raised.value.code == "bad_request"
    assert raised.value.status == 400


# --- Errors ------------------------------------------------------------------------------


def test_429_is_temporary_with_retry_at_from_the_reset_header(x: XConnector, api: Mocker) -> None:
    api.get(
        MENTIONS_URL,
        [answer(fixture("rate_limited_429.json"), status=429, headers={"x-rate-limit-reset": "1795176000"})],
    )

    with pytest.raises(PlatformError) as raised:
        x.poll({})

    error = raised.value
    assert not error.permanent
    assert error.rate_limited
    assert error.retry_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert error.status == 429
    assert error.code == "rate_limited"


@time_machine.travel(NOW, tick=False)
def test_429_without_reset_header_retries_after_fifteen_minutes(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("rate_limited_429.json"), status=429)])

    with pytest.raises(PlatformError) as raised:
        x.poll({})

    assert raised.value.retry_at == NOW + timedelta(minutes=15)


def test_401_is_permanent_and_never_shows_credentials(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("unauthorized_401.json"), status=401)])

    with pytest.raises(PlatformError) as raised:
        x.poll({})

    error = raised.value
    assert error.permanent
    assert error.status == 401
    assert error.code == "unauthorized"
    assert "SECRET" not in str(error)
    assert "revoked" in error.message


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "bad_request"), (403, "forbidden"), (404, "not_found"), (409, "http_error")],
)
def test_client_errors_are_permanent(x: XConnector, api: Mocker, status: int, code: str) -> None:
    api.get(MENTIONS_URL, [answer({"title": "Error", "detail": "Nope", "status": status}, status=status)])

    with pytest.raises(PlatformError) as raised:
        x.poll({})

    assert raised.value.permanent
    assert raised.value.status == status
    assert raised.value.code == code


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_temporary(x: XConnector, api: Mocker, status: int) -> None:
    api.get(MENTIONS_URL, [answer(fixture("service_unavailable_503.json"), status=status)])

    with pytest.raises(PlatformError) as raised:
        x.poll({})

    assert not raised.value.permanent
    assert not raised.value.rate_limited
    assert raised.value.status == status
    assert raised.value.code == "server_error"


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (requests.ConnectionError("connection refused"), "connection_error"),
        (requests.ConnectTimeout("connect timed out"), "timeout"),
        (requests.ReadTimeout("read timed out"), "timeout"),
        (requests.exceptions.ChunkedEncodingError("broken"), "request_failed"),
    ],
)
def test_network_failures_are_temporary(x: XConnector, api: Mocker, failure: Exception, code: str) -> None:
    api.get(MENTIONS_URL, exc=failure)

    with pytest.raises(PlatformError) as raised:
        x.poll({})

    assert not raised.value.permanent
    assert raised.value.code == code
    assert "SECRET" not in raised.value.message


@pytest.mark.parametrize(
    "body",
    ["<html>gateway</html>", json.dumps({"data": [{"text": "no id"}]}), json.dumps({"data": [{"id": "x1"}]})],
)
def test_an_unparseable_success_body_is_a_temporary_bad_response(x: XConnector, api: Mocker, body: str) -> None:
    api.get(MENTIONS_URL, text=body, headers={"Content-Type": "application/json"})

    with pytest.raises(PlatformError) as raised:
        x.poll({})

    assert not raised.value.permanent
    assert raised.value.code == "bad_response"


def test_every_request_carries_the_connector_timeout(x: XConnector, api: Mocker) -> None:
    api.get(MENTIONS_URL, [answer(fixture("empty.json"))])
    no_dms(api)
    api.get(SEARCH_URL, [answer(fixture("empty.json"))])

    x.poll({})
    x.search(QuerySpec(id=1, keywords=["router"]), {})

    assert [request.timeout for request in api.request_history] == [3.5, 3.5, 3.5]


# --- Webhooks ----------------------------------------------------------------------------


def test_crc_response_token_matches_the_documented_vector() -> None:
    assert (
        crc_response_token("consumer_secret_123", "test-crc-token")
        == "sha256=CzTn0ZWK8YzQ7rVGW6EYkm4YkdMcK7nigrMsq4mTrRg="
    )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


BODY = (FIXTURES / "account_activity_dm.json").read_bytes()


def test_signature_of_the_raw_body_is_valid() -> None:
    assert signature_valid("consumer_secret_123", BODY, sign("consumer_secret_123", BODY))


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        ("consumer_secret_123", BODY + b" ", sign("consumer_secret_123", BODY)),
        ("consumer_secret_123", BODY, sign("another_secret", BODY)),
        ("", BODY, sign("", BODY)),
    ],
    ids=["altered-body", "other-secret", "empty-secret"],
)
def test_signature_is_invalid_for_another_body_or_secret(secret: str, body: bytes, header: str) -> None:
    assert not signature_valid(secret, body, header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256",
        "sha256=",
        "sha256=!!!not-base64!!!",
        "sha256=CzTn0ZWK8YzQ7rVGW6EYkm4YkdMcK7nigrMsq4mTrRg",
        "sha1=CzTn0ZWK8YzQ7rVGW6EYkm4YkdMcK7nigrMsq4mTrRg=",
        "sha256=ñandú",
        "sha256=" + hmac.new(b"consumer_secret_123", BODY, hashlib.sha256).hexdigest(),
    ],
    ids=["none", "empty", "no-value", "empty-value", "not-base64", "unpadded", "other-scheme", "non-ascii", "hex"],
)
def test_signature_is_invalid_when_missing_or_garbled(header: str | None) -> None:
    assert not signature_valid("consumer_secret_123", BODY, header)


def test_parse_tweet_create_event_into_a_public_post() -> None:
    events = parse_account_activity(fixture("account_activity_tweet_create.json"))

    assert list(events) == ["4400100"]
    (post,) = events["4400100"].posts
    assert post.platform == "x"
    assert post.channel == "x_public"
    assert post.external_id == "1861000000000000201"
    assert post.thread_key == "1861000000000000201"
    assert post.in_reply_to_external_id == ""
    assert post.text == "@northwind_help the outage map says fixed but I'm still offline in Leeds"
    assert post.sent_at == datetime(2026, 11, 20, 10, 5, 44, tzinfo=UTC)
    assert post.language == "en"
    assert post.author.external_id == "3309090"
    assert post.author.handle == "priyak"
    assert post.author.display_name == "Priya K"
    assert post.author.followers_count == 530
    assert post.author.verified is False
    assert post.raw["id_str"] == "1861000000000000201"
    assert events["4400100"].deletions == []


def tweet_event(**changes: Any) -> dict[str, Any]:
    event = fixture("account_activity_tweet_create.json")
    event["tweet_create_events"][0].update(changes)
    return event


def test_parse_converts_a_tweet_time_with_an_offset_to_utc() -> None:
    (post,) = parse_account_activity(tweet_event(created_at="Fri Nov 20 11:05:44 +0100 2026"))["4400100"].posts

    assert post.sent_at == datetime(2026, 11, 20, 10, 5, 44, tzinfo=UTC)
    assert post.sent_at.utcoffset() == timedelta(0)


def test_parse_reply_threads_under_its_parent_and_reads_the_full_text_of_truncated_tweets() -> None:
    payload = tweet_event(
        in_reply_to_status_id_str="1861000000000000101",
        text="@northwind_help the outage map says fixed but I'm…",
        truncated=True,
        extended_tweet={
            "full_text": "@northwind_help the outage map says fixed but I'm still offline in Leeds, all day"
        },
        lang="und",
    )

    (post,) = parse_account_activity(payload)["4400100"].posts

    assert post.thread_key == "1861000000000000101"
    assert post.in_reply_to_external_id == "1861000000000000101"
    assert post.text.endswith("all day")
    assert post.language == ""


def test_parse_skips_retweets_and_keeps_the_accounts_own_tweets() -> None:
    payload = fixture("account_activity_tweet_create.json")
    original = payload["tweet_create_events"][0]
    own = {
        **original,
        "id_str": "1861000000000000202",
        "user": {"id_str": "4400100", "screen_name": "northwind_help", "name": "Northwind Help"},
    }
    retweet = {**original, "id_str": "1861000000000000203", "retweeted_status": dict(original)}
    payload["tweet_create_events"] = [original, own, retweet]

    posts = parse_account_activity(payload)["4400100"].posts

    assert [post.external_id for post in posts] == ["1861000000000000201", "1861000000000000202"]
    assert posts[1].author.external_id == "4400100"


def test_parse_direct_message_event_into_a_dm_post() -> None:
    events = parse_account_activity(fixture("account_activity_dm.json"))

    (post,) = events["4400100"].posts
    assert post.platform == "x"
    assert post.channel == "x_dm"
    assert post.external_id == "1861000000000000301"
    assert post.thread_key == "3309090-4400100"
    assert post.text == "Here is my account number 88-1203, can you check the line?"
    assert post.sent_at == datetime.fromtimestamp(1763633400, UTC)
    assert post.author.handle == "priyak"
    assert post.author.display_name == "Priya K"
    assert post.author.followers_count == 530
    assert post.raw["author"]["screen_name"] == "priyak"


def dm_event(sender: str, recipient: str) -> dict[str, Any]:
    payload = fixture("account_activity_dm.json")
    message = payload["direct_message_events"][0]["message_create"]
    message["sender_id"] = sender
    message["target"]["recipient_id"] = recipient
    return payload


def test_dm_thread_key_orders_the_two_user_ids_numerically() -> None:
    payload = dm_event(sender="900", recipient="10000")
    payload["for_user_id"] = "10000"

    (post,) = parse_account_activity(payload)["10000"].posts

    assert post.thread_key == "900-10000"  # not "10000-900", as a string sort would give
    assert post.author.external_id == "900"
    assert post.author.handle == ""  # not in the users map


def test_parse_keeps_dms_sent_by_the_account_itself() -> None:
    (post,) = parse_account_activity(dm_event(sender="4400100", recipient="3309090"))["4400100"].posts

    assert post.author.handle == "northwind_help"
    assert post.thread_key == "3309090-4400100"


def test_parse_tweet_delete_events_into_deletions() -> None:
    payload = {
        "for_user_id": "4400100",
        "tweet_delete_events": [
            {"status": {"id": "1861000000000000201", "user_id": "3309090"}, "timestamp_ms": "1763633544000"}
        ],
    }

    page = parse_account_activity(payload)["4400100"]

    assert page.posts == []
    assert page.deletions == [
        Deletion(platform="x", external_id="1861000000000000201", at=datetime.fromtimestamp(1763633544, UTC))
    ]


def test_parse_ignores_unknown_event_kinds() -> None:
    payload = {
        "for_user_id": "4400100",
        "favorite_events": [{"id": "abc", "favorited_status": {}}],
        "direct_message_indicate_typing_events": [{"sender_id": "3309090"}],
        "direct_message_events": [{"type": "message_read", "id": "1"}],
    }

    assert parse_account_activity(payload) == {"4400100": Page()}


def with_tweet(**changes: Any) -> dict[str, Any]:
    return tweet_event(**changes)


def with_dm(path: list[str | int], value: Any) -> dict[str, Any]:
    payload = fixture("account_activity_dm.json")
    target: Any = payload["direct_message_events"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(None, id="null"),
        pytest.param([], id="list"),
        pytest.param("for_user_id", id="string"),
        pytest.param({}, id="no-for_user_id"),
        pytest.param({"for_user_id": 4400100}, id="numeric-for_user_id"),
        pytest.param({"for_user_id": "@northwind"}, id="non-numeric-for_user_id"),
        pytest.param({"for_user_id": "4400100", "tweet_create_events": {}}, id="events-not-a-list"),
        pytest.param({"for_user_id": "4400100", "tweet_create_events": ["tweet"]}, id="event-not-an-object"),
        pytest.param(with_tweet(id_str=None), id="tweet-without-id"),
        pytest.param(with_tweet(id_str=1861000000000000201), id="tweet-numeric-id"),
        pytest.param(with_tweet(user=[]), id="tweet-user-is-a-list"),
        pytest.param(with_tweet(user={"screen_name": "priyak"}), id="tweet-user-without-id"),
        pytest.param(with_tweet(user={"id_str": "1", "followers_count": "530"}), id="followers-a-string"),
        pytest.param(with_tweet(user={"id_str": "1", "verified": "yes"}), id="verified-a-string"),
        pytest.param(with_tweet(text=None), id="tweet-without-text"),
        pytest.param(with_tweet(truncated=True, extended_tweet="full"), id="extended-tweet-a-string"),
        pytest.param(with_tweet(truncated=True, extended_tweet={}), id="extended-tweet-without-text"),
        pytest.param(with_tweet(created_at="2026-11-20T10:05:44Z"), id="tweet-iso-time"),
        pytest.param(with_tweet(created_at=1763633144), id="tweet-numeric-time"),
        pytest.param(with_tweet(created_at="Fri Noe 20 10:05:44 +0000 2026"), id="tweet-unknown-month"),
        pytest.param(with_tweet(created_at="Fri Nov 20 10:05:44 2026"), id="tweet-time-without-offset"),
        pytest.param(with_tweet(in_reply_to_status_id_str=1861), id="reply-to-numeric"),
        pytest.param(with_tweet(lang=["en"]), id="lang-a-list"),
        pytest.param(with_dm(["type"], None), id="dm-without-type"),
        pytest.param(with_dm(["id"], 1861000000000000301), id="dm-numeric-id"),
        pytest.param(with_dm(["message_create"], None), id="dm-without-message_create"),
        pytest.param(with_dm(["message_create", "target"], ["4400100"]), id="dm-target-a-list"),
        pytest.param(with_dm(["message_create", "target", "recipient_id"], None), id="dm-without-recipient"),
        pytest.param(with_dm(["message_create", "sender_id"], 3309090), id="dm-numeric-sender"),
        pytest.param(with_dm(["message_create", "message_data"], "hi"), id="dm-message-data-a-string"),
        pytest.param(with_dm(["message_create", "message_data", "text"], 42), id="dm-numeric-text"),
        pytest.param(with_dm(["created_timestamp"], "yesterday"), id="dm-bad-timestamp"),
        pytest.param(with_dm(["created_timestamp"], "9" * 30), id="dm-timestamp-out-of-range"),
        pytest.param(with_dm(["created_timestamp"], True), id="dm-boolean-timestamp"),
        pytest.param({**fixture("account_activity_dm.json"), "users": []}, id="users-a-list"),
        pytest.param({**fixture("account_activity_dm.json"), "users": {"3309090": "priyak"}}, id="user-entry-a-string"),
        pytest.param({"for_user_id": "1", "tweet_delete_events": [{"status": []}]}, id="delete-status-a-list"),
        pytest.param(
            {"for_user_id": "1", "tweet_delete_events": [{"status": {"id": "1"}, "timestamp_ms": "soon"}]},
            id="delete-bad-timestamp",
        ),
        pytest.param({"for_user_id": "1", "tweet_delete_events": [{"timestamp_ms": "1"}]}, id="delete-without-status"),
    ],
)
def test_malformed_payloads_raise_malformed_payload(payload: object) -> None:
    with pytest.raises(MalformedPayload):
        parse_account_activity(payload)
