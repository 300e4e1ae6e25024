"""X Account Activity webhooks: the CRC check, the signature, and deliveries (v1.1 objects) as posts.

Pure functions: the view that serves them owns the request, the secrets and the storage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from core.models import Channel, Platform
from core.posts import Author, Deletion, InboundPost
from monitoring.platforms.base import MalformedPayload, Page, WebhookEvents
from monitoring.platforms.payloads import (
    count,
    each_object,
    formatted_time,
    numeric_id,
    optional_string,
    require_bool,
    require_list,
    require_object,
    require_string,
    unix_time,
    without_malformed_attachments,
)
from monitoring.platforms.x.objects import language

_MONTHS = {name: number for number, name in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_V1_TIME_EXAMPLE = "'Fri Nov 20 10:05:44 +0000 2026'"


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
    that is not the shape X sends. The bounds are the shared ones (``payloads``): ids the
    digits of 64-bit numbers, plausible times, follower counts clamped to what is stored. X's
    v1.1 objects carry no ``attachments`` (media are in ``entities``): a malformed one is
    left out of the stored payload, and the post kept.
    """
    root = require_object(payload, "payload")
    for_user_id = numeric_id(root.get("for_user_id"), "for_user_id")
    page = Page()
    for where, event in _events(root, "tweet_create_events"):
        post = _webhook_tweet(event, where)
        if post is not None:
            page.posts.append(post)
    dm_events = require_list(root.get("direct_message_events", []), "direct_message_events")
    if dm_events:
        users = require_object(root.get("users", {}), "users")
        for where, event in each_object(dm_events, "direct_message_events"):
            post = _webhook_dm(event, users, where)
            if post is not None:
                page.posts.append(post)
    for where, event in _events(root, "tweet_delete_events"):
        page.deletions.append(_webhook_deletion(event, where))
    return {for_user_id: page}


def _events(root: dict[str, Any], key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    # Left out when there are none; null is not what X sends, and is refused.
    return each_object(require_list(root.get(key, []), key), key)


def _webhook_tweet(event: dict[str, Any], where: str) -> InboundPost | None:
    if event.get("retweeted_status") is not None:
        return None
    tweet_id = numeric_id(event.get("id_str"), f"{where}.id_str")
    user = require_object(event.get("user"), f"{where}.user")
    text = require_string(event.get("text"), f"{where}.text")
    # Tweets over 140 characters arrive truncated, the full text in extended_tweet.
    if event.get("truncated") is True and event.get("extended_tweet") is not None:
        extended = require_object(event["extended_tweet"], f"{where}.extended_tweet")
        text = require_string(extended.get("full_text"), f"{where}.extended_tweet.full_text")
    reply_to = event.get("in_reply_to_status_id_str")
    parent = numeric_id(reply_to, f"{where}.in_reply_to_status_id_str") if reply_to is not None else ""
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
        language=language(optional_string(event.get("lang"), f"{where}.lang")),
        raw=without_malformed_attachments(event, where),
    )


def _webhook_dm(event: dict[str, Any], users: dict[str, Any], where: str) -> InboundPost | None:
    kind = require_string(event.get("type"), f"{where}.type")
    if kind != "message_create":
        return None
    event_id = numeric_id(event.get("id"), f"{where}.id")
    message = require_object(event.get("message_create"), f"{where}.message_create")
    sender_id = numeric_id(message.get("sender_id"), f"{where}.message_create.sender_id")
    target = require_object(message.get("target"), f"{where}.message_create.target")
    recipient_id = numeric_id(target.get("recipient_id"), f"{where}.message_create.target.recipient_id")
    data = require_object(message.get("message_data"), f"{where}.message_create.message_data")
    text = require_string(data.get("text"), f"{where}.message_create.message_data.text")
    if sender_id in users:
        user = require_object(users[sender_id], f"users.{sender_id}")
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
        raw={**without_malformed_attachments(event, where), "author": user},
    )


def _webhook_deletion(event: dict[str, Any], where: str) -> Deletion:
    status = require_object(event.get("status"), f"{where}.status")
    return Deletion(
        platform=Platform.X,
        external_id=numeric_id(status.get("id"), f"{where}.status.id"),
        at=_millis_time(event.get("timestamp_ms"), f"{where}.timestamp_ms"),
    )


def _v1_author(user: dict[str, Any], where: str, *, id_key: str) -> Author:
    followers = count(user.get("followers_count", 0), f"{where}.followers_count")
    verified = require_bool(user.get("verified", False), f"{where}.verified")
    return Author(
        platform=Platform.X,
        external_id=numeric_id(user.get(id_key), f"{where}.{id_key}"),
        handle=optional_string(user.get("screen_name"), f"{where}.screen_name"),
        display_name=optional_string(user.get("name"), f"{where}.name"),
        followers_count=followers,
        verified=verified,
    )


def _v1_time(value: object, where: str) -> datetime:
    # v1.1 writes "Fri Nov 20 10:05:44 +0000 2026". strptime's %a and %b follow the process
    # locale, so the English month name is looked up here and only numbers go to strptime.
    parts = require_string(value, where).split()
    if len(parts) != 6 or parts[1] not in _MONTHS:
        raise MalformedPayload(f"{where} is not a time like {_V1_TIME_EXAMPLE}.")
    _weekday, month, day, clock, offset, year = parts
    numeric = f"{year}-{_MONTHS[month]:02d}-{day} {clock} {offset}"
    return formatted_time(numeric, where, format="%Y-%m-%d %H:%M:%S %z", example=_V1_TIME_EXAMPLE)


def _millis_time(value: object, where: str) -> datetime:
    # v1.1 sends its millisecond times as strings of digits; a number is taken too.
    return unix_time(value, where, per_second=1000, digit_strings=True)
