"""The capture pipeline: one code path for every source's posts, in batches.

normalise (the connectors) → de-duplicate, filter, classify, prioritise
(``monitoring.triage``) → store and thread (``core.capture``) →
route new conversations (``routing``). Edits and deletions from the platforms
update what is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice

from core.capture import do_capture_posts, do_record_deletion, do_record_edit
from core.posts import Deletion, InboundPost
from monitoring.triage import TriageRules
from routing.actions import do_route_conversations, request_routing
from routing.placement import place_all

BATCH_SIZE = 500


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    filtered: int = 0
    edited: int = 0
    deleted: int = 0
    new_conversations: int = 0


def ingest(
    posts: Iterable[InboundPost], deletions: Sequence[Deletion] = (), *, batch_size: int = BATCH_SIZE
) -> IngestStats:
    """Store each post once, thread it, and hand new conversations to routing.

    Each batch commits on its own, so a failure part-way keeps what was
    stored before it; re-running the same posts is always safe.
    """
    stats = IngestStats()
    rules = TriageRules.load()
    iterator = iter(posts)
    while batch := list(islice(iterator, batch_size)):
        stats.received += len(batch)
        fresh = [post for post in batch if not post.edited]
        triages = place_all(fresh, rules.triage_all(fresh))
        results = do_capture_posts(list(zip(fresh, triages, strict=True)))
        for result in results:
            if result.duplicate:
                stats.duplicates += 1
            elif result.filtered:
                stats.filtered += 1
                stats.stored += 1
            else:
                stats.stored += 1
        stats.new_conversations += sum(1 for r in results if r.new_conversation)
        if any(r.queued or r.reopened for r in results):
            request_routing()
        do_route_conversations([r.conversation_id for r in results if r.needs_routing and r.conversation_id])
        for post in (post for post in batch if post.edited):
            (triage,) = place_all([post], [rules.triage(post)])
            result = do_record_edit(post, triage)
            stats.edited += 1
            if result.needs_routing and result.conversation_id is not None:
                do_route_conversations([result.conversation_id])
    for deletion in deletions:
        if do_record_deletion(deletion) is not None:
            stats.deleted += 1
    return stats
