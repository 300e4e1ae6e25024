"""Routing writes: putting conversations into queues."""

from __future__ import annotations

import logging

from contactcenter.core.actions import do_queue_conversations
from routing.queries import default_queue

logger = logging.getLogger(__name__)


def do_route_conversations(conversation_ids: list[int]) -> list[int]:
    """Place newly captured conversations in their queue.

    Until routing rules exist every conversation goes to the default queue;
    with no default queue configured they stay ``new`` and a warning is
    logged, so an admin can see and fix the configuration without losing posts.
    """
    if not conversation_ids:
        return []
    queue = default_queue()
    if queue is None:
        logger.warning("no default queue: %d conversation(s) stay new", len(conversation_ids))
        return []
    return do_queue_conversations(conversation_ids, queue)
