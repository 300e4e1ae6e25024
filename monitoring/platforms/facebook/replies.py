"""Replies from a Facebook Page: a comment or a Messenger message, and finding one already posted before a retry."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitoring.platforms.base import (
    MalformedPayload,
    PlatformError,
    ReplyRequest,
    reply_is_private,
    require_reply_field,
)
from monitoring.platforms.facebook.client import GRAPH_VERSION, GraphClient, next_link
from monitoring.platforms.facebook.objects import MESSENGER_CHANNEL, PUBLIC_CHANNEL, graph_id, graph_time, unix
from monitoring.platforms.payloads import each_object, require_list, require_object

# What find_reply reads: a comment's replies, newest first, and the messages of one customer's conversation.
REPLY_LOOKUP_COMMENT_FIELDS = "id,message,from,created_time"
REPLY_LOOKUP_CONVERSATION_FIELDS = "messages.limit(25){id,message,from,created_time}"


def post_reply(graph: GraphClient, request: ReplyRequest) -> str:
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
    require_reply_field(request.text.strip(), "text", request.channel)
    if _is_private(request):
        recipient = require_reply_field(request.recipient_external_id, "recipient_external_id", request.channel)
        result = graph.call(
            "send a Messenger message",
            lambda api: api.put_object(
                parent_object=graph.account.external_id,
                connection_name="messages",
                # The Send API takes its object fields as JSON, form-encoded like every other field.
                recipient=json.dumps({"id": recipient}),
                messaging_type="RESPONSE",
                message=json.dumps({"text": request.text}),
            ),
            replying=True,
        )
        return _created_id(result, "message_id", "Messenger message")
    in_reply_to = require_reply_field(request.in_reply_to_external_id, "in_reply_to_external_id", request.channel)
    result = graph.call(
        "post a comment",
        lambda api: api.put_object(parent_object=in_reply_to, connection_name="comments", message=request.text),
        replying=True,
    )
    return _created_id(result, "id", "comment")


def find_reply(graph: GraphClient, request: ReplyRequest, since: datetime, *, max_pages: int) -> str | None:
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
    window_start = unix(since)  # whole seconds, rounded down
    wanted = _comparable(request.text)
    try:
        if _is_private(request):
            recipient = require_reply_field(request.recipient_external_id, "recipient_external_id", request.channel)
            return _find_message(graph, recipient, wanted, window_start, max_pages=max_pages)
        in_reply_to = require_reply_field(request.in_reply_to_external_id, "in_reply_to_external_id", request.channel)
        return _find_comment(graph, in_reply_to, wanted, window_start, max_pages=max_pages)
    except MalformedPayload as exc:
        raise PlatformError(f"Facebook sent an unexpected answer: {exc}", code="bad_response") from None


def _find_comment(
    graph: GraphClient, in_reply_to: str, wanted: str, window_start: int, *, max_pages: int
) -> str | None:
    path = f"{GRAPH_VERSION}/{in_reply_to}/comments"
    args = {"fields": REPLY_LOOKUP_COMMENT_FIELDS, "order": "reverse_chronological"}
    page = graph.get(path, args, replying=True)
    return _find_in_newest_first(graph, page, wanted, window_start, f"{in_reply_to} comments", max_pages=max_pages)


def _find_message(graph: GraphClient, recipient: str, wanted: str, window_start: int, *, max_pages: int) -> str | None:
    path = f"{GRAPH_VERSION}/{graph.account.external_id}/conversations"
    args = {"platform": "messenger", "user_id": recipient, "fields": REPLY_LOOKUP_CONVERSATION_FIELDS}
    response = graph.get(path, args, replying=True)
    # One conversation per customer; a list all the same.
    conversations = require_list(response.get("data"), "conversations data")
    for conversation_where, conversation in each_object(conversations, "conversations data"):
        messages = conversation.get("messages")
        if messages is None:
            continue
        where = f"{conversation_where}.messages"
        found = _find_in_newest_first(
            graph, require_object(messages, where), wanted, window_start, where, max_pages=max_pages
        )
        if found is not None:
            return found
    return None


def _find_in_newest_first(
    graph: GraphClient, page: dict[str, Any], wanted: str, window_start: int, where: str, *, max_pages: int
) -> str | None:
    """The Page's item with the wanted text in a newest-first listing, reading pages back to ``window_start``."""
    for pages_read in range(1, max_pages + 1):
        items = require_list(page.get("data"), f"{where}.data")
        reached_start = False
        for item_where, item in each_object(items, f"{where}.data"):
            created = graph_time(item.get("created_time"), f"{item_where}.created_time")
            if unix(created) < window_start:
                reached_start = True
                continue
            # Graph may leave out ``from`` for people whose profile the token may not read: not the Page.
            author = item.get("from")
            author_id = author.get("id") if isinstance(author, dict) else None
            message = item.get("message")
            if author_id == graph.account.external_id and isinstance(message, str) and _comparable(message) == wanted:
                return graph_id(item.get("id"), f"{item_where}.id")
        link = next_link(page)
        if link is None or reached_start or not items:
            return None
        if pages_read == max_pages:
            break
        page = graph.get(*link, replying=True)
    raise PlatformError(
        f"Facebook lists more than {max_pages} pages of {where} since the reply was attempted; whether it "
        "was posted is unknown.",
        permanent=True,
        code="lookup_incomplete",
    )


def _is_private(request: ReplyRequest) -> bool:
    return reply_is_private(
        request, public_channel=PUBLIC_CHANNEL, private_channel=MESSENGER_CHANNEL, platform="Facebook"
    )


def _created_id(result: Mapping[str, Any], key: str, what: str) -> str:
    value = result.get(key)
    if not isinstance(value, str) or not value:
        # Facebook said it worked but named nothing: whether it posted is unknown, so find_reply must decide.
        raise PlatformError(f"Facebook accepted the {what} but returned no {key}.", code="bad_response")
    return value


def _comparable(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())
