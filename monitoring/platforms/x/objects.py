"""What X's ids and language tags mean, in API v2 reads and v1.1 webhook deliveries alike."""

from __future__ import annotations

from datetime import UTC, datetime

# X tags tweets it cannot attribute to a language with these pseudo-codes
# (undetermined, mentions/hashtags/cashtags/media only, very short text).
# They would mislead language routing, so they map to "no language".
NOT_A_LANGUAGE = frozenset({"und", "qam", "qct", "qht", "qme", "qst", "zxx"})

# Snowflake ids carry their creation time: milliseconds since X's epoch in the bits above 22.
_SNOWFLAKE_EPOCH_MS = 1_288_834_974_657


def language(code: str | None) -> str:
    return "" if not code or code in NOT_A_LANGUAGE else code


def snowflake_time(snowflake: int) -> datetime:
    """When an X id was minted: the fallback when ``created_at`` is missing."""
    return datetime.fromtimestamp(((snowflake >> 22) + _SNOWFLAKE_EPOCH_MS) / 1000, UTC)
