"""Where a new conversation goes, decided before it is stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from contactcenter.core.posts import InboundPost, Triage
from routing.queries import default_queue


def place_all(posts: Sequence[InboundPost], triages: Sequence[Triage]) -> list[Triage]:
    """Each post's triage with the queue a conversation it opens should join.

    Until routing rules exist every conversation joins the default queue;
    with none configured, conversations stay ``new`` (and are logged by
    ``do_route_conversations``). Filtered posts are never placed.
    """
    queue = default_queue()
    if queue is None:
        return list(triages)
    seconds = queue.sla_policy.first_response_seconds if queue.sla_policy else None
    return [
        triage
        if triage.filtered_reason
        else dataclasses.replace(triage, queue_id=queue.pk, first_response_seconds=seconds)
        for triage in triages
    ]
