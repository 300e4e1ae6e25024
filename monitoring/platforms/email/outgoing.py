"""Our reply as an RFC 5322 message: addresses, subject with the token, thread headers, text and HTML, history.

Pure functions of the request and the mailbox's settings: ``smtp`` sends what ``build_reply`` makes.

- **Message-ID** ``<sb.<idempotency key>@<mailbox domain>>``: derived from the reply's idempotency key, so the
  outbox can ask the Sent folder whether *this* reply went out before it tries again (``message_id_for``), and
  the customer's answer, which names it in ``In-Reply-To``, threads back to the conversation.
- **Subject** ``Re: <subject> [#<conversation>]``: the subject the agent left (else the customer's latest),
  without a second ``Re:`` or an older token; the token is the threading fallback for clients that drop headers.
- **In-Reply-To** the customer's message answered, **References** its references and it (at most
  ``MAX_REFERENCES``, keeping the root, as RFC 5322 3.6.4 suggests trimming).
- **Body** text and HTML alternatives; the customer's message quoted below (``On <date>, <name> wrote:``).
- ``Auto-Submitted: auto-generated`` on automatic messages (RFC 3834 5), so the customer's autoresponder does not
  answer them.
"""

from __future__ import annotations

import html
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, formataddr, make_msgid

from django.utils import timezone

from monitoring.platforms.base import AccountRef, EmailReply, PlatformError, ReplyRequest
from monitoring.platforms.email.parsing import message_key

MAX_REFERENCES = 20
SUBJECT_MAX_LENGTH = 200
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|vs|antw|odp|fw|fwd|wg|tr)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_TOKEN = re.compile(r"\s*\[#\d{1,18}\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def message_id_for(settings: dict[str, object], idempotency_key: str) -> str:
    """Our reply's Message-ID, without angle brackets: the same for every attempt at the same reply."""
    domain = str(settings.get("message_id_domain") or "") or str(settings.get("address", "")).rpartition("@")[2]
    if not domain:
        domain = make_msgid().strip("<>").rpartition("@")[2]
    return f"sb.{idempotency_key}@{domain}"


def reply_message_key(settings: dict[str, object], idempotency_key: str) -> str:
    """The ``Message.external_id`` our sent reply gets: its Message-ID as inbound mail naming it is stored."""
    return message_key(message_id_for(settings, idempotency_key))


def reply_subject(subject: str, conversation_id: int | None) -> str:
    """``Re: <subject> [#id]``: one ``Re:``, one token, one line, at most ``SUBJECT_MAX_LENGTH`` before the token."""
    bare = _CONTROL.sub(" ", subject)
    bare = _TOKEN.sub("", bare)
    bare = _REPLY_PREFIX.sub("", bare).strip()
    bare = bare[:SUBJECT_MAX_LENGTH].rstrip()
    token = f" [#{conversation_id}]" if conversation_id is not None else ""
    return (f"Re: {bare}" if bare else "Re: your message") + token


def build_reply(account: AccountRef, request: ReplyRequest) -> EmailMessage:
    """The message for ``request`` from ``account``'s mailbox. Raises a permanent ``PlatformError`` for bad input."""
    email = request.email
    if email is None or not email.to:
        raise PlatformError("An email reply needs the customer's address.", permanent=True, code="bad_request")
    settings = account.settings
    address = str(settings.get("address") or "")
    if not address:
        raise PlatformError("The mailbox has no address to send from.", permanent=True, code="bad_request")
    message = EmailMessage(policy=default_policy)
    try:
        message["From"] = formataddr((str(settings.get("from_name") or ""), address))
        message["To"] = Address(display_name=_one_line(email.to_name), addr_spec=email.to)
        if email.cc:
            message["Cc"] = ", ".join(email.cc)
        message["Subject"] = reply_subject(email.subject, email.conversation_id)
        message["Date"] = format_datetime(timezone.now())
        message["Message-ID"] = f"<{message_id_for(settings, request.idempotency_key)}>"
        if email.in_reply_to:
            message["In-Reply-To"] = f"<{email.in_reply_to}>"
        references = _references(email)
        if references:
            message["References"] = " ".join(f"<{ref}>" for ref in references)
        if email.automatic:
            message["Auto-Submitted"] = "auto-generated"
            message["X-Auto-Response-Suppress"] = "All"  # Exchange's own way of saying it
    except (ValueError, IndexError, TypeError) as error:  # the header registry refuses line breaks, bad addresses
        raise PlatformError(f"The reply's headers are not valid: {error}", permanent=True, code="bad_request") from None
    message.set_content(_text_body(request.text, email))
    message.add_alternative(_html_body(request.text, email), subtype="html")
    for item in email.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        if not maintype or not subtype or "\n" in item.content_type:
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=_one_line(item.filename))
    return message


def recipients(email: EmailReply) -> list[str]:
    return list(dict.fromkeys([email.to, *email.cc]))


def _references(email: EmailReply) -> list[str]:
    chain = list(dict.fromkeys([*email.references, email.in_reply_to]))
    chain = [ref for ref in chain if ref]
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return chain


def _one_line(value: str) -> str:
    return _CONTROL.sub(" ", value).strip()


def _attribution(email: EmailReply) -> str:
    quoted = email.quoted
    assert quoted is not None
    when = quoted.sent_at.strftime("%a, %d %b %Y at %H:%M") if quoted.sent_at else "an earlier date"
    return f"On {when}, {_one_line(quoted.author) or 'you'} wrote:"


def _text_body(text: str, email: EmailReply) -> str:
    if email.quoted is None or not email.quoted.text.strip():
        return text + "\n"
    quoted = "\n".join(f"> {line}" if line else ">" for line in email.quoted.text.splitlines())
    return f"{text}\n\n{_attribution(email)}\n{quoted}\n"


def _html_body(text: str, email: EmailReply) -> str:
    paragraphs = "".join(
        f"<p>{html.escape(part).replace(chr(10), '<br>')}</p>" for part in re.split(r"\n\s*\n", text) if part.strip()
    )
    if email.quoted is not None and email.quoted.text.strip():
        history = html.escape(email.quoted.text).replace("\n", "<br>")
        paragraphs += (
            f"<p>{html.escape(_attribution(email))}</p>"
            f'<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">{history}</blockquote>'
        )
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{paragraphs}</body></html>\n'
