"""Mail written by machines: auto-replies, list and bulk mail, bounces; and when we must not answer automatically.

Kinds, checked in this order (the first that applies wins):

- ``BOUNCE``: a ``multipart/report; report-type=delivery-status`` (RFC 3464), or mail from
  ``mailer-daemon``/``postmaster`` whose body looks like a delivery report (a ``message/delivery-status``
  or ``text/rfc822-headers`` part, an ``X-Failed-Recipients`` header as Exim sends, or the wording of
  Postfix, Exim, Exchange and Gmail bounces). A delay warning is a bounce too, with ``permanent=False``.
- ``AUTO_REPLY``: ``Auto-Submitted`` with any value but ``no`` (RFC 3834: ``auto-replied``,
  ``auto-generated``, ``auto-notified``), ``Precedence: auto_reply``, or the headers vacation programs set
  (``X-Autoreply``, ``X-Autorespond``, ``X-Autoreply-From``, ``X-Mail-Autoreply``); or an out-of-office
  subject ("Out of Office", "Automatic reply", "Autoreply", "Abwesenheitsnotiz", "Réponse automatique",
  "Respuesta automática", "Risposta automatica", "Automatisch antwoord", "Autosvar") *together with* a
  machine signal: ``X-Auto-Response-Suppress`` (Exchange sets it on its own out-of-office replies),
  ``X-MS-Exchange-Inbox-Rules-Loop`` (a message an Exchange rule sent) or an empty ``Return-Path: <>``.
  A subject alone is never enough: a person may write "Out of office until Monday" to us.
- ``BULK``: ``Precedence: bulk``, ``list`` or ``junk``, or a ``List-Id`` (RFC 2919).
- ``HUMAN`` otherwise.

``no_auto_response`` (RFC 3834 section 2: no acknowledgement, survey or notice of ours goes to it) is
set for every kind but ``HUMAN``, and also for mail that is human enough to handle but asks for no
automatic answer, or could not receive one:

- ``X-Auto-Response-Suppress`` naming ``All``, ``OOF`` or ``AutoReply`` (Outlook sets it on meeting
  requests and Exchange on its replies; ``DR``/``NDR``/``RN``/``NRN`` are about receipts, not us);
- ``List-Unsubscribe``: since 2024 Gmail and Yahoo require it of bulk senders, and transactional systems
  add it too. It says a system sent the mail, enough to send it nothing automatic, not enough to call it
  a list post;
- ``X-MS-Exchange-Inbox-Rules-Loop`` (Exchange's own loop guard);
- a null ``Return-Path: <>`` (RFC 3834 forbids responding to it);
- a sender whose local part is ``mailer-daemon``, ``postmaster``, or a "no reply" address (``noreply``,
  ``no-reply``, ``donotreply``, ``do-not-reply``), where an automatic message could only bounce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from enum import StrEnum

from monitoring.platforms.email.headers import (
    STDLIB_PARSER_ERRORS,
    first_message_id,
    message_ids,
    raw_header,
    raw_headers,
    single_line,
)
from monitoring.platforms.email.mime import MAX_DEPTH, content_type, part_text, subparts

MAX_DIAGNOSTIC_LENGTH = 500


class AutoKind(StrEnum):
    HUMAN = ""
    AUTO_REPLY = "auto_reply"
    BULK = "bulk"
    BOUNCE = "bounce"


@dataclass(frozen=True)
class Bounce:
    original_message_id: str
    """The Message-ID (without ``<>``) of our mail that bounced; "" when the report does not say."""
    recipient: str
    status: str
    """The RFC 3463 status code, e.g. ``5.1.1``; "" when the report gives none."""
    diagnostic: str
    """Why, in the receiving server's words, at most 500 characters."""
    permanent: bool
    """Delivery failed for good (``Action: failed`` or a 5.x.x status); False for a delay warning."""


_DAEMONS = frozenset({"mailer-daemon", "postmaster"})
_NO_REPLY = frozenset({"noreply", "no-reply", "donotreply", "do-not-reply", "no_reply"})
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoreply-From", "X-Mail-Autoreply")
_OUT_OF_OFFICE_SUBJECT = re.compile(
    r"\s*(?:out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?reply|abwesenheitsnotiz|automatische antwort"
    r"|réponse automatique|respuesta automática|risposta automatica|automatisch antwoord|autosvar)",
    re.IGNORECASE,
)
_BOUNCE_WORDING = re.compile(
    r"undeliver|could not be delivered|couldn't be delivered|delivery (?:has )?failed|delivery status notification"
    r"|returned mail|mail delivery (?:failed|subsystem|system)|permanent (?:error|fatal)|message not delivered"
    r"|delivery to the following recipient",
    re.IGNORECASE,
)
_DELAY_WORDING = re.compile(r"delayed|still being retried|will retry|not yet been delivered", re.IGNORECASE)
_STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_ANGLE_ADDRESS = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
_HEADER_LINE_ID = re.compile(r"^message-id:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def local_part(address: str) -> str:
    return address.rpartition("@")[0].lower()


def auto_kind(msg: Message, *, from_address: str, subject: str) -> AutoKind:
    """The kind of sender behind ``msg`` (see the module docstring for the rules and their order)."""
    if is_bounce(msg, from_address):
        return AutoKind.BOUNCE
    if _is_auto_reply(msg, subject):
        return AutoKind.AUTO_REPLY
    if _precedence(msg) in ("bulk", "list", "junk") or raw_header(msg, "List-Id") is not None:
        return AutoKind.BULK
    return AutoKind.HUMAN


def no_auto_response(msg: Message, *, kind: AutoKind, from_address: str) -> bool:
    """Whether RFC 3834 (and common sense) forbids sending any automatic message in answer to ``msg``."""
    if kind is not AutoKind.HUMAN:
        return True
    if _auto_submitted(msg) not in ("", "no"):
        return True
    if _precedence(msg) in ("bulk", "list", "junk", "auto_reply"):
        return True
    if any(
        raw_header(msg, name) is not None for name in ("List-Id", "List-Unsubscribe", "X-MS-Exchange-Inbox-Rules-Loop")
    ):
        return True
    suppress = {word.strip().lower() for word in (raw_header(msg, "X-Auto-Response-Suppress") or "").split(",")}
    if suppress & {"all", "oof", "autoreply"}:
        return True
    if _null_return_path(msg):
        return True
    return local_part(from_address) in _DAEMONS | _NO_REPLY


def _auto_submitted(msg: Message) -> str:
    value = single_line(raw_header(msg, "Auto-Submitted") or "").lower()
    return value.split(";", 1)[0].strip()


def _precedence(msg: Message) -> str:
    return single_line(raw_header(msg, "Precedence") or "").lower()


def _null_return_path(msg: Message) -> bool:
    return any(single_line(value).replace(" ", "") == "<>" for value in raw_headers(msg, "Return-Path"))


def _is_auto_reply(msg: Message, subject: str) -> bool:
    if _auto_submitted(msg) not in ("", "no") or _precedence(msg) == "auto_reply":
        return True
    if any(raw_header(msg, name) is not None for name in _AUTOREPLY_HEADERS):
        return True
    machine = (
        raw_header(msg, "X-Auto-Response-Suppress") is not None
        or raw_header(msg, "X-MS-Exchange-Inbox-Rules-Loop") is not None
        or _null_return_path(msg)
    )
    return machine and bool(_OUT_OF_OFFICE_SUBJECT.match(subject))


def _report_type(msg: Message) -> str:
    try:
        value = msg.get_param("report-type")
    except STDLIB_PARSER_ERRORS:
        return ""
    return value.lower() if isinstance(value, str) else ""


def _leaves(msg: Message) -> list[Message]:
    """Every part of ``msg``, without descending into ``message/rfc822`` (the bounced message's own parts)."""
    found: list[Message] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        found.append(part)
        children = subparts(part)
        if children and content_type(part).startswith("multipart/") and depth < MAX_DEPTH:
            stack.extend((child, depth + 1) for child in reversed(children))
    return found


def is_bounce(msg: Message, from_address: str) -> bool:
    if content_type(msg) == "multipart/report" and _report_type(msg) == "delivery-status":
        return True
    if local_part(from_address) not in _DAEMONS:
        return False
    parts = _leaves(msg)
    if any(content_type(part) in ("message/delivery-status", "text/rfc822-headers") for part in parts):
        return True
    if raw_header(msg, "X-Failed-Recipients") is not None:
        return True
    text = _first_text(msg, parts)[:5000]
    return bool(_BOUNCE_WORDING.search(text) or _DELAY_WORDING.search(text))


def _first_text(msg: Message, parts: list[Message]) -> str:
    subject = raw_header(msg, "Subject") or ""
    for part in parts:
        if content_type(part) == "text/plain":
            return f"{subject}\n{part_text(part)}"
    return subject


def read_bounce(msg: Message, *, in_reply_to: str, references: tuple[str, ...]) -> Bounce:
    """What a bounce says: which of our messages, for whom, why, and whether for good.

    Read from the ``message/delivery-status`` fields (the first recipient whose ``Action`` is ``failed``,
    else the first); for a plain-text bounce, from ``X-Failed-Recipients`` and the first status code and
    ``<address>`` in the text. The bounced message's id comes from the returned ``message/rfc822`` or
    ``text/rfc822-headers`` part, else ``In-Reply-To``, else the last of ``References``.
    """
    parts = _leaves(msg)
    text = _first_text(msg, parts)
    fields = _delivery_status_fields(parts)
    original = (
        _returned_message_id(parts) or _quoted_message_id(text) or in_reply_to or (references[-1] if references else "")
    )
    if fields is not None:
        recipient = _typed_value(fields.get("final-recipient") or fields.get("original-recipient") or "")
        status_match = _STATUS_CODE.search(fields.get("status", ""))
        status = status_match.group() if status_match else ""
        action = fields.get("action", "").lower()
        diagnostic = _typed_value(fields.get("diagnostic-code", "")) or _summary_line(text)
        permanent = action == "failed" or (status.startswith("5") and action not in ("delayed", "delivered"))
    else:
        failed = single_line(raw_header(msg, "X-Failed-Recipients") or "")
        address = _ANGLE_ADDRESS.search(text)
        recipient = failed.split(",")[0].strip() if failed else (address.group(1) if address else "")
        status_match = _STATUS_CODE.search(text)
        status = status_match.group() if status_match else ""
        diagnostic = _status_paragraph(text, status_match) or _summary_line(text)
        delayed = bool(_DELAY_WORDING.search(text[:5000])) and not status.startswith("5")
        permanent = not delayed and not status.startswith("4")
    return Bounce(
        original_message_id=original,
        recipient=single_line(recipient, 320).lower(),
        status=status,
        diagnostic=single_line(diagnostic, MAX_DIAGNOSTIC_LENGTH),
        permanent=permanent,
    )


def _delivery_status_fields(parts: list[Message]) -> dict[str, str] | None:
    """The per-recipient fields of the first failed recipient of a ``message/delivery-status`` part."""
    for part in parts:
        if content_type(part) != "message/delivery-status":
            continue
        blocks = subparts(part) or []
        recipients = [
            {key.lower(): single_line(value) for key, value in block.raw_items()} for block in blocks[1:]
        ] or [{key.lower(): single_line(value) for key, value in block.raw_items()} for block in blocks]
        recipients = [fields for fields in recipients if fields]
        if recipients:
            failed = [fields for fields in recipients if fields.get("action", "").lower() == "failed"]
            return (failed or recipients)[0]
    return None


def _typed_value(value: str) -> str:
    """``rfc822; someone@example.com`` -> ``someone@example.com``; ``smtp; 550 ...`` -> ``550 ...``."""
    kind, semicolon, rest = value.partition(";")
    return rest.strip() if semicolon and len(kind) < 20 else value.strip()


def _returned_message_id(parts: list[Message]) -> str:
    for part in parts:
        ctype = content_type(part)
        children = subparts(part)
        if ctype == "message/rfc822" and children:
            found = first_message_id(raw_header(children[0], "Message-ID"))
            if found:
                return found
        if ctype == "text/rfc822-headers" and (found := _quoted_message_id(part_text(part))):
            return found
    return ""


def _quoted_message_id(text: str) -> str:
    """The Message-ID line of the returned headers a plain-text bounce (Exim, qmail) copies into its text."""
    match = _HEADER_LINE_ID.search(text)
    ids = message_ids(match.group(1)) if match else []
    return ids[0] if ids else ""


def _status_paragraph(text: str, status: re.Match[str] | None) -> str:
    """The text from the line that holds the first status code to the end of its paragraph."""
    if status is None:
        return ""
    start = text.rfind("\n", 0, status.start()) + 1
    end = text.find("\n\n", status.end())
    return text[start : end if end >= 0 else len(text)]


def _summary_line(text: str) -> str:
    """The first lines of a bounce's human-readable text, skipping the subject line we put first."""
    body = text.split("\n", 1)[1] if "\n" in text else text
    return " ".join(line.strip() for line in body.splitlines() if line.strip())[:MAX_DIAGNOSTIC_LENGTH]
