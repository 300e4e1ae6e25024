"""Email behind the common connector interface: a mailbox polled over IMAP, answered over SMTP.

The poll and the Sent-folder check are ``imap``'s; sending is ``smtp``'s. A mailbox without an IMAP host is not
polled (its mail comes by the ``receive_email`` pipe command); listening queries have no meaning for a mailbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from core.models import Platform
from monitoring.platforms import register
from monitoring.platforms.base import Connector, Page, PlatformError, QuerySpec, ReplyRequest
from monitoring.platforms.email import imap
from monitoring.platforms.email.outgoing import message_id_for, reply_message_key
from monitoring.platforms.email.smtp import send_reply


@register
class EmailConnector(Connector):
    platform: ClassVar[str] = Platform.EMAIL

    def can_poll(self) -> bool:
        return bool(self.account.settings.get("imap_host"))

    def poll(self, cursor: dict[str, Any]) -> Page:
        return imap.poll_mailbox(self.account, cursor, timeout=self.timeout)

    def search(self, query: QuerySpec, cursor: dict[str, Any]) -> Page:
        raise PlatformError(
            "A mailbox has no listening queries: its mail is all addressed to it.", permanent=True, code="unsupported"
        )

    def post_reply(self, request: ReplyRequest) -> str:
        return send_reply(self.account, request, timeout=self.timeout)

    def find_reply(self, request: ReplyRequest, since: datetime) -> str | None:
        """Our reply's ``Message.external_id`` if its Message-ID is in the Sent folder, else None.

        Our replies are filed in the mailbox's Sent folder (``sent_folder``) when sent; without one nothing can
        tell whether a reply went out, and this raises (the outbox then keeps the reply waiting for a person rather
        than risk sending it twice).
        """
        folder = str(self.account.settings.get("sent_folder") or "")
        if not folder:
            raise PlatformError(
                "The mailbox has no Sent folder to look in: whether this reply went out cannot be checked.",
                permanent=True,
                code="unsupported",
            )
        if not self.account.settings.get("imap_host"):
            raise PlatformError(
                "The mailbox has no IMAP server to look in: whether this reply went out cannot be checked.",
                permanent=True,
                code="unsupported",
            )
        message_id = message_id_for(self.account.settings, request.idempotency_key)
        if not imap.find_message_id(self.account, folder, message_id, since, timeout=self.timeout):
            return None
        return reply_message_key(self.account.settings, request.idempotency_key)
