"""Reads for capture."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Q

from core.models import OPEN_STATES, Channel, Conversation, Delivery, Direction, Identity, Message
from core.posts import Author
from monitoring.models import ClassificationRule
from monitoring.sandbox import OpenThread
from monitoring.sandbox_email import EmailThread

SANDBOX_CHANNELS = (Channel.SANDBOX_PUBLIC, Channel.SANDBOX_PRIVATE)


def open_sandbox_threads(limit: int = 50) -> list[OpenThread]:
    """Recent open sandbox threads and their customers, for believable follow-ups."""
    conversations = (
        Conversation.objects.filter(channel__in=SANDBOX_CHANNELS, state__in=OPEN_STATES)
        .order_by("-created_at")
        .values("channel", "thread_key", "contact_id")[:limit]
    )
    rows = list(conversations)
    identities = {
        identity.contact_id: identity
        for identity in Identity.objects.filter(contact_id__in=[r["contact_id"] for r in rows], platform="sandbox")
    }
    threads = []
    for row in rows:
        identity = identities.get(row["contact_id"])
        if identity is None:
            continue
        author = Author(
            platform=identity.platform,
            external_id=identity.external_id,
            handle=identity.handle,
            display_name=identity.display_name,
            followers_count=identity.followers_count,
            verified=identity.verified,
        )
        threads.append(OpenThread(row["channel"], row["thread_key"], author))
    return threads


def open_email_threads(account_id: int, limit: int = 50) -> list[EmailThread]:
    """Recent open email conversations of mailbox ``account_id``, with what a customer's reply would name.

    For each: the customer (the sender of its latest human message), the subject they wrote last, the thread's
    Message-IDs, and our latest reply that went out. Out-of-office replies and bounces are left out: nobody answers
    those, and they name no message a customer has seen.
    """
    conversations = list(
        Conversation.objects.filter(channel=Channel.EMAIL, state__in=OPEN_STATES, messages__account_id=account_id)
        .distinct()
        .order_by("-created_at")
        .values_list("pk", flat=True)[:limit]
    )
    rows = (
        Message.objects.filter(conversation_id__in=conversations, external_id__isnull=False)
        .filter(Q(direction=Direction.INBOUND) | Q(delivery=Delivery.SENT))
        .order_by("sent_at", "pk")
        .values(
            "conversation_id",
            "direction",
            "external_id",
            "text",
            "sent_at",
            "raw__email__subject",
            "raw__email__auto",
            "author_identity__external_id",
            "author_identity__display_name",
        )
    )
    by_conversation: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        if row["direction"] == Direction.OUTBOUND or not row["raw__email__auto"]:
            by_conversation[row["conversation_id"]].append(row)
    threads = []
    for conversation_id in conversations:
        messages = by_conversation.get(conversation_id, [])
        inbound = [m for m in messages if m["direction"] == Direction.INBOUND and m["author_identity__external_id"]]
        if not inbound or inbound[-1]["external_id"].startswith("sha256:"):
            continue  # no Message-ID a reply could name
        replies = [m for m in messages if m["direction"] == Direction.OUTBOUND]
        latest = inbound[-1]
        reply = replies[-1] if replies else None
        threads.append(
            EmailThread(
                conversation_id=conversation_id,
                customer_address=latest["author_identity__external_id"],
                customer_name=latest["author_identity__display_name"],
                subject=latest["raw__email__subject"] or "",
                message_ids=tuple(m["external_id"] for m in messages if not m["external_id"].startswith("sha256:")),
                customer_message_id=latest["external_id"],
                reply_id=reply["external_id"] if reply else "",
                reply_text=reply["text"] if reply else "",
                reply_at=reply["sent_at"] if reply else None,
            )
        )
    return threads


def category_exists(category: str) -> bool:
    """Whether triage can ever set ``category``: an enabled classification rule sets it."""
    return ClassificationRule.objects.filter(category=category, enabled=True).exists()
