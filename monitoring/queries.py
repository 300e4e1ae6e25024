"""Reads for capture."""

from __future__ import annotations

from core.models import OPEN_STATES, Channel, Conversation, Identity
from core.posts import Author
from monitoring.models import ClassificationRule
from monitoring.sandbox import OpenThread

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


def category_exists(category: str) -> bool:
    """Whether triage can ever set ``category``: an enabled classification rule sets it."""
    return ClassificationRule.objects.filter(category=category, enabled=True).exists()
