"""Facebook Pages: the Page feed and Messenger, read by polling the Graph API.

Webhooks (``webhooks``) are the fast path; polling is the safety net that catches what a missed or rejected delivery
lost. Both produce the same ``InboundPost`` shapes, so the pipeline's de-duplication by external id merges them.
Replies are in ``replies``, the Graph API client in ``client``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from core.posts import Author, InboundPost
from monitoring.platforms import register
from monitoring.platforms.base import (
    AccountRef,
    Connector,
    MalformedPayload,
    Page,
    PlatformError,
    QuerySpec,
    ReplyRequest,
)
from monitoring.platforms.facebook import replies
from monitoring.platforms.facebook.client import GRAPH_VERSION, GraphClient, next_args, next_link
from monitoring.platforms.facebook.objects import (
    MESSENGER_CHANNEL,
    PLATFORM,
    PUBLIC_CHANNEL,
    author_from,
    graph_id,
    graph_time,
    unix,
)
from monitoring.platforms.payloads import each_object, is_int, max_known, optional_string, require_list, require_object

logger = logging.getLogger(__name__)

FEED_FIELDS = (
    "id,message,created_time,from,"
    # filter(stream): the comments edge otherwise returns only top-level comments, so replies would never be
    # seen. order(reverse_chronological): newest first, so paging can stop at comments older than the window.
    "comments.filter(stream).order(reverse_chronological).limit(100){id,message,created_time,from,parent}"
)
# A conversation's messages come newest first.
CONVERSATION_FIELDS = "participants,updated_time,messages.limit(25){id,message,from,created_time}"

SINCE_OVERLAP = timedelta(minutes=5)
"""How far each window reaches back before the newest post already seen.

Graph timestamps come from many servers and posts become readable a little after their ``created_time``, so a post
can appear after a newer one was read. Re-reading a few minutes costs only duplicates, which the pipeline drops.
"""
FIRST_POLL_LOOKBACK = timedelta(days=1)
"""Without a cursor, the first poll reads this far back rather than the Page's whole history."""
MAX_NESTED_PAGES = 10
"""Pages of one post's comments or one conversation's messages read per poll."""


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
        self.graph = GraphClient(account, timeout=timeout)

    def can_poll(self) -> bool:
        """The feed and the conversations are read with the Page access token."""
        return self.graph.has_token

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
        now = datetime.now(UTC)
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
        """Post ``request`` as the Page; see ``replies.post_reply``."""
        return replies.post_reply(self.graph, request)

    def find_reply(self, request: ReplyRequest, since: datetime) -> str | None:
        """The id of the reply already posted for ``request``, if any; see ``replies.find_reply``."""
        return replies.find_reply(self.graph, request, since, max_pages=self.max_pages)

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
                response = self.graph.get(path, {**args, **resume} if resume else args)
            except PlatformError as error:
                if not (resuming and error.code == "bad_request"):
                    raise
                # A saved paging cursor can expire (Graph answers code 100): read the window again from the top.
                logger.info("Facebook refused a saved paging cursor for %s; re-reading the window.", path)
                resume, resuming = None, False
                continue
            resuming = False
            batch = read_page(require_list(response.get("data"), f"{path} data"), window_start)
            posts.extend(batch.posts)
            newest = max_known(newest, batch.newest)
            resume = None if batch.reached_end else next_args(response)
            if resume is None:
                since = window_start if newest is None else max(window_start, newest - _seconds(SINCE_OVERLAP))
                return posts, _ListingState(since=since)
        return posts, _ListingState(since=window_start, resume=resume, newest=newest)

    def _read_feed_page(self, items: list[Any], window_start: int) -> _Batch:
        batch = _Batch()
        for where, post in each_object(items, "feed data"):
            post_id = graph_id(post.get("id"), f"{where}.id")
            created = graph_time(post.get("created_time"), f"{where}.created_time")
            batch.saw(created)
            author = author_from(post.get("from"), f"{where}.from")
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
        comment_id = graph_id(comment.get("id"), f"{where}.id")
        created = graph_time(comment.get("created_time"), f"{where}.created_time")
        parent = comment.get("parent")
        if parent is None:
            # A top-level comment starts its own thread, answering the post.
            thread_key, in_reply_to = comment_id, post_id
        else:
            # Facebook nests replies one level only: the parent is always a top-level comment.
            parent_id = graph_id(require_object(parent, f"{where}.parent").get("id"), f"{where}.parent.id")
            thread_key, in_reply_to = parent_id, parent_id
        return self._post(
            channel=PUBLIC_CHANNEL,
            external_id=comment_id,
            thread_key=thread_key,
            in_reply_to=in_reply_to,
            author=author_from(comment.get("from"), f"{where}.from"),
            text=_text(comment.get("message"), f"{where}.message"),
            sent_at=created,
            raw=comment,
        )

    def _read_conversations_page(self, items: list[Any], window_start: int) -> _Batch:
        batch = _Batch()
        for where, conversation in each_object(items, "conversations data"):
            updated = graph_time(conversation.get("updated_time"), f"{where}.updated_time")
            if unix(updated) < window_start:
                # Conversations come most recently updated first: everything after this one is older still.
                batch.reached_end = True
                break
            batch.saw(updated)
            customer_id = self._customer_in(conversation, where)
            messages = self._connection_items(conversation.get("messages"), window_start, f"{where}.messages")
            for position, message in enumerate(messages):
                message_where = f"{where}.messages[{position}]"
                created = graph_time(message.get("created_time"), f"{message_where}.created_time")
                batch.saw(created)
                batch.posts.append(
                    self._post(
                        channel=MESSENGER_CHANNEL,
                        external_id=graph_id(message.get("id"), f"{message_where}.id"),
                        thread_key=customer_id,
                        author=author_from(message.get("from"), f"{message_where}.from"),
                        text=_text(message.get("message"), f"{message_where}.message"),
                        sent_at=created,
                        raw=message,
                    )
                )
        return batch

    def _customer_in(self, conversation: dict[str, Any], where: str) -> str:
        """The customer's page-scoped id (PSID): the participant that is not the Page."""
        participants = require_object(conversation.get("participants"), f"{where}.participants")
        listed = require_list(participants.get("data"), f"{where}.participants.data")
        for participant_where, participant in each_object(listed, f"{where}.participants.data"):
            participant_id = graph_id(participant.get("id"), f"{participant_where}.id")
            if participant_id != self.account.external_id:
                return participant_id
        raise MalformedPayload(f"{where}.participants has no participant other than the Page.")

    def _connection_items(self, connection: object, window_start: int, where: str) -> list[dict[str, Any]]:
        """The items of a nested connection (a post's comments, a conversation's messages), newest first.

        Graph returns the first page inline; further pages are read while they may hold items inside the window.
        """
        if connection is None:  # Graph leaves the key out when there are no comments.
            return []
        page = require_object(connection, where)
        items: list[dict[str, Any]] = []
        for pages_read in range(1, MAX_NESTED_PAGES + 1):
            data = require_list(page.get("data"), f"{where}.data")
            items.extend(item for _, item in each_object(data, f"{where}.data"))
            link = next_link(page)
            if link is None or not data:
                break
            oldest = graph_time(items[-1].get("created_time"), f"{where}.data[-1].created_time")
            if unix(oldest) < window_start:
                break
            if pages_read == MAX_NESTED_PAGES:
                logger.warning("Facebook %s has more than %d pages inside the poll window.", where, pages_read)
                break
            page = self.graph.get(*link)
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
        if not is_int(since):
            return cls()
        resume = value.get("resume")
        newest = value.get("newest")
        if not (
            isinstance(resume, Mapping)
            and resume
            and all(isinstance(k, str) and isinstance(v, str) for k, v in resume.items())
        ):
            return cls(since=since)
        return cls(since=since, resume=dict(resume), newest=newest if is_int(newest) else None)

    def window_start(self, now: datetime) -> int:
        return self.since if self.since is not None else unix(now - FIRST_POLL_LOOKBACK)

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
        self.newest = max_known(self.newest, unix(moment))


def _text(value: object, where: str) -> str:
    # Graph leaves ``message`` out (or empty) for a sticker, photo or attachment without words; raw keeps it.
    return optional_string(value, where) or "[attachment]"


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())
