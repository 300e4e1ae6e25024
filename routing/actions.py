"""Routing writes: putting conversations into queues."""

from __future__ import annotations

import logging

from contactcenter.core.actions import do_queue_conversation
from contactcenter.core.models import Conversation
from routing.queries import default_queue

logger = logging.getLogger(__name__)


def do_route_new_conversation(conversation: Conversation) -> Conversation:
    """Place a newly captured conversation in its queue.

    Until routing rules exist every conversation goes to the default queue;
    with no default queue configured it stays ``new`` and is logged, so an
    admin can see and fix the configuration without losing the post.
    """
    queue = default_queue()
    if queue is None:
        logger.warning("no default queue: conversation %s stays new", conversation.pk)
        return conversation
    return do_queue_conversation(conversation, queue)
