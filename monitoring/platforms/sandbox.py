"""The sandbox as a platform: the embedded default's source of customer posts, and of customer email.

It goes through exactly the same polling, cursor and pipeline code as X and
Facebook; only the posts are invented (``monitoring.sandbox``). Each poll also
plays the mail server: it hands the demo mailbox the email written since the
last poll (``monitoring.sandbox_email``) through ``do_receive_email``, the pipe
command's own path, so the sandbox's mail is parsed and threaded like real mail.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from monitoring.demo import DEMO_MAILBOX
from monitoring.platforms import register
from monitoring.platforms.base import Connector, Page, PlatformError, QuerySpec, ReplyRequest
from monitoring.platforms.email.parsing import MalformedEmail
from monitoring.platforms.email.receive import UnknownMailbox, do_receive_email, find_mailbox
from monitoring.queries import open_email_threads, open_sandbox_threads
from monitoring.sandbox import SandboxSource
from monitoring.sandbox_email import SandboxMail

logger = logging.getLogger(__name__)

MAX_CATCH_UP_SECONDS = 60.0
"""After a pause the sandbox writes at most a minute's worth, not a flood."""

_source: SandboxSource | None = None
_mail: SandboxMail | None = None


def _shared_source() -> SandboxSource:
    global _source
    if _source is None:
        _source = SandboxSource(settings.SANDBOX_SEED or None)
    return _source


def _shared_mail() -> SandboxMail:
    global _mail
    if _mail is None:
        _mail = SandboxMail(settings.SANDBOX_SEED or None)
    return _mail


def deliver_sandbox_mail(
    count: int, *, now: datetime, window_seconds: float = 60.0, writer: SandboxMail | None = None
) -> int:
    """Hand ``count`` sandbox emails to the demo mailbox as a mail server would; how many were new.

    Nothing is delivered without a demo mailbox (``seed_demo`` makes it). ``writer``: the sandbox's own by default.
    """
    if count <= 0:
        return 0
    try:
        mailbox = find_mailbox(DEMO_MAILBOX)
    except UnknownMailbox:
        return 0
    writer = writer or _shared_mail()
    stored = 0
    for raw in writer.messages(
        count,
        now=now,
        to_address=mailbox.address,
        to_name=mailbox.from_name,
        open_threads=open_email_threads(mailbox.account_id),
        window_seconds=window_seconds,
    ):
        try:
            stats = do_receive_email(mailbox, raw)
        except MalformedEmail:  # the sandbox's own bug: say so, and go on with the rest
            logger.exception("the sandbox wrote an email the parser refuses")
            continue
        stored += stats.stored
    return stored


@register
class SandboxConnector(Connector):
    platform = "sandbox"

    def poll(self, cursor: dict[str, Any]) -> Page:
        """Posts for the time since the last poll at ``SANDBOX_POSTS_PER_MINUTE``, and the demo mailbox's email at
        ``SANDBOX_EMAILS_PER_MINUTE`` (delivered now; the posts are stored by the poll).

        Cursor: ``last_at`` (ISO time of the previous poll), ``carry`` and ``mail_carry`` (the fraction of a post
        and of an email owed), so the long-run rates are exact at any interval.
        """
        now = timezone.now()
        last_at = _parse(cursor.get("last_at")) or now
        elapsed = max(0.0, min(MAX_CATCH_UP_SECONDS, (now - last_at).total_seconds()))
        expected_mail = settings.SANDBOX_EMAILS_PER_MINUTE * elapsed / 60 + _fraction(cursor.get("mail_carry"))
        mail_count = math.floor(expected_mail)
        deliver_sandbox_mail(mail_count, now=now, window_seconds=max(elapsed, 1.0))
        expected = settings.SANDBOX_POSTS_PER_MINUTE * elapsed / 60 + float(cursor.get("carry", 0.0))
        count = math.floor(expected)
        posts = _shared_source().posts(
            count,
            now=now,
            open_threads=open_sandbox_threads() if count else [],
            window_seconds=max(elapsed, 1.0),
            account_id=self.account.id,
        )
        return Page(
            posts=posts,
            cursor={"last_at": now.isoformat(), "carry": expected - count, "mail_carry": expected_mail - mail_count},
        )

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


def _fraction(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
