"""Replies from an X account: posting a tweet or DM, and finding one already posted before a retry."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import tweepy

from core.models import Channel
from monitoring.platforms.base import PlatformError, ReplyRequest, reply_is_private, require_reply_field
from monitoring.platforms.x.client import PAGE_SIZE, XClient
from monitoring.platforms.x.objects import snowflake_time

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


def post_reply(client: XClient, request: ReplyRequest) -> str:
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
    client.require_user_context("post replies")
    require_reply_field(request.text.strip(), "text", request.channel)
    if _is_private(request):
        recipient = require_reply_field(request.recipient_external_id, "recipient_external_id", request.channel)
        response = _reply_call(
            client,
            "direct message",
            client.tweepy.create_direct_message,
            participant_id=recipient,
            text=request.text,
            user_auth=True,
        )
        return _created_id(response, "dm_event_id", "direct message")
    in_reply_to = require_reply_field(request.in_reply_to_external_id, "in_reply_to_external_id", request.channel)
    response = _reply_call(
        client,
        "reply",
        client.tweepy.create_tweet,
        text=request.text,
        in_reply_to_tweet_id=in_reply_to,
        user_auth=True,
    )
    return _created_id(response, "id", "reply")


def find_reply(client: XClient, request: ReplyRequest, since: datetime, *, max_pages: int) -> str | None:
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
    client.require_user_context("look up replies")
    since = _whole_second(since)
    if _is_private(request):
        recipient = require_reply_field(request.recipient_external_id, "recipient_external_id", request.channel)
        return _find_direct_message(client, recipient, request.text, since, max_pages=max_pages)
    in_reply_to = require_reply_field(request.in_reply_to_external_id, "in_reply_to_external_id", request.channel)
    return _find_tweet_reply(client, in_reply_to, request.text, since, max_pages=max_pages)


def _find_tweet_reply(client: XClient, in_reply_to: str, text: str, since: datetime, *, max_pages: int) -> str | None:
    wanted = _comparable(text, public=True)
    pages = _own_listing(
        client,
        "own tweets lookup",
        client.tweepy.get_users_tweets,
        "tweets",
        max_pages=max_pages,
        id=client.account.external_id,
        start_time=since,
        tweet_fields=REPLY_LOOKUP_TWEET_FIELDS,
    )
    for response in pages:
        for tweet in response.data or []:
            replied_to = [str(ref.id) for ref in tweet.referenced_tweets or [] if ref.type == "replied_to"]
            if (
                in_reply_to in replied_to
                and (tweet.created_at or snowflake_time(tweet.id)) >= since
                and _same_text(tweet.text, wanted, public=True)
            ):
                return str(tweet.id)
    return None


def _find_direct_message(client: XClient, recipient: str, text: str, since: datetime, *, max_pages: int) -> str | None:
    wanted = _comparable(text, public=False)
    pages = _own_listing(
        client,
        "direct message lookup",
        client.tweepy.get_direct_message_events,
        "direct messages",
        max_pages=max_pages,
        participant_id=recipient,
        dm_event_fields=REPLY_LOOKUP_DM_EVENT_FIELDS,
    )
    for response in pages:
        reached_since = False
        for event in response.data or []:
            created = event.created_at or snowflake_time(event.id)
            if created < since:
                # Events come newest first, so later pages are older still.
                reached_since = True
                continue
            if (
                event.event_type == "MessageCreate"
                and str(event.sender_id) == client.account.external_id
                and _same_text(event.text or "", wanted, public=False)
            ):
                return str(event.id)
        if reached_since:
            return None
    return None


def _own_listing(
    client: XClient, operation: str, method: Callable[..., Any], listing: str, *, max_pages: int, **params: Any
) -> Iterator[Any]:
    """The pages of a listing of the account's own posts, in user context, each a ``tweepy.Response``.

    Stops at the last page; raises a permanent ``lookup_incomplete`` ``PlatformError`` instead of reading more
    than ``max_pages``, since the reply sought may lie on the pages not read.
    """
    token: str | None = None
    for _ in range(max_pages):
        response = client.call(
            operation, method, **params, pagination_token=token, max_results=PAGE_SIZE, user_auth=True
        )
        _raise_for_errors_without_data(response, operation)
        yield response
        token = response.meta.get("next_token") or None
        if token is None:
            return
    raise _lookup_incomplete(listing, max_pages)


def _reply_call(client: XClient, operation: str, method: Callable[..., Any], **params: Any) -> Any:
    """``XClient.call`` for posting: a 403 says whether the tweet is gone or the text a duplicate."""
    try:
        return client.call(operation, method, **params)
    except PlatformError as error:
        cause = error.__cause__
        if error.status != 403 or not isinstance(cause, tweepy.HTTPException):
            raise
        refusal = _reply_refusal(cause)
        if refusal is None:
            raise
        raise PlatformError(f"{error.message} {refusal[1]}", permanent=True, status=403, code=refusal[0]) from cause


def _is_private(request: ReplyRequest) -> bool:
    return reply_is_private(request, public_channel=Channel.X_PUBLIC, private_channel=Channel.X_DM, platform="X")


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
    """A text as find_reply compares it: see ``find_reply``."""
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
