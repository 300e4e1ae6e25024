"""Facebook Pages: the Page feed and Messenger, read by polling the Graph API and from Meta's webhooks.

Webhooks are the fast path; polling is the safety net that catches what a missed or rejected delivery lost.
Both produce the same ``InboundPost`` shapes, so the pipeline's de-duplication by external id merges them.

The webhook helpers (``signature_valid``, ``handshake_response``, ``parse_webhook``) are pure functions: no
database, no Django models, no network.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeGuard
from urllib.parse import parse_qs, urlparse

import facebook
import requests

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

GRAPH_VERSION = "v21.0"

# The values of ``Platform`` and ``Channel`` in contactcenter.core.models, spelled out so that this module (and
# the webhook parsing in it) can be imported without Django's app registry.
PLATFORM = "facebook"
PUBLIC_CHANNEL = "facebook_public"
MESSENGER_CHANNEL = "facebook_messenger"

FEED_FIELDS = (
    "id,message,created_time,from,"
    # filter(stream): the comments edge otherwise returns only top-level comments, so replies would never be
    # seen. order(reverse_chronological): newest first, so paging can stop at comments older than the window.
    "comments.filter(stream).order(reverse_chronological).limit(100){id,message,created_time,from,parent}"
)
# A conversation's messages come newest first.
CONVERSATION_FIELDS = "participants,updated_time,messages.limit(25){id,message,from,created_time}"
# What find_reply reads: a comment's replies, newest first, and the messages of one customer's conversation.
REPLY_LOOKUP_COMMENT_FIELDS = "id,message,from,created_time"
REPLY_LOOKUP_CONVERSATION_FIELDS = "messages.limit(25){id,message,from,created_time}"

SINCE_OVERLAP = timedelta(minutes=5)
"""How far each window reaches back before the newest post already seen.

Graph timestamps come from many servers and posts become readable a little after their ``created_time``, so a post
can appear after a newer one was read. Re-reading a few minutes costs only duplicates, which the pipeline drops.
"""
FIRST_POLL_LOOKBACK = timedelta(days=1)
"""Without a cursor, the first poll reads this far back rather than the Page's whole history."""
RATE_LIMIT_BACKOFF = timedelta(minutes=5)
MAX_NESTED_PAGES = 10
"""Pages of one post's comments or one conversation's messages read per poll."""

MAX_ID_LENGTH = 128
"""External ids are stored in 128-character columns."""

_RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
_PERSON_UNAVAILABLE_CODE = 551
"""Messenger: "This person isn't available right now" (blocked the Page, deactivated the account)."""
_SERVER_ERROR_CODES = frozenset({1, 2})
_OUTSIDE_WINDOW_SUBCODE = 2018278
# Query parameters that carry secrets: never kept in a cursor, never put in a message.
_SECRET_PARAMS = frozenset({"access_token", "appsecret_proof"})
_SECRET_IN_TEXT = re.compile(r"\b(access_token|appsecret_proof|client_secret)=[^&\s'\"<>]*", re.IGNORECASE)
_MAX_MESSAGE_LENGTH = 500

# Feed items that are customer content; reactions, likes, shares, ratings, ... are not.
_FEED_ITEMS = frozenset({"comment", "post", "status", "photo", "video"})
# Meta's challenge is a number; anything else is not echoed back into an HTTP body.
_CHALLENGE = re.compile(r"[A-Za-z0-9._-]{1,256}")
# Facebook did not exist before 2004; a timestamp outside this range is a unit mix-up (seconds for ms) or garbage.
_EARLIEST = datetime(2004, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------------- polling


@register
class FacebookConnector(Connector):
    """A Facebook Page: comments and visitor posts on its feed, and its Messenger conversations; replies to both.

    ``account.external_id`` is the Page id; ``account.credentials["page_access_token"]`` a Page access token.
    """

    platform: ClassVar[str] = PLATFORM
    max_pages: int = 10
    """Pages of the feed, and of the conversation list, read per poll; the rest is read by the next poll."""

    def __init__(self, account: AccountRef, *, timeout: float = 10.0) -> None:
        super().__init__(account, timeout=timeout)
        self._graph: Any = None  # a facebook.GraphAPI, built on first use
        self._last_status: int | None = None

    def poll(self, cursor: dict[str, Any]) -> Page:
        """Feed comments, visitor posts and Messenger messages since ``cursor``.

        The cursor is saved only after the returned posts are stored, and a crash re-uses the old one: so it
        never claims more than was returned, and duplicates (re-read posts) are fine. Its shape::

            {"feed": {"since": 1763632500}, "messenger": {"since": 1763632800, "resume": {...}, "newest": ...}}

        Per listing (the Page feed, the Messenger conversation list):

        ``since``
            Unix seconds, the start of the next poll's window: the newest ``created_time`` (feed) or
            ``updated_time`` (conversations) seen, minus ``SINCE_OVERLAP``; it never moves back. Without it the
            window starts ``FIRST_POLL_LOOKBACK`` ago. The feed sends it as Graph's ``since``; the conversation
            list has no such filter, so reading stops at the first conversation last updated before it.
        ``resume``, ``newest``
            Present only when a poll stopped after ``max_pages`` with more to read: the query of the
            ``paging.next`` link to carry on from (the access token removed) and the newest time seen so far.
            The next poll reads on from there with the same window; ``since`` moves only once the listing is
            read to its end, so the pages between are never skipped.
        """
        now = _now()
        try:
            feed_posts, feed_state = self._poll_feed(_ListingState.load(cursor, "feed"), now)
            messenger_posts, messenger_state = self._poll_messenger(_ListingState.load(cursor, "messenger"), now)
        except MalformedPayload as exc:
            # Graph answered, but not in the documented shape: most likely a passing fault, so retried.
            raise PlatformError(f"Facebook sent an unexpected answer: {exc}", code="bad_response") from None
        return Page(
            posts=feed_posts + messenger_posts,
            cursor={"feed": feed_state.dump(), "messenger": messenger_state.dump()},
        )

    def search(self, query: QuerySpec, cursor: dict[str, Any]) -> Page:
        raise PlatformError(
            "Facebook has no public keyword search in the Graph API: listening queries cannot run on a Facebook "
            "account. Its Page comments, visitor posts and Messenger conversations are captured by polling.",
            permanent=True,
            code="unsupported",
        )

    # -- replies

    def post_reply(self, request: ReplyRequest) -> str:
        """Post ``request`` as the Page; return the new comment id or Messenger message id.

        Public (channel ``facebook_public``): a comment answering ``in_reply_to_external_id`` (a comment or a
        visitor post), ``POST /{in_reply_to}/comments`` with ``message``. Private (channel ``facebook_messenger``,
        or ``request.private``): ``POST /{page-id}/messages`` to the customer's page-scoped id
        ``recipient_external_id``, with ``messaging_type=RESPONSE``. Graph takes no idempotency key: call
        ``find_reply`` before retrying an unknown outcome.

        Raises ``PlatformError``: permanent ``no_credentials`` (nothing sent), ``unauthorized`` (code 190),
        ``outside_window`` (code 10/2018278: the 24-hour Messenger window has closed), ``target_gone`` (code
        100, e.g. a deleted comment; 551, a customer Messenger cannot reach), ``forbidden`` (a missing
        permission); temporary ``rate_limited`` (with ``retry_at``), ``server_error``, ``timeout``,
        ``connection_error``, ``bad_response``.
        """
        _required(request.text.strip(), "text", request.channel)
        if _is_private(request):
            recipient = _required(request.recipient_external_id, "recipient_external_id", request.channel)
            result = self._graph_call(
                "send a Messenger message",
                lambda graph: graph.put_object(
                    parent_object=self.account.external_id,
                    connection_name="messages",
                    # The Send API takes its object fields as JSON, form-encoded like every other field.
                    recipient=json.dumps({"id": recipient}),
                    messaging_type="RESPONSE",
                    message=json.dumps({"text": request.text}),
                ),
                replying=True,
            )
            return _created_id(result, "message_id", "Messenger message")
        in_reply_to = _required(request.in_reply_to_external_id, "in_reply_to_external_id", request.channel)
        result = self._graph_call(
            "post a comment",
            lambda graph: graph.put_object(parent_object=in_reply_to, connection_name="comments", message=request.text),
            replying=True,
        )
        return _created_id(result, "id", "comment")

    def find_reply(self, request: ReplyRequest, since: datetime) -> str | None:
        """The id of the Page's comment or message that already carries ``request``, created at or after ``since``.

        Public: the replies to ``in_reply_to_external_id``, newest first (``GET /{in_reply_to}/comments``).
        Private: the messages of the Page's conversation with ``recipient_external_id``
        (``GET /{page-id}/conversations?platform=messenger&user_id=...``). Only the Page's own items count (``from``
        is the Page), and texts match when equal up to Unicode normalisation (NFC) and whitespace. Graph reports
        whole seconds, so ``since`` is compared to the second.

        Raises ``PlatformError`` as ``post_reply`` does (``target_gone`` when the comment no longer exists), and
        permanent ``lookup_incomplete`` when more than ``max_pages`` pages lie after ``since``: the reply cannot be
        ruled out, so it must not simply be posted again.
        """
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware.")
        window_start = _unix(since)  # whole seconds, rounded down
        wanted = _comparable(request.text)
        try:
            if _is_private(request):
                recipient = _required(request.recipient_external_id, "recipient_external_id", request.channel)
                return self._find_message(recipient, wanted, window_start)
            in_reply_to = _required(request.in_reply_to_external_id, "in_reply_to_external_id", request.channel)
            return self._find_comment(in_reply_to, wanted, window_start)
        except MalformedPayload as exc:
            raise PlatformError(f"Facebook sent an unexpected answer: {exc}", code="bad_response") from None

    def _find_comment(self, in_reply_to: str, wanted: str, window_start: int) -> str | None:
        path = f"{GRAPH_VERSION}/{in_reply_to}/comments"
        args = {"fields": REPLY_LOOKUP_COMMENT_FIELDS, "order": "reverse_chronological"}
        page = self._get(path, args, replying=True)
        return self._find_in_newest_first(page, wanted, window_start, f"{in_reply_to} comments")

    def _find_message(self, recipient: str, wanted: str, window_start: int) -> str | None:
        path = f"{GRAPH_VERSION}/{self.account.external_id}/conversations"
        args = {"platform": "messenger", "user_id": recipient, "fields": REPLY_LOOKUP_CONVERSATION_FIELDS}
        response = self._get(path, args, replying=True)
        # One conversation per customer; a list all the same.
        for index, item in enumerate(_list(response.get("data"), "conversations data")):
            where = f"conversations data[{index}].messages"
            messages = _object(item, f"conversations data[{index}]").get("messages")
            if messages is None:
                continue
            found = self._find_in_newest_first(_object(messages, where), wanted, window_start, where)
            if found is not None:
                return found
        return None

    def _find_in_newest_first(self, page: dict[str, Any], wanted: str, window_start: int, where: str) -> str | None:
        """The Page's item with the wanted text in a newest-first listing, reading pages back to ``window_start``."""
        for pages_read in range(1, self.max_pages + 1):
            items = _list(page.get("data"), f"{where}.data")
            reached_start = False
            for index, entry in enumerate(items):
                item = _object(entry, f"{where}.data[{index}]")
                created = _graph_time(item.get("created_time"), f"{where}.data[{index}].created_time")
                if _unix(created) < window_start:
                    reached_start = True
                    continue
                # Graph may leave out ``from`` for people whose profile the token may not read: not the Page.
                author = item.get("from")
                author_id = author.get("id") if isinstance(author, dict) else None
                message = item.get("message")
                if (
                    author_id == self.account.external_id
                    and isinstance(message, str)
                    and _comparable(message) == wanted
                ):
                    return _id(item.get("id"), f"{where}.data[{index}].id")
            link = _next_link(page)
            if link is None or reached_start or not items:
                return None
            if pages_read == self.max_pages:
                break
            page = self._get(*link, replying=True)
        raise PlatformError(
            f"Facebook lists more than {self.max_pages} pages of {where} since the reply was attempted; whether it "
            "was posted is unknown.",
            permanent=True,
            code="lookup_incomplete",
        )

    # -- the two listings

    def _poll_feed(self, state: _ListingState, now: datetime) -> tuple[list[InboundPost], _ListingState]:
        window_start = state.window_start(now)
        path = f"{GRAPH_VERSION}/{self.account.external_id}/feed"
        args = {"fields": FEED_FIELDS, "since": str(window_start)}
        return self._walk(path, args, state, window_start, self._read_feed_page)

    def _poll_messenger(self, state: _ListingState, now: datetime) -> tuple[list[InboundPost], _ListingState]:
        window_start = state.window_start(now)
        path = f"{GRAPH_VERSION}/{self.account.external_id}/conversations"
        args = {"platform": "messenger", "fields": CONVERSATION_FIELDS}
        return self._walk(path, args, state, window_start, self._read_conversations_page)

    def _walk(
        self,
        path: str,
        args: dict[str, str],
        state: _ListingState,
        window_start: int,
        read_page: Callable[[list[Any], int], _Batch],
    ) -> tuple[list[InboundPost], _ListingState]:
        """Read a listing page by page, following ``paging.next``, for at most ``max_pages`` pages.

        Returns the posts and the listing's next state: a new ``since`` when the listing was read to its end,
        else the same ``since`` with where to resume (see ``poll``).
        """
        posts: list[InboundPost] = []
        resume, newest = state.resume, state.newest
        resuming = resume is not None
        for _ in range(self.max_pages):
            try:
                # Our args first: a ``paging.next`` link normally repeats them, but nothing promises it.
                response = self._get(path, {**args, **resume} if resume else args)
            except PlatformError as error:
                if not (resuming and error.code == "bad_request"):
                    raise
                # A saved paging cursor can expire (Graph answers code 100): read the window again from the top.
                logger.info("Facebook refused a saved paging cursor for %s; re-reading the window.", path)
                resume, resuming = None, False
                continue
            resuming = False
            batch = read_page(_list(response.get("data"), f"{path} data"), window_start)
            posts.extend(batch.posts)
            newest = _latest(newest, batch.newest)
            resume = None if batch.reached_end else _next_args(response)
            if resume is None:
                since = window_start if newest is None else max(window_start, newest - _seconds(SINCE_OVERLAP))
                return posts, _ListingState(since=since)
        return posts, _ListingState(since=window_start, resume=resume, newest=newest)

    def _read_feed_page(self, items: list[Any], window_start: int) -> _Batch:
        batch = _Batch()
        for index, item in enumerate(items):
            where = f"feed data[{index}]"
            post = _object(item, where)
            post_id = _id(post.get("id"), f"{where}.id")
            created = _graph_time(post.get("created_time"), f"{where}.created_time")
            batch.saw(created)
            author = _author(post.get("from"), f"{where}.from")
            # The Page's own posts are not customer content; its comments are kept (the pipeline counts them).
            if author.external_id != self.account.external_id:
                # Comments are captured as posts of their own, and their paging links carry the access token.
                raw = {key: value for key, value in post.items() if key != "comments"}
                batch.posts.append(
                    self._post(
                        channel=PUBLIC_CHANNEL,
                        external_id=post_id,
                        thread_key=post_id,
                        author=author,
                        text=_text(post.get("message"), f"{where}.message"),
                        sent_at=created,
                        raw=raw,
                    )
                )
            comments = self._connection_items(post.get("comments"), window_start, f"{where}.comments")
            for position, comment in enumerate(comments):
                comment_post = self._comment_post(comment, post_id, f"{where}.comments[{position}]")
                batch.posts.append(comment_post)
                batch.saw(comment_post.sent_at)
        return batch

    def _comment_post(self, comment: dict[str, Any], post_id: str, where: str) -> InboundPost:
        comment_id = _id(comment.get("id"), f"{where}.id")
        created = _graph_time(comment.get("created_time"), f"{where}.created_time")
        parent = comment.get("parent")
        if parent is None:
            # A top-level comment starts its own thread, answering the post.
            thread_key, in_reply_to = comment_id, post_id
        else:
            # Facebook nests replies one level only: the parent is always a top-level comment.
            parent_id = _id(_object(parent, f"{where}.parent").get("id"), f"{where}.parent.id")
            thread_key, in_reply_to = parent_id, parent_id
        return self._post(
            channel=PUBLIC_CHANNEL,
            external_id=comment_id,
            thread_key=thread_key,
            in_reply_to=in_reply_to,
            author=_author(comment.get("from"), f"{where}.from"),
            text=_text(comment.get("message"), f"{where}.message"),
            sent_at=created,
            raw=comment,
        )

    def _read_conversations_page(self, items: list[Any], window_start: int) -> _Batch:
        batch = _Batch()
        for index, item in enumerate(items):
            where = f"conversations data[{index}]"
            conversation = _object(item, where)
            updated = _graph_time(conversation.get("updated_time"), f"{where}.updated_time")
            if _unix(updated) < window_start:
                # Conversations come most recently updated first: everything after this one is older still.
                batch.reached_end = True
                break
            batch.saw(updated)
            customer_id = self._customer_in(conversation, where)
            messages = self._connection_items(conversation.get("messages"), window_start, f"{where}.messages")
            for position, message in enumerate(messages):
                message_where = f"{where}.messages[{position}]"
                created = _graph_time(message.get("created_time"), f"{message_where}.created_time")
                batch.saw(created)
                batch.posts.append(
                    self._post(
                        channel=MESSENGER_CHANNEL,
                        external_id=_id(message.get("id"), f"{message_where}.id"),
                        thread_key=customer_id,
                        author=_author(message.get("from"), f"{message_where}.from"),
                        text=_text(message.get("message"), f"{message_where}.message"),
                        sent_at=created,
                        raw=message,
                    )
                )
        return batch

    def _customer_in(self, conversation: dict[str, Any], where: str) -> str:
        """The customer's page-scoped id (PSID): the participant that is not the Page."""
        participants = _object(conversation.get("participants"), f"{where}.participants")
        for index, participant in enumerate(_list(participants.get("data"), f"{where}.participants.data")):
            participant_where = f"{where}.participants.data[{index}]"
            participant_id = _id(_object(participant, participant_where).get("id"), f"{participant_where}.id")
            if participant_id != self.account.external_id:
                return participant_id
        raise MalformedPayload(f"{where}.participants has no participant other than the Page.")

    def _connection_items(self, connection: object, window_start: int, where: str) -> list[dict[str, Any]]:
        """The items of a nested connection (a post's comments, a conversation's messages), newest first.

        Graph returns the first page inline; further pages are read while they may hold items inside the window.
        """
        if connection is None:  # Graph leaves the key out when there are no comments.
            return []
        page = _object(connection, where)
        items: list[dict[str, Any]] = []
        for pages_read in range(1, MAX_NESTED_PAGES + 1):
            data = _list(page.get("data"), f"{where}.data")
            items.extend(_object(item, f"{where}.data[{index}]") for index, item in enumerate(data))
            link = _next_link(page)
            if link is None or not data:
                break
            oldest = _graph_time(items[-1].get("created_time"), f"{where}.data[-1].created_time")
            if _unix(oldest) < window_start:
                break
            if pages_read == MAX_NESTED_PAGES:
                logger.warning("Facebook %s has more than %d pages inside the poll window.", where, pages_read)
                break
            page = self._get(*link)
        return items

    def _post(
        self,
        *,
        channel: str,
        external_id: str,
        thread_key: str,
        author: Author,
        text: str,
        sent_at: datetime,
        raw: dict[str, Any],
        in_reply_to: str = "",
    ) -> InboundPost:
        return InboundPost(
            platform=PLATFORM,
            channel=channel,
            external_id=external_id,
            thread_key=thread_key,
            author=author,
            text=text,
            sent_at=sent_at,
            in_reply_to_external_id=in_reply_to,
            account_id=self.account.id,
            raw=raw,
        )

    # -- the Graph API

    def _graph_api(self) -> Any:
        if self._graph is None:
            token = self.account.credentials.get("page_access_token", "")
            if not isinstance(token, str) or not token.strip():
                raise PlatformError(
                    "The Facebook account has no Page access token: reconnect the Page.",
                    permanent=True,
                    code="no_credentials",
                )
            graph = facebook.GraphAPI(access_token=token, timeout=self.timeout)
            # facebook-sdk 3.1.0's constructor accepts only versions 2.8-3.1, which Meta no longer serves.
            graph.version = GRAPH_VERSION
            # The SDK ignores HTTP status codes; remember them for error messages (a 502 from a proxy).
            graph.session.hooks["response"].append(self._remember_status)
            self._graph = graph
        return self._graph

    def _remember_status(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_status = response.status_code

    def _get(self, path: str, args: Mapping[str, str], *, replying: bool = False) -> dict[str, Any]:
        """GET a Graph path; every failure becomes a ``PlatformError`` whose message holds no token."""
        # The SDK adds the token to the dict it is given.
        return self._graph_call(path, lambda graph: graph.request(path, dict(args)), replying=replying)

    def _graph_call(self, what: str, call: Callable[[Any], object], *, replying: bool = False) -> dict[str, Any]:
        """Run one facebook-sdk call on the Graph client; every failure becomes a token-free ``PlatformError``.

        ``replying`` maps errors as replies need them (see ``_graph_error``).
        """
        graph = self._graph_api()
        self._last_status = None
        error: PlatformError | None = None
        result: object = None
        # The error is raised outside the ``except`` blocks so that it carries no ``__context__``: the SDK's and
        # requests' exceptions hold request URLs, and with them the access token.
        try:
            result = call(graph)
        except facebook.GraphAPIError as exc:
            error = _graph_error(exc, self._last_status, self._secrets(), replying=replying)
        except requests.Timeout as exc:
            error = PlatformError(
                f"Facebook did not answer within {self.timeout:g} s: {_scrub(str(exc), self._secrets())}",
                code="timeout",
            )
        except requests.JSONDecodeError:
            # A body labelled JSON that is not, such as one cut short by a proxy.
            error = PlatformError(
                "Facebook sent a body that is not valid JSON.", status=self._last_status, code="bad_response"
            )
        except requests.RequestException as exc:
            error = PlatformError(
                f"Could not reach Facebook: {_scrub(str(exc), self._secrets())}",
                status=self._last_status,
                code="connection_error",
            )
        except KeyError:
            # facebook-sdk reads response.headers["content-type"] unguarded: a response without one (a broken
            # proxy) raises KeyError.
            error = PlatformError(
                "Facebook answered without a Content-Type header.", status=self._last_status, code="bad_response"
            )
        if error is not None:
            raise error
        if not isinstance(result, dict):
            raise PlatformError(
                f"Facebook answered {what} with {type(result).__name__}, not a JSON object.",
                status=self._last_status,
                code="bad_response",
            )
        if self._last_status is not None and self._last_status >= 500:
            raise PlatformError(
                f"Facebook answered HTTP {self._last_status} without an error object.",
                status=self._last_status,
                code="server_error",
            )
        return result

    def _secrets(self) -> tuple[str, ...]:
        token = self.account.credentials.get("page_access_token", "")
        return (token,) if token else ()


@dataclass(frozen=True)
class _ListingState:
    """One listing's part of the poll cursor (see ``FacebookConnector.poll``)."""

    since: int | None = None
    resume: dict[str, str] | None = None
    newest: int | None = None

    @classmethod
    def load(cls, cursor: Mapping[str, Any], key: str) -> _ListingState:
        # Cursors come from our own database; one we cannot read starts afresh rather than wedging the account.
        value = cursor.get(key) if isinstance(cursor, Mapping) else None
        if not isinstance(value, Mapping):
            return cls()
        since = value.get("since")
        if not _is_int(since):
            return cls()
        resume = value.get("resume")
        newest = value.get("newest")
        if not (
            isinstance(resume, Mapping)
            and resume
            and all(isinstance(k, str) and isinstance(v, str) for k, v in resume.items())
        ):
            return cls(since=since)
        return cls(since=since, resume=dict(resume), newest=newest if _is_int(newest) else None)

    def window_start(self, now: datetime) -> int:
        return self.since if self.since is not None else _unix(now - FIRST_POLL_LOOKBACK)

    def dump(self) -> dict[str, Any]:
        state: dict[str, Any] = {"since": self.since}
        if self.resume:
            state["resume"] = self.resume
            if self.newest is not None:
                state["newest"] = self.newest
        return state


@dataclass
class _Batch:
    """What one page of a listing yielded."""

    posts: list[InboundPost] = field(default_factory=list)
    newest: int | None = None
    reached_end: bool = False
    """The page reached items older than the window: later pages need not be read."""

    def saw(self, moment: datetime) -> None:
        self.newest = _latest(self.newest, _unix(moment))


def _next_args(response: Mapping[str, Any]) -> dict[str, str] | None:
    link = _next_link(response)
    return link[1] if link else None


def _next_link(response: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The path and query of ``paging.next``, without the access token it embeds."""
    paging = response.get("paging")
    if not isinstance(paging, dict):
        return None
    url = paging.get("next")
    if not isinstance(url, str) or not url:
        return None
    parsed = urlparse(url)
    path = parsed.path.lstrip("/")
    if not path:
        raise MalformedPayload("paging.next has no path.")
    query = parse_qs(parsed.query, keep_blank_values=True)
    return path, {name: values[-1] for name, values in query.items() if name not in _SECRET_PARAMS}


def _graph_error(
    exc: facebook.GraphAPIError, status: int | None, secrets: tuple[str, ...], *, replying: bool = False
) -> PlatformError:
    """The ``PlatformError`` for a Graph error object.

    With ``replying``, code 100 (the object does not exist or cannot be loaded, e.g. a deleted comment) and 551
    (Messenger cannot reach the person) are ``target_gone``: the thing the reply answers is gone. Elsewhere 100 is
    ``bad_request``, which polling reads as an expired paging cursor.
    """
    result = exc.result if isinstance(exc.result, dict) else {}
    error = result.get("error")
    details: dict[str, Any] = error if isinstance(error, dict) else {}
    code = _int_or_none(details.get("code"))
    subcode = _int_or_none(details.get("error_subcode"))
    text = _scrub(str(exc.message), secrets)
    label = "" if code is None else f" (code {code}{'' if subcode is None else f', subcode {subcode}'})"

    if code == 190:
        return PlatformError(
            f"Facebook rejected the Page access token{label}: {text} Reconnect the Page.",
            permanent=True,
            status=status,
            code="unauthorized",
        )
    if code in _RATE_LIMIT_CODES:
        # A fixed pause: the usage headers that sometimes estimate the time to regain access are not read.
        return PlatformError(
            f"Facebook rate limit reached{label}: {text}",
            retry_at=_now() + RATE_LIMIT_BACKOFF,
            status=status,
            code="rate_limited",
        )
    if code == 10 and subcode == _OUTSIDE_WINDOW_SUBCODE:
        return PlatformError(
            f"Messenger allows replies only within 24 hours of the customer's last message{label}: {text}",
            permanent=True,
            status=status,
            code="outside_window",
        )
    if replying and code in (100, _PERSON_UNAVAILABLE_CODE):
        return PlatformError(
            f"The post, comment or person this reply answers is gone or cannot be reached{label}: {text}",
            permanent=True,
            status=status,
            code="target_gone",
        )
    if code == 100:
        return PlatformError(
            f"Facebook refused the request{label}: {text}", permanent=True, status=status, code="bad_request"
        )
    if code in _SERVER_ERROR_CODES or details.get("is_transient") is True:
        return PlatformError(f"Facebook had a temporary problem{label}: {text}", status=status, code="server_error")
    if code == 10 or (code is not None and 200 <= code <= 299):
        # Permission errors: the token lacks a permission (pages_read_engagement, pages_messaging, ...).
        return PlatformError(
            f"Facebook denied permission{label}: {text} Reconnect the Page with the required permissions.",
            permanent=True,
            status=status,
            code="forbidden",
        )
    if code is None:
        # Not a Graph error object: facebook-sdk raises GraphAPIError("Maintype was not text, image, or
        # querystring") for a body that is not JSON, such as a proxy's HTML 502 page.
        where = f"HTTP {status}" if status else "a response"
        return PlatformError(
            f"Facebook sent {where} that is not a Graph API answer: {text}",
            status=status,
            code="server_error" if status is not None and status >= 500 else "bad_response",
        )
    return PlatformError(f"Facebook API error{label}: {text}", status=status, code="api_error")


def _is_private(request: ReplyRequest) -> bool:
    if request.private or request.channel == MESSENGER_CHANNEL:
        return True
    if request.channel == PUBLIC_CHANNEL:
        return False
    raise PlatformError(f"Facebook cannot reply on channel {request.channel!r}.", permanent=True, code="unsupported")


def _required(value: str, name: str, channel: str) -> str:
    # A reply without its target cannot be sent; refuse it before calling Facebook.
    if not value:
        raise PlatformError(f"A Facebook {channel} reply needs {name}.", permanent=True, code="bad_request")
    return value


def _created_id(result: Mapping[str, Any], key: str, what: str) -> str:
    value = result.get(key)
    if not isinstance(value, str) or not value:
        # Facebook said it worked but named nothing: whether it posted is unknown, so find_reply must decide.
        raise PlatformError(f"Facebook accepted the {what} but returned no {key}.", code="bad_response")
    return value


def _comparable(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Remove tokens from text: facebook-sdk and requests put request URLs, token included, in their messages."""
    for secret in secrets:
        if len(secret) >= 8:  # a real token is far longer; a short test value would mangle the message
            text = text.replace(secret, "[redacted]")
    text = _SECRET_IN_TEXT.sub(r"\1=[redacted]", text)
    if len(text) > _MAX_MESSAGE_LENGTH:
        text = text[: _MAX_MESSAGE_LENGTH - 1] + "…"
    return text


def _graph_time(value: object, where: str) -> datetime:
    """Graph reads give times as ISO 8601 with a numeric offset, e.g. ``2026-11-20T10:04:58+0000``."""
    if not isinstance(value, str):
        raise MalformedPayload(f"{where} must be a time string.")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
    except ValueError:
        raise MalformedPayload(f"{where} is not a time like 2026-11-20T10:04:58+0000.") from None


# --------------------------------------------------------------------------------------------------- webhooks


def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature-256`` is ``sha256=`` + the hex HMAC-SHA256 of the raw body with the app secret.

    Meta signs the bytes it sends (non-ASCII escaped as ``\\uXXXX``): pass ``request.body``, never re-serialised
    JSON. An empty app secret never validates: anyone could compute that signature.
    """
    if not app_secret or not isinstance(header, str):
        return False
    scheme, separator, received = header.strip().partition("=")
    if not separator or scheme.lower() != "sha256" or not received:
        return False
    expected = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    # Bytes, not str: compare_digest raises TypeError on non-ASCII str, and a header can hold anything.
    return hmac.compare_digest(expected.encode("ascii"), received.strip().lower().encode("utf-8", "replace"))


def handshake_response(params: Mapping[str, str], verify_token: str) -> str | None:
    """The body to answer Meta's subscription handshake with, or None (answer 403).

    Meta sends ``hub.mode=subscribe``, ``hub.verify_token`` (the token configured for the app) and
    ``hub.challenge`` (a number), and expects the challenge back.
    """
    mode = params.get("hub.mode")
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if not verify_token or mode != "subscribe" or not isinstance(token, str) or not isinstance(challenge, str):
        return None
    if not hmac.compare_digest(token.encode("utf-8", "replace"), verify_token.encode("utf-8", "replace")):
        return None
    # The challenge is echoed into a response body: return only what Meta sends, never markup.
    if not _CHALLENGE.fullmatch(challenge):
        return None
    return challenge


def parse_webhook(payload: object) -> WebhookEvents:
    """A decoded Page webhook delivery, split by Page id (``entry[].id``).

    ``entry[].changes[]`` (field ``feed``): comments and posts become posts (``edited`` for verb ``edited``);
    ``remove`` and ``hide`` become deletions; reactions, likes, shares and other items are ignored.
    ``entry[].messaging[]``: customers' messages become Messenger posts; echoes of the Page's own messages,
    ``delivery`` and ``read`` receipts and unknown events are ignored.

    Posts the Page wrote itself are kept: the pipeline filters and counts them. ``account_id`` is left for the
    caller to set. Raises ``MalformedPayload`` for anything not shaped like Meta's deliveries.
    """
    body = _object(payload, "payload")
    if body.get("object") != "page":
        raise MalformedPayload(f"payload.object must be 'page', got {_describe(body.get('object'))}.")
    events: WebhookEvents = {}
    for index, item in enumerate(_list(body.get("entry"), "payload.entry")):
        where = f"entry[{index}]"
        entry = _object(item, where)
        page_id = _id(entry.get("id"), f"{where}.id")
        page = events.setdefault(page_id, Page())
        for position, change in enumerate(_optional_list(entry.get("changes"), f"{where}.changes")):
            _read_change(change, f"{where}.changes[{position}]", page)
        for position, event in enumerate(_optional_list(entry.get("messaging"), f"{where}.messaging")):
            _read_messaging(event, f"{where}.messaging[{position}]", page)
    return events


def _read_change(item: object, where: str, page: Page) -> None:
    change = _object(item, where)
    if _string(change.get("field"), f"{where}.field") != "feed":
        return
    value = _object(change.get("value"), f"{where}.value")
    item_kind = _string(value.get("item"), f"{where}.value.item")
    verb = _string(value.get("verb"), f"{where}.value.verb")
    if item_kind not in _FEED_ITEMS:
        return
    is_comment = item_kind == "comment"
    post_id = _id(value.get("post_id"), f"{where}.value.post_id")
    external_id = _id(value.get("comment_id"), f"{where}.value.comment_id") if is_comment else post_id

    if verb in ("remove", "hide"):
        created = value.get("created_time")
        at = _now() if created is None else _from_unix(created, f"{where}.value.created_time", per_second=1)
        page.deletions.append(Deletion(platform=PLATFORM, external_id=external_id, at=at))
        return
    if verb not in ("add", "edited"):
        return  # unhide, and verbs Meta may add later

    if is_comment:
        parent_id = value.get("parent_id")
        if parent_id is None or parent_id == post_id:
            thread_key, in_reply_to = external_id, post_id  # a top-level comment starts its own thread
        else:
            parent = _id(parent_id, f"{where}.value.parent_id")
            thread_key, in_reply_to = parent, parent  # replies nest one level: the parent is top-level
    else:
        thread_key, in_reply_to = post_id, ""
    # A photo or video comment, or a post without a caption, has no message; the media URL stays in raw.
    text = _optional_string(value.get("message"), f"{where}.value.message") or _feed_media_text(item_kind, value)
    page.posts.append(
        InboundPost(
            platform=PLATFORM,
            channel=PUBLIC_CHANNEL,
            external_id=external_id,
            thread_key=thread_key,
            author=_author(value.get("from"), f"{where}.value.from"),
            text=text,
            # For an edit, created_time is still the original comment's.
            sent_at=_from_unix(value.get("created_time"), f"{where}.value.created_time", per_second=1),
            in_reply_to_external_id=in_reply_to,
            edited=verb == "edited",
            raw=value,
        )
    )


def _feed_media_text(item_kind: str, value: dict[str, Any]) -> str:
    if item_kind == "video" or "video" in value:
        return "[video attachment]"
    if item_kind == "photo" or "photo" in value:
        return "[image attachment]"
    return "[attachment]"


def _read_messaging(item: object, where: str, page: Page) -> None:
    event = _object(item, where)
    if "message" in event:
        message = _object(event["message"], f"{where}.message")
        is_echo = message.get("is_echo", False)
        if not isinstance(is_echo, bool):
            raise MalformedPayload(f"{where}.message.is_echo must be true or false.")
        if is_echo:  # the Page's own message, sent from our replies or the Page inbox
            return
        reply_to = message.get("reply_to")
        in_reply_to = ""
        if reply_to is not None:  # the customer quoted an earlier message
            quoted = _object(reply_to, f"{where}.message.reply_to")
            in_reply_to = _id(quoted.get("mid"), f"{where}.message.reply_to.mid")
        page.posts.append(_messenger_post(event, message, where, f"{where}.message", in_reply_to, edited=False))
    elif "message_edit" in event:
        message = _object(event["message_edit"], f"{where}.message_edit")
        page.posts.append(_messenger_post(event, message, where, f"{where}.message_edit", "", edited=True))
    # delivery and read receipts, reactions, postbacks and events Meta may add later carry no customer text.


def _messenger_post(
    event: dict[str, Any], message: dict[str, Any], where: str, message_where: str, in_reply_to: str, *, edited: bool
) -> InboundPost:
    sender_id = _id(_object(event.get("sender"), f"{where}.sender").get("id"), f"{where}.sender.id")
    text = _optional_string(message.get("text"), f"{message_where}.text")
    if not text:
        text = _attachments_text(message.get("attachments"), f"{message_where}.attachments")
    return InboundPost(
        platform=PLATFORM,
        channel=MESSENGER_CHANNEL,
        external_id=_id(message.get("mid"), f"{message_where}.mid"),
        # The conversation is with one customer, named by their page-scoped id (PSID).
        thread_key=sender_id,
        author=Author(platform=PLATFORM, external_id=sender_id),
        text=text,
        sent_at=_from_unix(event.get("timestamp"), f"{where}.timestamp", per_second=1000),
        in_reply_to_external_id=in_reply_to,
        edited=edited,
        raw=event,
    )


def _attachments_text(value: object, where: str) -> str:
    """A stand-in text for a message without one: an image, a sticker (an image too), a file, a location..."""
    kinds = []
    for index, item in enumerate(_optional_list(value, where)):
        attachment = _object(item, f"{where}[{index}]")
        kind = _optional_string(attachment.get("type"), f"{where}[{index}].type") or "unknown"
        kinds.append(f"[{kind} attachment]")
    return " ".join(kinds) or "[message without text]"


# --------------------------------------------------------------------------------------------------- shapes
# Every read of an outside payload goes through these, so a wrong shape is a MalformedPayload with the path of
# the offending value, never a KeyError, TypeError or AttributeError.


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where} must be an object, got {_describe(value)}.")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedPayload(f"{where} must be a list, got {_describe(value)}.")
    return value


def _optional_list(value: object, where: str) -> list[Any]:
    return [] if value is None else _list(value, where)


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedPayload(f"{where} must be a string, got {_describe(value)}.")
    return value


def _optional_string(value: object, where: str) -> str:
    return "" if value is None else _string(value, where)


def _text(value: object, where: str) -> str:
    # Graph leaves ``message`` out (or empty) for a sticker, photo or attachment without words; raw keeps it.
    return _optional_string(value, where) or "[attachment]"


def _id(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH or value.strip() != value:
        raise MalformedPayload(f"{where} must be an id (a non-empty string of up to {MAX_ID_LENGTH} characters).")
    return value


def _author(value: object, where: str) -> Author:
    sender = _object(value, where)
    return Author(
        platform=PLATFORM,
        external_id=_id(sender.get("id"), f"{where}.id"),
        # Facebook has no handles, and Graph shows no follower counts for people.
        display_name=_optional_string(sender.get("name"), f"{where}.name"),
    )


def _from_unix(value: object, where: str, *, per_second: int) -> datetime:
    """A Unix time: seconds in feed changes (``per_second=1``), milliseconds in Messenger (``1000``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedPayload(f"{where} must be a Unix time (an integer), got {_describe(value)}.")
    try:
        moment = datetime.fromtimestamp(value / per_second, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedPayload(f"{where} is not a plausible time.") from None
    if not _EARLIEST <= moment < _LATEST:
        raise MalformedPayload(f"{where} is not a plausible time (seconds where milliseconds belong?).")
    return moment


def _describe(value: object) -> str:
    """A value's type for an error message; never the value itself, which may be huge or hostile."""
    return "null" if value is None else type(value).__name__


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_none(value: object) -> int | None:
    if _is_int(value):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


def _latest(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)
