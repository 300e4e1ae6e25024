"""X (Twitter): polling over API v2 with tweepy, and the Account Activity webhook.

``XConnector`` polls the account's mentions and direct messages and runs
listening queries through recent search. The webhook half is pure functions
(``crc_response_token``, ``signature_valid``, ``parse_account_activity``): the
view that serves them owns the request, the secrets and the storage.

Every tweepy or requests failure leaves this module as a ``PlatformError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import requests
import tweepy
from requests.models import PreparedRequest
from requests.models import Response as HTTPResponse

from contactcenter.core.models import Channel, Platform
from contactcenter.core.posts import Author, Deletion, InboundPost
from monitoring.platforms import register
from monitoring.platforms.base import (
    AccountRef,
    Connector,
    MalformedPayload,
    Page,
    PlatformError,
    QuerySpec,
    ReplyRequest,
    WebhookEvents,
)

logger = logging.getLogger(__name__)

TWEET_EXPANSIONS = ["author_id", "referenced_tweets.id", "in_reply_to_user_id"]
TWEET_FIELDS = [
    "created_at",
    "conversation_id",
    "lang",
    "referenced_tweets",
    "public_metrics",
    "in_reply_to_user_id",
    "author_id",
    "edit_history_tweet_ids",
]
USER_FIELDS = ["username", "name", "verified", "public_metrics"]
DM_EVENT_FIELDS = ["id", "text", "created_at", "sender_id", "dm_conversation_id", "event_type"]
DM_EXPANSIONS = ["sender_id"]

PAGE_SIZE = 100
MAX_PAGES_PER_POLL = 10
RATE_LIMIT_FALLBACK = timedelta(minutes=15)
"""X's rate-limit windows are 15 minutes: the wait when a 429 lacks ``x-rate-limit-reset``."""
DM_FORBIDDEN_PAUSE = timedelta(hours=1)
"""How long DMs are skipped after a 403; an admin may grant the permission, so we look again later."""

# X tags tweets it cannot attribute to a language with these pseudo-codes
# (undetermined, mentions/hashtags/cashtags/media only, very short text).
# They would mislead language routing, so they map to "no language".
NOT_A_LANGUAGE = frozenset({"und", "qam", "qct", "qht", "qme", "qst", "zxx"})

# Snowflake ids carry their creation time: milliseconds since X's epoch in the bits above 22.
_SNOWFLAKE_EPOCH_MS = 1_288_834_974_657

_OAUTH1_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")

# What find_reply reads of the account's own tweets and of a DM conversation.
REPLY_LOOKUP_TWEET_FIELDS = ["referenced_tweets", "created_at", "text"]
REPLY_LOOKUP_DM_EVENT_FIELDS = ["id", "text", "created_at", "sender_id"]

# X answers a reply it refuses with a 403 whose detail says why (v2), or with a v1.1-style error code.
_TARGET_GONE_DETAIL = "deleted or not visible"
_DUPLICATE_DETAIL = "duplicate content"
_TARGET_GONE_CODE = 385
_DUPLICATE_CODE = 187

# X replaces every link it recognises, with or without a scheme, by a t.co link; find_reply drops them all.
_LINK = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?:/\S*)?")
_LEADING_MENTIONS = re.compile(r"^(?:@\w+\s+)+")


def _now() -> datetime:
    return datetime.now(UTC)


# --- HTTP --------------------------------------------------------------------------------


class _TimeoutSession(requests.Session):
    """Applies a default timeout: tweepy passes none, so a hung API would hang the worker."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: PreparedRequest, **kwargs: Any) -> HTTPResponse:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


_HTTP_ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found"}


def _http_error(error: tweepy.HTTPException, operation: str) -> PlatformError:
    status: int = error.response.status_code
    reason = error.response.reason or ""
    details = "; ".join(str(message) for message in error.api_messages)[:300]
    message = f"X {operation} failed: {status} {reason}".rstrip() + (f" ({details})" if details else "") + "."
    if isinstance(error, tweepy.TooManyRequests):
        # tweepy already parsed x-rate-limit-reset (epoch seconds) into reset_time.
        reset = error.reset_time
        retry_at = datetime.fromtimestamp(reset, UTC) if reset is not None else _now() + RATE_LIMIT_FALLBACK
        return PlatformError(message, retry_at=retry_at, status=status, code="rate_limited")
    if status >= 500:
        return PlatformError(message, status=status, code="server_error")
    if status == 401:
        message = f"X {operation} failed: 401, the account's credentials are invalid or were revoked."
    # The request itself is wrong or not allowed: asking again will not help.
    return PlatformError(message, permanent=True, status=status, code=_HTTP_ERROR_CODES.get(status, "http_error"))


# --- Paging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sweep:
    """Where a newest-first listing stands between polls.

    X lists mentions, search results and DM events newest first, so one
    "sweep" pages from the top down to ``boundary``, the newest id the
    previous finished sweep returned. Only a finished sweep may move the
    boundary: until then the posts between it and the page we stopped at are
    still unfetched. An unfinished sweep keeps ``next_token`` (where to
    resume) and ``newest_id`` (the newest id it has seen, the next boundary).
    """

    boundary: int | None = None
    next_token: str | None = None
    newest_id: int | None = None

    @classmethod
    def load(cls, cursor: Mapping[str, Any], prefix: str) -> _Sweep:
        token = cursor.get(f"{prefix}next_token")
        return cls(
            boundary=_cursor_id(cursor.get(f"{prefix}since_id")),
            next_token=token if isinstance(token, str) and token else None,
            newest_id=_cursor_id(cursor.get(f"{prefix}sweep_newest_id")),
        )

    def dump(self, prefix: str) -> dict[str, str]:
        # Ids are stored as strings: they exceed what JSON consumers in JavaScript hold exactly.
        state = {
            f"{prefix}since_id": self.boundary,
            f"{prefix}next_token": self.next_token,
            f"{prefix}sweep_newest_id": self.newest_id,
        }
        return {key: str(value) for key, value in state.items() if value is not None}


def _cursor_id(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _newer(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


@dataclass
class _FetchedPage:
    """The items of one page newer than the boundary, with that page's expanded users."""

    items: list[Any] = field(default_factory=list)
    users: dict[int, Any] = field(default_factory=dict)


Fetch = Callable[[int | None, str | None], Any]
"""Fetches one page given (since_id, pagination token); returns a ``tweepy.Response``."""


# --- Connector ---------------------------------------------------------------------------


@register
class XConnector(Connector):
    """Mentions, direct messages and recent search for one X account, and replies from it.

    Mentions and search use the app's bearer token when there is one (app
    rate limits are higher), else OAuth 1.0a user context. DMs and replies
    always need user context: without the four OAuth 1.0a keys DMs are
    skipped and replies fail. ``max_pages`` caps the pages fetched from each
    listing in one call.
    """

    platform: ClassVar[str] = Platform.X

    def __init__(self, account: AccountRef, *, timeout: float = 10.0, max_pages: int = MAX_PAGES_PER_POLL) -> None:
        super().__init__(account, timeout=timeout)
        self.max_pages = max_pages
        credentials = account.credentials
        self._has_bearer = bool(credentials.get("bearer_token"))
        self._has_user_context = all(credentials.get(key) for key in _OAUTH1_KEYS)
        self.client = tweepy.Client(
            bearer_token=credentials.get("bearer_token") or None,
            consumer_key=credentials.get("consumer_key") or None,
            consumer_secret=credentials.get("consumer_secret") or None,
            access_token=credentials.get("access_token") or None,
            access_token_secret=credentials.get("access_token_secret") or None,
            # tweepy's own waiting sleeps with no cap inside the worker; the poller reschedules instead.
            wait_on_rate_limit=False,
            return_type=tweepy.Response,
        )
        self.client.session = _TimeoutSession(timeout)

    # Polling ------------------------------------------------------------------------------

    def poll(self, cursor: dict[str, Any]) -> Page:
        """Mentions of the account, then its direct messages, since ``cursor``.

        Cursor keys (all strings, all optional; ``{}`` starts from what X still lists):

        - ``mentions_since_id``: the newest mention id of the last finished sweep, sent as ``since_id``.
        - ``mentions_next_token``, ``mentions_sweep_newest_id``: present while a sweep is unfinished
          (the page cap was hit): the next poll resumes at the token with the same ``since_id``, and
          ``mentions_since_id`` becomes the sweep's newest id only once the sweep reaches the end.
        - ``dm_since_id``, ``dm_next_token``, ``dm_sweep_newest_id``: the same for DM events. DM
          lookups take no ``since_id``, so paging stops at the first event not newer than
          ``dm_since_id`` instead.
        - ``dm_error``, ``dm_paused_until`` (ISO 8601): why DMs were skipped last time and until when
          they stay skipped. A 403 (the app may not read DMs) pauses them for ``DM_FORBIDDEN_PAUSE``,
          a 429 until X's reset time; other temporary DM failures skip DMs for this poll only. Either
          way the mentions are returned and the DM position is kept, so no message is lost.

        Raises ``PlatformError`` when the mentions lookup fails, or when DMs fail permanently for a
        reason other than 403 (e.g. revoked credentials).
        """
        user_auth = self._app_or_user_auth()

        def fetch_mentions(since_id: int | None, token: str | None) -> Any:
            return self._call(
                "mentions lookup",
                self.client.get_users_mentions,
                id=self.account.external_id,
                since_id=since_id,
                pagination_token=token,
                max_results=PAGE_SIZE,
                expansions=TWEET_EXPANSIONS,
                tweet_fields=TWEET_FIELDS,
                user_fields=USER_FIELDS,
                user_auth=user_auth,
            )

        pages, mentions = self._sweep(_Sweep.load(cursor, "mentions_"), fetch_mentions)
        posts = [post for page in pages for post in self._tweet_posts(page)]
        dm_posts, dm_state = self._poll_direct_messages(cursor)
        return Page(posts=posts + dm_posts, cursor={**mentions.dump("mentions_"), **dm_state})

    def _poll_direct_messages(self, cursor: Mapping[str, Any]) -> tuple[list[InboundPost], dict[str, str]]:
        sweep = _Sweep.load(cursor, "dm_")
        unchanged = sweep.dump("dm_")
        if not self._has_user_context:
            return [], {**unchanged, "dm_error": "no_user_context"}
        paused_until = _parse_iso(cursor.get("dm_paused_until"))
        if paused_until is not None and paused_until > _now():
            error = cursor.get("dm_error")
            return [], {**unchanged, "dm_paused_until": paused_until.isoformat(), "dm_error": str(error or "paused")}

        def fetch_dm_events(_since_id: int | None, token: str | None) -> Any:
            return self._call(
                "direct message lookup",
                self.client.get_direct_message_events,
                pagination_token=token,
                max_results=PAGE_SIZE,
                dm_event_fields=DM_EVENT_FIELDS,
                expansions=DM_EXPANSIONS,
                user_fields=USER_FIELDS,
            )

        try:
            pages, sweep = self._sweep(sweep, fetch_dm_events, since_is_sent=False)
        except PlatformError as error:
            if error.status == 403:
                # The app lacks the DM permission (or the access tier): mentions still work.
                logger.warning("X DMs unavailable for account %s: %s", self.account.id, error.message)
                pause_until: datetime | None = _now() + DM_FORBIDDEN_PAUSE
            elif error.permanent:
                raise
            else:
                # DM lookups have their own, much smaller, rate limit than mentions.
                pause_until = error.retry_at
            state = {**unchanged, "dm_error": error.code or "error"}
            if pause_until is not None:
                state["dm_paused_until"] = pause_until.isoformat()
            return [], state
        posts = [post for page in pages for post in self._dm_posts(page)]
        return posts, sweep.dump("dm_")

    def search(self, query: QuerySpec, cursor: dict[str, Any]) -> Page:
        """Recent tweets (X keeps seven days) matching ``query``, since ``cursor``.

        Cursor keys as for mentions, unprefixed: ``since_id``, and while a
        sweep is unfinished ``next_token`` and ``sweep_newest_id``.
        Every post carries ``query_id=query.id``.
        """
        text = build_search_query(query)
        user_auth = self._app_or_user_auth()

        def fetch_results(since_id: int | None, token: str | None) -> Any:
            return self._call(
                "recent search",
                self.client.search_recent_tweets,
                query=text,
                since_id=since_id,
                next_token=token,
                max_results=PAGE_SIZE,
                expansions=TWEET_EXPANSIONS,
                tweet_fields=TWEET_FIELDS,
                user_fields=USER_FIELDS,
                user_auth=user_auth,
            )

        pages, sweep = self._sweep(_Sweep.load(cursor, ""), fetch_results)
        posts = [post for page in pages for post in self._tweet_posts(page, query_id=query.id)]
        return Page(posts=posts, cursor=sweep.dump(""))

    # Replies ------------------------------------------------------------------------------

    def post_reply(self, request: ReplyRequest) -> str:
        """Post ``request`` as the account; return the new tweet id or DM event id.

        Public (channel ``x_public``): a tweet answering ``in_reply_to_external_id``
        (``POST /2/tweets``). Private (channel ``x_dm``, or ``request.private``): a
        direct message to ``recipient_external_id``
        (``POST /2/dm_conversations/with/{recipient}/messages``). X takes no
        idempotency key: call ``find_reply`` before retrying an unknown outcome.

        Raises ``PlatformError``: permanent ``no_credentials`` (no OAuth 1.0a keys,
        nothing sent), ``target_gone`` (the tweet was deleted or is hidden from
        us), ``duplicate`` (X refuses the same text twice), ``unauthorized``,
        ``forbidden`` (e.g. the customer does not accept our DMs); temporary
        ``rate_limited`` (with ``retry_at``), ``server_error``, ``timeout``,
        ``connection_error``.
        """
        self._require_user_context("post replies")
        _required(request.text.strip(), "text", request.channel)
        if _is_private(request):
            recipient = _required(request.recipient_external_id, "recipient_external_id", request.channel)
            response = self._reply_call(
                "direct message",
                self.client.create_direct_message,
                participant_id=recipient,
                text=request.text,
                user_auth=True,
            )
            return _created_id(response, "dm_event_id", "direct message")
        in_reply_to = _required(request.in_reply_to_external_id, "in_reply_to_external_id", request.channel)
        response = self._reply_call(
            "reply",
            self.client.create_tweet,
            text=request.text,
            in_reply_to_tweet_id=in_reply_to,
            user_auth=True,
        )
        return _created_id(response, "id", "reply")

    def find_reply(self, request: ReplyRequest, since: datetime) -> str | None:
        """The id of the tweet or DM event that already carries ``request``, posted at or after ``since``.

        Public: the account's own tweets since ``since`` (``GET /2/users/{id}/tweets``)
        that answer ``in_reply_to_external_id``. Private: the account's messages in the
        one-to-one conversation with ``recipient_external_id``
        (``GET /2/dm_conversations/with/{recipient}/dm_events``), down to ``since``.

        Texts match when equal after what X does to a text on the way: HTML entities
        (X escapes ``&``, ``<``, ``>``), links (X replaces every link, even a bare
        ``example.com``, by a t.co link, so links are dropped from both texts before
        comparing), the ``@handles`` X puts in front of a reply, Unicode
        normalisation (NFC) and whitespace. Times are compared to the whole second,
        the precision X reports. A reply posted moments ago may not be listed yet.

        Raises ``PlatformError`` as ``post_reply`` does, and permanent
        ``lookup_incomplete`` when more than ``max_pages`` pages lie after ``since``:
        the reply cannot be ruled out, so it must not simply be posted again.
        """
        self._require_user_context("look up replies")
        since = _whole_second(since)
        if _is_private(request):
            recipient = _required(request.recipient_external_id, "recipient_external_id", request.channel)
            return self._find_direct_message(recipient, request.text, since)
        in_reply_to = _required(request.in_reply_to_external_id, "in_reply_to_external_id", request.channel)
        return self._find_tweet_reply(in_reply_to, request.text, since)

    def _find_tweet_reply(self, in_reply_to: str, text: str, since: datetime) -> str | None:
        wanted = _comparable(text, public=True)
        token: str | None = None
        for _ in range(self.max_pages):
            response = self._call(
                "own tweets lookup",
                self.client.get_users_tweets,
                id=self.account.external_id,
                start_time=since,
                pagination_token=token,
                tweet_fields=REPLY_LOOKUP_TWEET_FIELDS,
                max_results=PAGE_SIZE,
                user_auth=True,
            )
            _raise_for_errors_without_data(response, "own tweets lookup")
            for tweet in response.data or []:
                replied_to = [str(ref.id) for ref in tweet.referenced_tweets or [] if ref.type == "replied_to"]
                if (
                    in_reply_to in replied_to
                    and (tweet.created_at or _snowflake_time(tweet.id)) >= since
                    and _same_text(tweet.text, wanted, public=True)
                ):
                    return str(tweet.id)
            token = response.meta.get("next_token") or None
            if token is None:
                return None
        raise _lookup_incomplete("tweets", self.max_pages)

    def _find_direct_message(self, recipient: str, text: str, since: datetime) -> str | None:
        wanted = _comparable(text, public=False)
        token: str | None = None
        for _ in range(self.max_pages):
            response = self._call(
                "direct message lookup",
                self.client.get_direct_message_events,
                participant_id=recipient,
                pagination_token=token,
                max_results=PAGE_SIZE,
                dm_event_fields=REPLY_LOOKUP_DM_EVENT_FIELDS,
                user_auth=True,
            )
            _raise_for_errors_without_data(response, "direct message lookup")
            reached_since = False
            for event in response.data or []:
                created = event.created_at or _snowflake_time(event.id)
                if created < since:
                    # Events come newest first, so later pages are older still.
                    reached_since = True
                    continue
                if (
                    event.event_type == "MessageCreate"
                    and str(event.sender_id) == self.account.external_id
                    and _same_text(event.text or "", wanted, public=False)
                ):
                    return str(event.id)
            token = response.meta.get("next_token") or None
            if token is None or reached_since:
                return None
        raise _lookup_incomplete("direct messages", self.max_pages)

    def _require_user_context(self, action: str) -> None:
        if not self._has_user_context:
            raise PlatformError(
                f"The X account has no OAuth 1.0a user keys, which X requires to {action}.",
                permanent=True,
                code="no_credentials",
            )

    def _reply_call(self, operation: str, method: Callable[..., Any], **params: Any) -> Any:
        """``_call`` for posting: a 403 says whether the tweet is gone or the text a duplicate."""
        try:
            return self._call(operation, method, **params)
        except PlatformError as error:
            cause = error.__cause__
            if error.status != 403 or not isinstance(cause, tweepy.HTTPException):
                raise
            refusal = _reply_refusal(cause)
            if refusal is None:
                raise
            raise PlatformError(f"{error.message} {refusal[1]}", permanent=True, status=403, code=refusal[0]) from cause

    def _app_or_user_auth(self) -> bool:
        """Whether to sign with OAuth 1.0a user context (True) rather than the bearer token."""
        if self._has_bearer:
            return False
        if self._has_user_context:
            return True
        raise PlatformError(
            "The X account has no bearer token and no OAuth 1.0a keys.", permanent=True, code="no_credentials"
        )

    def _sweep(self, sweep: _Sweep, fetch: Fetch, *, since_is_sent: bool = True) -> tuple[list[_FetchedPage], _Sweep]:
        """Page down from the top (or where the last poll stopped) to the boundary, at most ``max_pages`` pages.

        Returns the pages and the sweep state to save once their posts are stored.
        """
        pages: list[_FetchedPage] = []
        boundary, token, newest = sweep.boundary, sweep.next_token, sweep.newest_id
        for page_number in range(self.max_pages):
            if page_number == 0:
                response, boundary, token = _fetch_saved_position(fetch, boundary, token, since_is_sent=since_is_sent)
            else:
                response = fetch(boundary if since_is_sent else None, token)
            listed = list(response.data or [])
            items = [item for item in listed if boundary is None or item.id > boundary]
            newest = _newer(newest, max((item.id for item in items), default=None))
            pages.append(
                _FetchedPage(items=items, users={user.id: user for user in response.includes.get("users", [])})
            )
            token = response.meta.get("next_token") or None
            if token is None or len(items) < len(listed):
                return pages, _Sweep(boundary=_newer(boundary, newest))
        return pages, _Sweep(boundary=boundary, next_token=token, newest_id=newest)

    def _call(self, operation: str, method: Callable[..., Any], **params: Any) -> Any:
        """Call one tweepy method, turning every failure into a ``PlatformError``."""
        try:
            return method(**params)
        except tweepy.HTTPException as error:
            raise _http_error(error, operation) from error
        except requests.Timeout as error:
            raise PlatformError(f"X {operation} timed out after {self.timeout:g}s.", code="timeout") from error
        except requests.ConnectionError as error:
            raise PlatformError(f"X {operation} could not connect.", code="connection_error") from error
        except requests.JSONDecodeError as error:
            raise PlatformError(f"X {operation} returned a body that is not JSON.", code="bad_response") from error
        except requests.RequestException as error:
            raise PlatformError(f"X {operation} failed: {type(error).__name__}.", code="request_failed") from error
        except tweepy.TweepyException as error:
            raise PlatformError(f"X {operation} failed: {error}", permanent=True, code="client_error") from error
        except (KeyError, TypeError, ValueError) as error:
            # tweepy builds its objects from a 200 body without checking its shape.
            logger.warning("X %s returned an unexpected body", operation, exc_info=True)
            raise PlatformError(f"X {operation} returned an unexpected body.", code="bad_response") from error

    # Mapping ------------------------------------------------------------------------------

    def _tweet_posts(self, page: _FetchedPage, *, query_id: int | None = None) -> list[InboundPost]:
        posts = []
        for tweet in page.items:
            post = self._tweet_post(tweet, page.users, query_id=query_id)
            if post is not None:
                posts.append(post)
        return posts

    def _tweet_post(self, tweet: Any, users: Mapping[int, Any], *, query_id: int | None) -> InboundPost | None:
        referenced = {ref.type: ref.id for ref in tweet.referenced_tweets or []}
        if "retweeted" in referenced:
            # A retweet repeats someone else's post; it is not the customer writing to us.
            return None
        if tweet.author_id is None:
            logger.warning("X tweet %s has no author_id; skipped", tweet.id)
            return None
        user = users.get(tweet.author_id)
        # An edit is a new tweet id; the first id of the edit history names the post we captured.
        history = [str(version) for version in tweet.data.get("edit_history_tweet_ids") or [tweet.id]]
        replied_to = referenced.get("replied_to")
        return InboundPost(
            platform=Platform.X,
            channel=Channel.X_PUBLIC,
            external_id=history[0],
            thread_key=str(tweet.conversation_id or tweet.id),
            author=_v2_author(tweet.author_id, user),
            text=tweet.text,
            sent_at=tweet.created_at or _snowflake_time(tweet.id),
            in_reply_to_external_id=str(replied_to) if replied_to is not None else "",
            language=_language(tweet.lang),
            edited=history[0] != str(tweet.id),
            account_id=self.account.id,
            query_id=query_id,
            raw={**tweet.data, "author": user.data if user is not None else {"id": str(tweet.author_id)}},
        )

    def _dm_posts(self, page: _FetchedPage) -> list[InboundPost]:
        posts = []
        for event in page.items:
            # Other event types (ParticipantsJoin, ParticipantsLeave) belong to group threads and carry no message.
            if event.event_type != "MessageCreate":
                continue
            if event.sender_id is None:
                logger.warning("X DM event %s has no sender_id; skipped", event.id)
                continue
            user = page.users.get(event.sender_id)
            posts.append(
                InboundPost(
                    platform=Platform.X,
                    channel=Channel.X_DM,
                    external_id=str(event.id),
                    thread_key=event.dm_conversation_id or str(event.id),
                    author=_v2_author(event.sender_id, user),
                    text=event.text or "",
                    sent_at=event.created_at or _snowflake_time(event.id),
                    account_id=self.account.id,
                    raw={**event.data, "author": user.data if user is not None else {"id": str(event.sender_id)}},
                )
            )
        return posts


def _is_private(request: ReplyRequest) -> bool:
    if request.private or request.channel == Channel.X_DM:
        return True
    if request.channel == Channel.X_PUBLIC:
        return False
    raise PlatformError(f"X cannot reply on channel {request.channel!r}.", permanent=True, code="unsupported")


def _required(value: str, name: str, channel: str) -> str:
    # A reply without its target would become a stray tweet or fail at X; refuse it before sending.
    if not value:
        raise PlatformError(f"An X {channel} reply needs {name}.", permanent=True, code="bad_request")
    return value


def _reply_refusal(error: tweepy.HTTPException) -> tuple[str, str] | None:
    """Why X refused a reply with a 403, as (code, explanation), when it is one we recognise."""
    details = " ".join(str(message) for message in error.api_messages).lower()
    if _TARGET_GONE_DETAIL in details or _TARGET_GONE_CODE in error.api_codes:
        return "target_gone", "The tweet was deleted or is no longer visible to the account."
    if _DUPLICATE_DETAIL in details or _DUPLICATE_CODE in error.api_codes:
        return "duplicate", "X refuses a tweet repeating one the account posted recently."
    return None


def _created_id(response: Any, key: str, operation: str) -> str:
    data = response.data if isinstance(response.data, dict) else {}
    value = data.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
        # X said 2xx but gave no id: whether it posted is unknown, so find_reply must decide.
        raise PlatformError(f"X accepted the {operation} but returned no {key}.", code="bad_response")
    return str(value)


def _raise_for_errors_without_data(response: Any, operation: str) -> None:
    # X answers some failures with a 200 whose body has only errors; an empty listing has neither.
    if response.errors and not response.data:
        details = "; ".join(str(error.get("detail") or error.get("title") or "") for error in response.errors)
        raise PlatformError(f"X {operation} returned errors: {details[:300]}.", code="api_error")


def _lookup_incomplete(listing: str, pages: int) -> PlatformError:
    return PlatformError(
        f"X lists more than {pages} pages of the account's {listing} since the reply was attempted; "
        "whether it was posted is unknown.",
        permanent=True,
        code="lookup_incomplete",
    )


def _comparable(text: str, *, public: bool) -> str:
    """A text as find_reply compares it: see ``XConnector.find_reply``."""
    text = _LINK.sub(" ", unicodedata.normalize("NFC", text))
    if public:
        text = _LEADING_MENTIONS.sub("", text.lstrip())
    return " ".join(text.split())


def _same_text(listed: str, wanted: str, *, public: bool) -> bool:
    # X HTML-escapes &, < and > in tweet text; a text that really contains "&amp;" must match too.
    return wanted in (_comparable(listed, public=public), _comparable(html.unescape(listed), public=public))


def _whole_second(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("since must be timezone-aware.")
    return moment.astimezone(UTC).replace(microsecond=0)


def _fetch_saved_position(
    fetch: Fetch, boundary: int | None, token: str | None, *, since_is_sent: bool
) -> tuple[Any, int | None, str | None]:
    """A poll's first page, from the position saved in the cursor; returns it and the position used.

    That position may have gone stale while the cursor sat in storage, and X answers a stale
    one with a 400: retry once from a position X accepts. (Tokens from this poll's own pages
    are fresh, so a 400 for them is a real error.)
    """
    try:
        return fetch(boundary if since_is_sent else None, token), boundary, token
    except PlatformError as error:
        if error.status != 400:
            raise
        if token is not None:
            # Restart the sweep from the top. The boundary is unchanged, so this repeats
            # posts but skips none.
            token = None
        elif since_is_sent and boundary is not None:
            # Recent search refuses a since_id older than its seven-day window; nothing between
            # that id and the window is retrievable any more.
            boundary = None
        else:
            raise
    return fetch(boundary if since_is_sent else None, token), boundary, token


def _v2_author(user_id: int, user: Any | None) -> Author:
    if user is None:
        return Author(platform=Platform.X, external_id=str(user_id))
    metrics = user.public_metrics or {}
    followers = metrics.get("followers_count")
    return Author(
        platform=Platform.X,
        external_id=str(user.id),
        handle=user.username,
        display_name=user.name,
        followers_count=followers if isinstance(followers, int) else 0,
        verified=bool(user.verified),
    )


def _language(code: str | None) -> str:
    return "" if not code or code in NOT_A_LANGUAGE else code


def _snowflake_time(snowflake: int) -> datetime:
    """When an X id was minted: the fallback when ``created_at`` is missing."""
    return datetime.fromtimestamp(((snowflake >> 22) + _SNOWFLAKE_EPOCH_MS) / 1000, UTC)


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


# --- Search query ------------------------------------------------------------------------


def build_search_query(query: QuerySpec) -> str:
    """The X search string for a listening query.

    ``(kw OR #tag OR "a phrase") -excluded (lang:en OR lang:es) -is:retweet``.
    Raises a permanent ``PlatformError`` when there is nothing to look for:
    X rejects a query made only of negations and filters.
    """
    terms = [term for term in (_clean(word) for word in query.keywords) if term]
    terms += [tag if tag.startswith("#") else f"#{tag}" for tag in (_clean(tag) for tag in query.hashtags) if tag]
    terms += [_quoted(phrase) for phrase in query.phrases if _clean(phrase.replace('"', ""))]
    if not terms:
        raise PlatformError(
            f"Listening query {query.id} has no keyword, hashtag or phrase.", permanent=True, code="empty_query"
        )
    parts = [f"({' OR '.join(terms)})"]
    parts += [
        f"-{_quoted(term) if ' ' in term else term}" for term in (_clean(word) for word in query.exclusions) if term
    ]
    languages = [f"lang:{code}" for code in (_clean(code) for code in query.languages) if code]
    if len(languages) == 1:
        parts.append(languages[0])
    elif languages:
        parts.append(f"({' OR '.join(languages)})")
    parts.append("-is:retweet")
    return " ".join(parts)


def _clean(term: str) -> str:
    return " ".join(term.split())


def _quoted(phrase: str) -> str:
    # X's query syntax has no escape for a quote inside an exact phrase.
    return '"' + _clean(phrase.replace('"', "")) + '"'


# --- Account Activity webhooks -----------------------------------------------------------


def crc_response_token(consumer_secret: str, crc_token: str) -> str:
    """The ``response_token`` answering X's challenge-response check (``GET ?crc_token=``)."""
    digest = hmac.new(consumer_secret.encode(), crc_token.encode(), hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def signature_valid(consumer_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``x-twitter-webhooks-signature`` signs ``body`` (the raw request bytes).

    An empty secret never validates: anyone could compute that signature.
    """
    if not consumer_secret or not header:
        return False
    scheme, _, encoded = header.partition("=")
    if scheme.strip().lower() != "sha256":
        return False
    try:
        received = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(consumer_secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, received)


def parse_account_activity(payload: object) -> WebhookEvents:
    """Split one Account Activity delivery (parsed JSON) into posts and deletions for its account.

    Handles ``tweet_create_events``, ``direct_message_events`` (``message_create``) and
    ``tweet_delete_events``; other event kinds are ignored. Posts by the account itself are
    kept: the pipeline recognises and counts them. Raises ``MalformedPayload`` for anything
    that is not the shape X sends.
    """
    root = _object(payload, "payload")
    for_user_id = _id(root.get("for_user_id"), "for_user_id")
    page = Page()
    for index, event in enumerate(_list(root, "tweet_create_events")):
        post = _webhook_tweet(_object(event, f"tweet_create_events[{index}]"), f"tweet_create_events[{index}]")
        if post is not None:
            page.posts.append(post)
    dm_events = _list(root, "direct_message_events")
    if dm_events:
        users = _object(root.get("users", {}), "users")
        for index, event in enumerate(dm_events):
            where = f"direct_message_events[{index}]"
            post = _webhook_dm(_object(event, where), users, where)
            if post is not None:
                page.posts.append(post)
    for index, event in enumerate(_list(root, "tweet_delete_events")):
        page.deletions.append(_webhook_deletion(_object(event, f"tweet_delete_events[{index}]"), index))
    return {for_user_id: page}


def _webhook_tweet(event: dict[str, Any], where: str) -> InboundPost | None:
    if event.get("retweeted_status") is not None:
        return None
    tweet_id = _id(event.get("id_str"), f"{where}.id_str")
    user = _object(event.get("user"), f"{where}.user")
    text = _string(event.get("text"), f"{where}.text")
    # Tweets over 140 characters arrive truncated, the full text in extended_tweet.
    if event.get("truncated") is True and event.get("extended_tweet") is not None:
        extended = _object(event["extended_tweet"], f"{where}.extended_tweet")
        text = _string(extended.get("full_text"), f"{where}.extended_tweet.full_text")
    reply_to = event.get("in_reply_to_status_id_str")
    parent = _id(reply_to, f"{where}.in_reply_to_status_id_str") if reply_to is not None else ""
    return InboundPost(
        platform=Platform.X,
        channel=Channel.X_PUBLIC,
        external_id=tweet_id,
        # v1.1 tweets carry no conversation_id; the pipeline joins a reply to its parent's
        # conversation through in_reply_to_external_id.
        thread_key=parent or tweet_id,
        author=_v1_author(user, f"{where}.user", id_key="id_str"),
        text=text,
        sent_at=_v1_time(event.get("created_at"), f"{where}.created_at"),
        in_reply_to_external_id=parent,
        language=_language(_optional_string(event, "lang", where)),
        raw=event,
    )


def _webhook_dm(event: dict[str, Any], users: dict[str, Any], where: str) -> InboundPost | None:
    kind = _string(event.get("type"), f"{where}.type")
    if kind != "message_create":
        return None
    event_id = _id(event.get("id"), f"{where}.id")
    message = _object(event.get("message_create"), f"{where}.message_create")
    sender_id = _id(message.get("sender_id"), f"{where}.message_create.sender_id")
    target = _object(message.get("target"), f"{where}.message_create.target")
    recipient_id = _id(target.get("recipient_id"), f"{where}.message_create.target.recipient_id")
    data = _object(message.get("message_data"), f"{where}.message_create.message_data")
    text = _string(data.get("text"), f"{where}.message_create.message_data.text")
    if sender_id in users:
        user = _object(users[sender_id], f"users.{sender_id}")
        author = _v1_author(user, f"users.{sender_id}", id_key="id")
    else:
        user, author = {"id": sender_id}, Author(platform=Platform.X, external_id=sender_id)
    return InboundPost(
        platform=Platform.X,
        channel=Channel.X_DM,
        external_id=event_id,
        # v2 names a one-to-one thread "<lower id>-<higher id>"; using the same key lets polled
        # and pushed messages of one thread meet in one conversation.
        thread_key="-".join(sorted((sender_id, recipient_id), key=int)),
        author=author,
        text=text,
        sent_at=_millis_time(event.get("created_timestamp"), f"{where}.created_timestamp"),
        raw={**event, "author": user},
    )


def _webhook_deletion(event: dict[str, Any], index: int) -> Deletion:
    where = f"tweet_delete_events[{index}]"
    status = _object(event.get("status"), f"{where}.status")
    return Deletion(
        platform=Platform.X,
        external_id=_id(status.get("id"), f"{where}.status.id"),
        at=_millis_time(event.get("timestamp_ms"), f"{where}.timestamp_ms"),
    )


def _v1_author(user: dict[str, Any], where: str, *, id_key: str) -> Author:
    followers = user.get("followers_count", 0)
    if not isinstance(followers, int) or isinstance(followers, bool) or followers < 0:
        raise MalformedPayload(f"{where}.followers_count must be a non-negative integer.")
    verified = user.get("verified", False)
    if not isinstance(verified, bool):
        raise MalformedPayload(f"{where}.verified must be true or false.")
    return Author(
        platform=Platform.X,
        external_id=_id(user.get(id_key), f"{where}.{id_key}"),
        handle=_optional_string(user, "screen_name", where),
        display_name=_optional_string(user, "name", where),
        followers_count=followers,
        verified=verified,
    )


# Shape checks: each names the offending path so a bad delivery is easy to diagnose.


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where} must be an object, not {type(value).__name__}.")
    return value


def _list(root: dict[str, Any], key: str) -> list[Any]:
    value = root.get(key, [])
    if not isinstance(value, list):
        raise MalformedPayload(f"{key} must be a list, not {type(value).__name__}.")
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedPayload(f"{where} must be a string, not {type(value).__name__}.")
    return value


def _optional_string(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    return "" if value is None else _string(value, f"{where}.{key}")


def _id(value: object, where: str) -> str:
    # X sends ids as strings because they overflow JavaScript numbers; a number here means
    # the payload did not come from X (or lost precision on the way).
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise MalformedPayload(f"{where} must be a numeric id string, not {value!r:.40}.")
    return value


_MONTHS = {name: number for number, name in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


def _v1_time(value: object, where: str) -> datetime:
    # v1.1 writes "Fri Nov 20 10:05:44 +0000 2026". strptime's %a and %b follow the process
    # locale, so the English month name is looked up here and only numbers go to strptime.
    parts = _string(value, where).split()
    try:
        _weekday, month, day, clock, offset, year = parts
        numeric = f"{year}-{_MONTHS[month]:02d}-{day} {clock} {offset}"
        return datetime.strptime(numeric, "%Y-%m-%d %H:%M:%S %z").astimezone(UTC)
    except (KeyError, ValueError):
        raise MalformedPayload(f"{where} is not a time like 'Fri Nov 20 10:05:44 +0000 2026'.") from None


def _millis_time(value: object, where: str) -> datetime:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        millis = int(value)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        millis = value
    else:
        raise MalformedPayload(f"{where} must be milliseconds since the epoch, not {value!r:.40}.")
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedPayload(f"{where} is out of range.") from None
