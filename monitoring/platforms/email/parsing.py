"""One RFC 5322 message (bytes, as IMAP or a mail server's pipe hands it over) read into a ``ParsedEmail``.

Pure code: the standard library's ``email`` package with ``policy.default``, no models, no database.
The decisions, and where each is made:

- **What is refused** (``MalformedEmail``): empty input, more than ``MAX_MESSAGE_BYTES``, no header
  block, no usable From address (a ``local@domain`` in From, else in Sender). Everything else is stored
  with a best effort: malformed MIME, unknown charsets, bad base64, absurd dates. ``parse_email`` raises
  nothing else for any bytes (hypothesis fuzzes it); a message nested too deep for the parser's recursion
  is read with its headers and its raw body as the text.
- **Headers** are read raw and decoded here (``headers``): the header registry's parser is slow and
  crashes on some hostile values. Every single-line value (subject, names, ids) has CR, LF, NUL and the
  other control characters removed, so an injection attempt stays one harmless line. Ids lose their
  ``<>``; References keeps the last 50. To and Cc keep the first ``MAX_STORED_RECIPIENTS`` addresses each;
  ``recipient_count`` is the true total. A date before 1990 or more than a day ahead is None.
- **Charsets** (``charsets``): the declared one when the bytes fit it, else UTF-8, windows-1252, Latin-1.
- **Body and attachments** (``mime``): text/plain preferred, HTML-only mail turned into text
  (``html_text``); every other part is an attachment, content over ``max_attachment_bytes()`` dropped
  with its size and the reason kept. The text is the whole body (folding for display is ``folding``).
- **Machines** (``automatic``): auto-replies, bulk mail and bounces, and whether RFC 3834 forbids an
  automatic answer; the rules are in that module's docstring.
- **Identity**: ``external_id_for`` is the Message-ID, or a hash when it is missing or too long for the
  column; ``content_hash`` (raw bytes, line endings normalised) finds the same message delivered twice.
"""

from __future__ import annotations

import email
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

from django.conf import settings

from monitoring.platforms.base import MalformedPayload
from monitoring.platforms.email.automatic import AutoKind, Bounce, auto_kind, no_auto_response, read_bounce
from monitoring.platforms.email.folding import Folded, fold
from monitoring.platforms.email.headers import (
    STDLIB_PARSER_ERRORS,
    addresses,
    decode_words,
    first_message_id,
    mailboxes,
    message_ids,
    parse_date,
    raw_header,
    raw_headers,
    single_line,
)
from monitoring.platforms.email.html_text import html_to_text
from monitoring.platforms.email.mime import ParsedAttachment, read_attachments, read_body

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_STORED_RECIPIENTS",
    "AutoKind",
    "Bounce",
    "Folded",
    "MalformedEmail",
    "ParsedAttachment",
    "ParsedEmail",
    "external_id_for",
    "fold",
    "html_to_text",
    "max_attachment_bytes",
    "max_message_bytes",
    "parse_email",
]

DEFAULT_MAX_MESSAGE_BYTES = 30 * 1024 * 1024
DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_STORED_RECIPIENTS = 100
MAX_REFERENCES = 50
MAX_SUBJECT_LENGTH = 500
MAX_NAME_LENGTH = 200
EXTERNAL_ID_MAX_LENGTH = 128
"""``Message.external_id``'s column."""


def _size_setting(name: str, default: int) -> int:
    if not settings.configured:
        return default
    value = getattr(settings, name, default)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def max_message_bytes() -> int:
    """``settings.EMAIL_MAX_MESSAGE_BYTES`` (default 30 MB), read at call time."""
    return _size_setting("EMAIL_MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES)


def max_attachment_bytes() -> int:
    """``settings.EMAIL_ATTACHMENT_MAX_BYTES`` (default 10 MB), read at call time."""
    return _size_setting("EMAIL_ATTACHMENT_MAX_BYTES", DEFAULT_MAX_ATTACHMENT_BYTES)


MAX_MESSAGE_BYTES: int = max_message_bytes()
"""The limit when this module was imported; ``parse_email`` reads :func:`max_message_bytes` each call."""
MAX_ATTACHMENT_BYTES: int = max_attachment_bytes()
"""The limit when this module was imported; ``parse_email`` reads :func:`max_attachment_bytes` each call."""


class MalformedEmail(MalformedPayload):
    """Not an RFC 5322 message we can store: empty, over MAX_MESSAGE_BYTES, no header block, no usable From address."""


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    subject: str
    from_address: str
    from_name: str
    reply_to: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    recipient_count: int
    date: datetime | None
    text: str
    html: bool
    attachments: tuple[ParsedAttachment, ...]
    auto: AutoKind
    no_auto_response: bool
    bounce: Bounce | None
    content_hash: str

    def summary(self) -> dict[str, Any]:
        """What ``Message.raw["email"]`` keeps: JSON-safe, without the text and the attachments' content."""
        return {
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
            "subject": self.subject,
            "from": self.from_address,
            "from_name": self.from_name,
            "reply_to": self.reply_to,
            "to": list(self.to),
            "cc": list(self.cc),
            "recipient_count": self.recipient_count,
            "date": self.date.isoformat() if self.date else None,
            "auto": self.auto.value,
            "no_auto_response": self.no_auto_response,
            "html": self.html,
            "attachments": [
                {
                    "filename": attachment.filename,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "content_id": attachment.content_id,
                    "inline": attachment.inline,
                    "dropped_reason": attachment.dropped_reason,
                }
                for attachment in self.attachments
            ],
            "bounce": (
                {
                    "original_message_id": self.bounce.original_message_id,
                    "recipient": self.bounce.recipient,
                    "status": self.bounce.status,
                    "diagnostic": self.bounce.diagnostic,
                    "permanent": self.bounce.permanent,
                }
                if self.bounce
                else None
            ),
            "content_hash": self.content_hash,
        }


def parse_email(raw: bytes) -> ParsedEmail:
    """``raw`` read as one message; ``MalformedEmail`` for the cases above, and never another exception."""
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise MalformedEmail(f"An email arrives as bytes, not {type(raw).__name__}.")
    if not raw.strip():
        raise MalformedEmail("The message is empty.")
    limit = max_message_bytes()
    if len(raw) > limit:
        raise MalformedEmail(f"The message is {len(raw)} bytes; at most {limit} are accepted.")
    msg = _message(raw)
    if not msg.keys():
        raise MalformedEmail("The message has no header block.")
    senders = mailboxes(raw_header(msg, "From")) or mailboxes(raw_header(msg, "Sender"))
    if not senders:
        raise MalformedEmail("The message has no usable From address.")
    from_name, from_address = senders[0]
    to, cc = addresses(raw_headers(msg, "To")), addresses(raw_headers(msg, "Cc"))
    subject = single_line(decode_words(raw_header(msg, "Subject") or ""), MAX_SUBJECT_LENGTH)
    in_reply_to = first_message_id(raw_header(msg, "In-Reply-To"))
    references = _references(raw_headers(msg, "References"))
    body, body_parts = read_body(msg)
    kind = auto_kind(msg, from_address=from_address, subject=subject)
    reply_to = mailboxes(raw_header(msg, "Reply-To"))
    return ParsedEmail(
        message_id=first_message_id(raw_header(msg, "Message-ID")),
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        from_address=from_address,
        from_name=from_name[:MAX_NAME_LENGTH].rstrip(),
        reply_to=reply_to[0][1] if reply_to else "",
        to=tuple(to[:MAX_STORED_RECIPIENTS]),
        cc=tuple(cc[:MAX_STORED_RECIPIENTS]),
        recipient_count=len(to) + len(cc),
        date=parse_date(raw_header(msg, "Date"), now=datetime.now(UTC)),
        text=body.text,
        html=body.html,
        attachments=read_attachments(msg, body_parts, max_bytes=max_attachment_bytes()),
        auto=kind,
        no_auto_response=no_auto_response(msg, kind=kind, from_address=from_address),
        bounce=read_bounce(msg, in_reply_to=in_reply_to, references=references) if kind is AutoKind.BOUNCE else None,
        content_hash=content_hash(raw),
    )


def _message(raw: bytes) -> Message:
    try:
        return email.message_from_bytes(raw, policy=policy.default)
    except STDLIB_PARSER_ERRORS:
        # The feed parser recurses once per multipart level: hundreds of nested parts exhaust the stack.
        # The headers alone still parse; the body is then read as one text part.
        try:
            return BytesHeaderParser(policy=policy.default).parsebytes(raw)
        except STDLIB_PARSER_ERRORS as error:
            raise MalformedEmail("The message cannot be parsed.") from error


def _references(values: list[str]) -> tuple[str, ...]:
    ordered = list(dict.fromkeys(mid for value in values for mid in message_ids(value)))
    return tuple(ordered[-MAX_REFERENCES:])


TRACE_HEADERS = frozenset({b"received", b"return-path", b"delivered-to", b"x-original-to", b"x-envelope-from"})
"""Headers each hop adds on the way in: the same mail read by IMAP and piped by the mail server differs in them."""


def content_hash(raw: bytes) -> str:
    """SHA-256 (hex) of ``raw`` without its trace headers, CRLF and CR as LF: the same mail has one hash however it
    came (IMAP's CRLF, a pipe's LF, with the hops' ``Received`` lines or without)."""
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    head, separator, body = text.partition(b"\n\n")
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):  # a folded continuation belongs to the header above it
            if not dropping:
                kept.append(line)
            continue
        dropping = line.split(b":", 1)[0].strip().lower() in TRACE_HEADERS
        if not dropping:
            kept.append(line)
    return hashlib.sha256(b"\n".join(kept) + separator + body).hexdigest()


def message_key(message_id: str) -> str:
    """How a Message-ID is stored as ``Message.external_id``: itself when it fits, else ``sha256:`` and its hash.

    The same rule finds the messages a reply's ``In-Reply-To`` and ``References`` name.
    """
    if len(message_id) <= EXTERNAL_ID_MAX_LENGTH:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()


def external_id_for(parsed: ParsedEmail) -> str:
    """The idempotency key stored as ``Message.external_id`` (at most 128 characters).

    The Message-ID when there is one that fits; ``sha256:`` and the hash of a longer Message-ID; or
    ``sha256:`` and the content hash when the message has no Message-ID.
    """
    if parsed.message_id:
        return message_key(parsed.message_id)
    return f"sha256:{parsed.content_hash}"
