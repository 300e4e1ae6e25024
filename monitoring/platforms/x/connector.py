"""X (Twitter): polling mentions, direct messages and recent search over API v2 with tweepy.

``XConnector`` is the platform behind the common interface; its replies are in ``replies``, the HTTP layer in
``client``, and the Account Activity webhook in ``webhooks``. Every tweepy or requests failure leaves this
package as a ``PlatformError``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from core.models import Channel, Platform
from core.posts import Author, InboundPost
from monitoring.platforms import register
from monitoring.platforms.base import (
    AccountRef,
    Connector,
    Page,
    PlatformError,
    QuerySpec,
    ReplyRequest,
)
from monitoring.platforms.payloads import COUNT_MAX, is_int, is_plausible_time
from monitoring.platforms.x import replies
from monitoring.platforms.x.client import PAGE_SIZE, XClient
from monitoring.platforms.x.objects import language, snowflake_time
from monitoring.platforms.x.paging import Fetch, FetchedPage, Sweep, sweep

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

MAX_PAGES_PER_POLL = 10
DM_FORBIDDEN_PAUSE = timedelta(hours=1)
"""How long DMs are skipped after a 403; an admin may grant the permission, so we look again later."""


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
        self.client = XClient(account, timeout=timeout)

    # Polling ------------------------------------------------------------------------------

    def can_poll(self) -> bool:
        """Mentions and search need the bearer token or the OAuth 1.0a user keys."""
        return self.client.has_bearer or self.client.has_user_context

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
        user_auth = self.client.app_or_user_auth()

        def fetch_mentions(since_id: int | None, token: str | None) -> Any:
            return self._fetch_tweets(
                "mentions lookup",
                self.client.tweepy.get_users_mentions,
                user_auth,
                id=self.account.external_id,
                since_id=since_id,
                pagination_token=token,
            )

        pages, mentions = self._sweep(Sweep.load(cursor, "mentions_"), fetch_mentions)
        posts = [post for page in pages for post in self._tweet_posts(page)]
        dm_posts, dm_state = self._poll_direct_messages(cursor)
        return Page(posts=posts + dm_posts, cursor={**mentions.dump("mentions_"), **dm_state})

    def _poll_direct_messages(self, cursor: Mapping[str, Any]) -> tuple[list[InboundPost], dict[str, str]]:
        position = Sweep.load(cursor, "dm_")
        unchanged = position.dump("dm_")
        if not self.client.has_user_context:
            return [], {**unchanged, "dm_error": "no_user_context"}
        paused_until = _parse_iso(cursor.get("dm_paused_until"))
        if paused_until is not None and paused_until > datetime.now(UTC):
            error = cursor.get("dm_error")
            return [], {**unchanged, "dm_paused_until": paused_until.isoformat(), "dm_error": str(error or "paused")}

        def fetch_dm_events(_since_id: int | None, token: str | None) -> Any:
            return self.client.call(
                "direct message lookup",
                self.client.tweepy.get_direct_message_events,
                pagination_token=token,
                max_results=PAGE_SIZE,
                dm_event_fields=DM_EVENT_FIELDS,
                expansions=DM_EXPANSIONS,
                user_fields=USER_FIELDS,
            )

        try:
            pages, position = self._sweep(position, fetch_dm_events, since_is_sent=False)
        except PlatformError as error:
            if error.status == 403:
                # The app lacks the DM permission (or the access tier): mentions still work.
                logger.warning("X DMs unavailable for account %s: %s", self.account.id, error.message)
                pause_until: datetime | None = datetime.now(UTC) + DM_FORBIDDEN_PAUSE
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
        return posts, position.dump("dm_")

    def search(self, query: QuerySpec, cursor: dict[str, Any]) -> Page:
        """Recent tweets (X keeps seven days) matching ``query``, since ``cursor``.

        Cursor keys as for mentions, unprefixed: ``since_id``, and while a
        sweep is unfinished ``next_token`` and ``sweep_newest_id``.
        Every post carries ``query_id=query.id``.
        """
        text = build_search_query(query)
        user_auth = self.client.app_or_user_auth()

        def fetch_results(since_id: int | None, token: str | None) -> Any:
            return self._fetch_tweets(
                "recent search",
                self.client.tweepy.search_recent_tweets,
                user_auth,
                query=text,
                since_id=since_id,
                next_token=token,
            )

        pages, position = self._sweep(Sweep.load(cursor, ""), fetch_results)
        posts = [post for page in pages for post in self._tweet_posts(page, query_id=query.id)]
        return Page(posts=posts, cursor=position.dump(""))

    # Replies ------------------------------------------------------------------------------

    def post_reply(self, request: ReplyRequest) -> str:
        """Post ``request`` as the account; see ``replies.post_reply``."""
        return replies.post_reply(self.client, request)

    def find_reply(self, request: ReplyRequest, since: datetime) -> str | None:
        """The id of the reply already posted for ``request``, if any; see ``replies.find_reply``."""
        return replies.find_reply(self.client, request, since, max_pages=self.max_pages)

    def _fetch_tweets(self, operation: str, method: Callable[..., Any], user_auth: bool, **params: Any) -> Any:
        """One page of a tweet listing, with the fields and expansions every listing asks for."""
        return self.client.call(
            operation,
            method,
            **params,
            max_results=PAGE_SIZE,
            expansions=TWEET_EXPANSIONS,
            tweet_fields=TWEET_FIELDS,
            user_fields=USER_FIELDS,
            user_auth=user_auth,
        )

    def _sweep(self, state: Sweep, fetch: Fetch, *, since_is_sent: bool = True) -> tuple[list[FetchedPage], Sweep]:
        return sweep(state, fetch, max_pages=self.max_pages, since_is_sent=since_is_sent)

    # Mapping ------------------------------------------------------------------------------

    def _tweet_posts(self, page: FetchedPage, *, query_id: int | None = None) -> list[InboundPost]:
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
            sent_at=_sent_at(tweet),
            in_reply_to_external_id=str(replied_to) if replied_to is not None else "",
            language=language(tweet.lang),
            edited=history[0] != str(tweet.id),
            account_id=self.account.id,
            query_id=query_id,
            raw={**tweet.data, "author": user.data if user is not None else {"id": str(tweet.author_id)}},
        )

    def _dm_posts(self, page: FetchedPage) -> list[InboundPost]:
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
                    sent_at=_sent_at(event),
                    account_id=self.account.id,
                    raw={**event.data, "author": user.data if user is not None else {"id": str(event.sender_id)}},
                )
            )
        return posts


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
        followers_count=min(followers, COUNT_MAX) if is_int(followers) and followers > 0 else 0,
        verified=bool(user.verified),
    )


def _sent_at(item: Any) -> datetime:
    """When a tweet or DM event was written: its ``created_at`` if plausible, else the time in its snowflake id."""
    created: datetime | None = item.created_at
    return created if created is not None and is_plausible_time(created) else snowflake_time(item.id)


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
