"""The capture pipeline: one code path for every source's posts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from contactcenter.core.actions import do_capture_post
from contactcenter.core.posts import InboundPost
from routing.actions import do_route_new_conversation


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    new_conversations: int = 0


def ingest(posts: Iterable[InboundPost]) -> IngestStats:
    """Store each post once, thread it, and hand new conversations to routing."""
    stats = IngestStats()
    for post in posts:
        stats.received += 1
        result = do_capture_post(post)
        if result.duplicate:
            stats.duplicates += 1
            continue
        stats.stored += 1
        if result.new_conversation:
            stats.new_conversations += 1
            do_route_new_conversation(result.conversation)
    return stats
