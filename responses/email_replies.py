"""What an email reply needs from the database: the customer's address, the subject, the thread, the files.

The outbox asks for it when it posts a reply on channel ``email``; the email connector turns it into a message
(``monitoring.platforms.email.outgoing``). The reply's own options (``Message.raw["email"]``: the subject and
the CC the agent chose) come from the composer; the rest from the customer's latest mail, never from an
automatic one (an out-of-office or a bounce answers nobody).
"""

from __future__ import annotations

from typing import Any

from core.models import Conversation, Direction, Message
from monitoring.platforms.base import EmailReply, OutgoingFile, PlatformError, QuotedMessage

AUTOMATIC_KINDS = ("auto_reply", "bounce")
"""``raw["email"]["auto"]`` of mail no person wrote: never the message a reply answers."""


def latest_customer_mail(conversation: Conversation) -> Message | None:
    """The customer's latest mail in the conversation a person wrote (no out-of-office, no bounce)."""
    return (
        conversation.messages.filter(direction=Direction.INBOUND)
        .exclude(external_id__isnull=True)
        .exclude(raw__email__auto__in=AUTOMATIC_KINDS)
        .select_related("author_identity")
        .order_by("-sent_at", "-id")
        .first()
    )


def email_reply_for(message: Message, conversation: Conversation) -> EmailReply:
    """The addresses, subject, thread headers, quoted history and files of our reply ``message``."""
    answered = latest_customer_mail(conversation)
    if answered is None:
        raise PlatformError("There is no mail from the customer to answer.", permanent=True, code="no_target")
    header: dict[str, Any] = answered.raw.get("email") or {}
    options: dict[str, Any] = message.raw.get("email") or {}
    to = str(header.get("reply_to") or header.get("from") or "")
    if not to and answered.author_identity is not None:
        to = answered.author_identity.external_id
    name = str(header.get("from_name") or "")
    files = tuple(
        OutgoingFile(filename=item.filename, content_type=item.content_type, data=bytes(item.data))
        for item in message.files.all()
        if not item.dropped_reason
    )
    return EmailReply(
        to=to,
        to_name=name,
        cc=tuple(str(address) for address in options.get("cc") or () if str(address).lower() != to.lower()),
        subject=str(options.get("subject") or header.get("subject") or conversation.subject or ""),
        conversation_id=conversation.pk,
        in_reply_to=str(header.get("message_id") or ""),
        references=tuple(str(ref) for ref in header.get("references") or ()),
        quoted=QuotedMessage(author=name or to, sent_at=answered.sent_at, text=answered.text),
        attachments=files,
        automatic=bool(message.raw.get("automatic")),
    )
