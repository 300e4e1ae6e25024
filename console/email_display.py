"""Email messages as the conversation page shows them: headers, the body with its history folded away, the files.

Everything here reads ``Message.raw["email"]``, which holds what a mail said about itself (from any version of
the parser): it never raises, whatever it finds there, and every value is shown as text by the templates. The
stored text is never changed: folding splits it for display only (``monitoring.platforms.email.folding``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.models import Attachment, Channel, Conversation, Direction, Message
from core.queries import AUTOMATIC_EMAIL, customer_email_address
from monitoring.platforms.email.folding import fold
from monitoring.platforms.email.inbound import TOKEN

MAX_SHOWN_RECIPIENTS = 20
"""To and CC list this many addresses each; the rest are counted ("and 80 more")."""

AUTO_LABELS = {
    "auto_reply": "automatic reply (out of office)",
    "bounce": "delivery report (bounce)",
    "bulk": "bulk mail",
}


@dataclass(frozen=True)
class ShownFile:
    id: int
    filename: str
    content_type: str
    size: int
    inline: bool
    dropped_reason: str


@dataclass(frozen=True)
class EmailView:
    subject: str
    from_name: str
    from_address: str
    to: list[str]
    cc: list[str]
    more_recipients: int
    auto: str
    """What kind of automatic mail this is, in words ("" for mail a person wrote)."""
    bounce: str
    """A delivery report's own account of what failed, for the agent ("" when none)."""
    main: str
    quoted: str
    signature: str
    files: list[ShownFile]


def _text(value: Any, limit: int = 1000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _addresses(value: Any) -> list[str]:
    return [item[:320] for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _bounce(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    parts = [_text(value.get("status"), 16), _text(value.get("recipient"), 320), _text(value.get("diagnostic"), 500)]
    status, recipient, diagnostic = parts
    if not any(parts):
        return ""
    return " ".join(p for p in (status, f"for {recipient}" if recipient else "", diagnostic and f"— {diagnostic}") if p)


def _files(message: Message) -> list[ShownFile]:
    attachments: list[Attachment] = list(message.files.all())  # prefetched without their bytes
    return [
        ShownFile(a.pk, a.filename, a.content_type, a.size, a.inline or bool(a.content_id), a.dropped_reason)
        for a in attachments
    ]


def email_view(message: Message, *, customer_address: str, default_subject: str = "") -> EmailView:
    """``message`` (on channel email) as the thread shows it.

    Our replies are addressed to ``customer_address``; one stored without a subject goes under ``default_subject``.
    """
    raw = message.raw if isinstance(message.raw, dict) else {}
    details = raw.get("email")
    email: dict[str, Any] = details if isinstance(details, dict) else {}
    main, quoted, signature = fold(message.text)
    files = _files(message)
    if message.direction == Direction.OUTBOUND:
        return EmailView(
            subject=_text(email.get("subject"), 200) or default_subject,
            from_name="",
            from_address="",
            to=[customer_address] if customer_address else [],
            cc=_addresses(email.get("cc")),
            more_recipients=0,
            auto="",
            bounce="",
            main=main,
            quoted=quoted,
            signature=signature,
            files=files,
        )
    to, cc = _addresses(email.get("to")), _addresses(email.get("cc"))
    shown_to, shown_cc = to[:MAX_SHOWN_RECIPIENTS], cc[:MAX_SHOWN_RECIPIENTS]
    auto = _text(email.get("auto"), 32)
    return EmailView(
        subject=_text(email.get("subject"), 500),
        from_name=_text(email.get("from_name"), 200),
        from_address=_text(email.get("from"), 320),
        to=shown_to,
        cc=shown_cc,
        more_recipients=max(0, _count(email.get("recipient_count")) - len(shown_to) - len(shown_cc)),
        auto=AUTO_LABELS.get(auto, "automatic mail" if auto else ""),
        bounce=_bounce(email.get("bounce")),
        main=main,
        quoted=quoted,
        signature=signature,
        files=files,
    )


def email_views(conversation: Conversation, thread: list[Message]) -> dict[int, EmailView]:
    """Each email message of ``thread`` by id (nothing for the other channels)."""
    if conversation.channel != Channel.EMAIL:
        return {}
    customer = customer_email_address(conversation)
    default_subject = reply_subject(last_customer_subject(conversation))
    return {m.pk: email_view(m, customer_address=customer, default_subject=default_subject) for m in thread}


# --- The composer ---------------------------------------------------------------------------------------

_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|aw|sv|antw|vs|odp)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def reply_subject(subject: str) -> str:
    """``Re: <subject>``, once: whatever reply prefixes and conversation token the subject already carries.

    The token (``[#123]``) is the sending side's to add; a second "Re:" is what clients avoid too.
    """
    bare = " ".join(TOKEN.sub(" ", subject).split())
    bare = _REPLY_PREFIX.sub("", bare).strip()
    return f"Re: {bare}"[:200] if bare else ""


def last_customer_subject(conversation: Conversation) -> str:
    """The subject of the customer's latest mail a person wrote (the subject they see), else the conversation's."""
    rows = (
        conversation.messages.filter(direction=Direction.INBOUND)
        .order_by("-sent_at", "-id")
        .values_list("raw__email__subject", "raw__email__auto")[:20]
    )
    for subject, auto in rows:
        if isinstance(subject, str) and subject.strip() and auto not in AUTOMATIC_EMAIL:
            return subject
    return conversation.subject
