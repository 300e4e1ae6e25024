"""The sandbox as a platform: the embedded default's source of customer posts.

It goes through exactly the same polling, cursor and pipeline code as X and
Facebook; only the posts are invented (``monitoring.sandbox``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from monitoring.platforms import register
from monitoring.platforms.base import Connector, Page, PlatformError, QuerySpec, ReplyRequest
from monitoring.queries import open_sandbox_threads
from monitoring.sandbox import SandboxSource

MAX_CATCH_UP_SECONDS = 60.0
"""After a pause the sandbox writes at most a minute's worth, not a flood."""

_source: SandboxSource | None = None


def _shared_source() -> SandboxSource:
    global _source
    if _source is None:
        _source = SandboxSource(settings.SANDBOX_SEED or None)
    return _source


@register
class SandboxConnector(Connector):
    platform = "sandbox"

    def poll(self, cursor: dict[str, Any]) -> Page:
        """Posts for the time since the last poll at ``SANDBOX_POSTS_PER_MINUTE``.

        Cursor: ``last_at`` (ISO time of the previous poll) and ``carry`` (the
        fraction of a post owed), so the long-run rate is exact at any interval.
        """
        now = timezone.now()
        last_at = _parse(cursor.get("last_at")) or now
        elapsed = max(0.0, min(MAX_CATCH_UP_SECONDS, (now - last_at).total_seconds()))
        expected = settings.SANDBOX_POSTS_PER_MINUTE * elapsed / 60 + float(cursor.get("carry", 0.0))
        count = math.floor(expected)
        posts = _shared_source().posts(
            count,
            now=now,
            open_threads=open_sandbox_threads() if count else [],
            window_seconds=max(elapsed, 1.0),
            account_id=self.account.id,
        )
        return Page(posts=posts, cursor={"last_at": now.isoformat(), "carry": expected - count})

    def search(self, query: QuerySpec, cursor: dict[str, Any]) -> Page:
        raise PlatformError("The sandbox has no keyword search.", permanent=True, code="unsupported")

    def post_reply(self, request: ReplyRequest) -> str:
        """Every reply is accepted; its id derives from the idempotency key, as on a platform honouring one."""
        return f"sbx-reply-{request.idempotency_key}"

    def find_reply(self, request: ReplyRequest, since: datetime) -> str | None:
        # Posting is idempotent by key here, so "was it posted?" never needs asking.
        return None


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
