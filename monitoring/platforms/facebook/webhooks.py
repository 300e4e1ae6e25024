"""Meta's Page webhooks: the signature, the subscription handshake, and deliveries as posts and deletions.

Pure functions: no database, no Django models, no network.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core.posts import Author, Deletion, InboundPost
from monitoring.platforms.base import MalformedPayload, Page, WebhookEvents
from monitoring.platforms.facebook.objects import MESSENGER_CHANNEL, PLATFORM, PUBLIC_CHANNEL, author_from, graph_id
from monitoring.platforms.payloads import (
    attachment_list,
    describe,
    each_object,
    optional_list,
    optional_string,
    require_bool,
    require_list,
    require_object,
    require_string,
    unix_time,
)

# Feed items that are customer content; reactions, likes, shares, ratings, ... are not.
_FEED_ITEMS = frozenset({"comment", "post", "status", "photo", "video"})
# Meta's challenge is a number; anything else is not echoed back into an HTTP body.
_CHALLENGE = re.compile(r"[A-Za-z0-9._-]{1,256}")


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
    body = require_object(payload, "payload")
    if body.get("object") != "page":
        raise MalformedPayload(f"payload.object must be 'page', got {describe(body.get('object'))}.")
    events: WebhookEvents = {}
    for where, entry in each_object(require_list(body.get("entry"), "payload.entry"), "entry"):
        page_id = graph_id(entry.get("id"), f"{where}.id")
        page = events.setdefault(page_id, Page())
        changes = optional_list(entry.get("changes"), f"{where}.changes")
        for change_where, change in each_object(changes, f"{where}.changes"):
            _read_change(change, change_where, page)
        messaging = optional_list(entry.get("messaging"), f"{where}.messaging")
        for event_where, event in each_object(messaging, f"{where}.messaging"):
            _read_messaging(event, event_where, page)
    return events


def _read_change(change: dict[str, Any], where: str, page: Page) -> None:
    if require_string(change.get("field"), f"{where}.field") != "feed":
        return
    value = require_object(change.get("value"), f"{where}.value")
    item_kind = require_string(value.get("item"), f"{where}.value.item")
    verb = require_string(value.get("verb"), f"{where}.value.verb")
    if item_kind not in _FEED_ITEMS:
        return
    is_comment = item_kind == "comment"
    post_id = graph_id(value.get("post_id"), f"{where}.value.post_id")
    external_id = graph_id(value.get("comment_id"), f"{where}.value.comment_id") if is_comment else post_id

    if verb in ("remove", "hide"):
        created = value.get("created_time")
        at = datetime.now(UTC) if created is None else _from_unix(created, f"{where}.value.created_time", per_second=1)
        page.deletions.append(Deletion(platform=PLATFORM, external_id=external_id, at=at))
        return
    if verb not in ("add", "edited"):
        return  # unhide, and verbs Meta may add later

    if is_comment:
        parent_id = value.get("parent_id")
        if parent_id is None or parent_id == post_id:
            thread_key, in_reply_to = external_id, post_id  # a top-level comment starts its own thread
        else:
            parent = graph_id(parent_id, f"{where}.value.parent_id")
            thread_key, in_reply_to = parent, parent  # replies nest one level: the parent is top-level
    else:
        thread_key, in_reply_to = post_id, ""
    # Meta sends none on feed items; the console would list them as it lists Messenger's, so they are checked alike.
    attachment_list(value.get("attachments"), f"{where}.value.attachments")
    # A photo or video comment, or a post without a caption, has no message; the media URL stays in raw.
    text = optional_string(value.get("message"), f"{where}.value.message") or _feed_media_text(item_kind, value)
    page.posts.append(
        InboundPost(
            platform=PLATFORM,
            channel=PUBLIC_CHANNEL,
            external_id=external_id,
            thread_key=thread_key,
            author=author_from(value.get("from"), f"{where}.value.from"),
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


def _read_messaging(event: dict[str, Any], where: str, page: Page) -> None:
    if "message" in event:
        message = require_object(event["message"], f"{where}.message")
        # An echo is the Page's own message, sent from our replies or the Page inbox.
        if require_bool(message.get("is_echo", False), f"{where}.message.is_echo"):
            return
        reply_to = message.get("reply_to")
        in_reply_to = ""
        if reply_to is not None:  # the customer quoted an earlier message
            quoted = require_object(reply_to, f"{where}.message.reply_to")
            in_reply_to = graph_id(quoted.get("mid"), f"{where}.message.reply_to.mid")
        page.posts.append(_messenger_post(event, message, where, f"{where}.message", in_reply_to, edited=False))
    elif "message_edit" in event:
        message = require_object(event["message_edit"], f"{where}.message_edit")
        page.posts.append(_messenger_post(event, message, where, f"{where}.message_edit", "", edited=True))
    # delivery and read receipts, reactions, postbacks and events Meta may add later carry no customer text.


def _messenger_post(
    event: dict[str, Any], message: dict[str, Any], where: str, message_where: str, in_reply_to: str, *, edited: bool
) -> InboundPost:
    sender_id = graph_id(require_object(event.get("sender"), f"{where}.sender").get("id"), f"{where}.sender.id")
    # Checked whether or not there is text: the console lists them, and a malformed list refuses the delivery.
    attachments = attachment_list(message.get("attachments"), f"{message_where}.attachments")
    text = optional_string(message.get("text"), f"{message_where}.text") or _attachments_text(attachments)
    return InboundPost(
        platform=PLATFORM,
        channel=MESSENGER_CHANNEL,
        external_id=graph_id(message.get("mid"), f"{message_where}.mid"),
        # The conversation is with one customer, named by their page-scoped id (PSID).
        thread_key=sender_id,
        author=Author(platform=PLATFORM, external_id=sender_id),
        text=text,
        sent_at=_from_unix(event.get("timestamp"), f"{where}.timestamp", per_second=1000),
        in_reply_to_external_id=in_reply_to,
        edited=edited,
        raw=event,
    )


def _attachments_text(attachments: list[dict[str, Any]]) -> str:
    """A stand-in text for a message without one: an image, a sticker (an image too), a file, a location..."""
    kinds = [f"[{attachment.get('type') or 'unknown'} attachment]" for attachment in attachments]
    return " ".join(kinds) or "[message without text]"


def _from_unix(value: object, where: str, *, per_second: int) -> datetime:
    """A plausible Unix time: seconds in feed changes (``per_second=1``), milliseconds in Messenger (``1000``)."""
    return unix_time(value, where, per_second=per_second)
