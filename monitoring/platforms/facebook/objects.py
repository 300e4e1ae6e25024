"""What Graph reads and Meta's webhooks have in common: the channel names, ids, people and times."""

from __future__ import annotations

from datetime import datetime

from core.posts import Author
from monitoring.platforms.payloads import MAX_ID_LENGTH, bounded_id, formatted_time, optional_string, require_object

# The values of ``Platform`` and ``Channel`` in core.models, spelled out so that this package (and
# the webhook parsing in it) can be imported without Django's app registry.
PLATFORM = "facebook"
PUBLIC_CHANNEL = "facebook_public"
MESSENGER_CHANNEL = "facebook_messenger"

__all__ = ["MAX_ID_LENGTH", "author_from", "graph_id", "graph_time", "unix"]


def graph_id(value: object, where: str) -> str:
    """A Graph id: opaque, bounded as every platform's ids are (``payloads.bounded_id``)."""
    return bounded_id(value, where)


def author_from(value: object, where: str) -> Author:
    sender = require_object(value, where)
    return Author(
        platform=PLATFORM,
        external_id=graph_id(sender.get("id"), f"{where}.id"),
        # Facebook has no handles, and Graph shows no follower counts for people.
        display_name=optional_string(sender.get("name"), f"{where}.name"),
    )


def graph_time(value: object, where: str) -> datetime:
    """Graph reads give times as ISO 8601 with a numeric offset, e.g. ``2026-11-20T10:04:58+0000``; a plausible one
    (``payloads.is_plausible_time``)."""
    return formatted_time(value, where, format="%Y-%m-%dT%H:%M:%S%z", example="2026-11-20T10:04:58+0000")


def unix(moment: datetime) -> int:
    """Whole seconds, rounded down: the precision Graph reports."""
    return int(moment.timestamp())
