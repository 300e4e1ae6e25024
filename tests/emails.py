"""Mail as clients write it, and the pipe command as a mail server runs it: for the email tests."""

from __future__ import annotations

import io
import sys
import uuid
from email.message import EmailMessage
from email.utils import format_datetime

from django.core.management import ManagementUtility, call_command
from django.utils import timezone

ADDRESS = "help@agency.example"
"""The address of the mailbox the tests deliver to (named "help")."""


def mail(
    sender: str = "Dana White <dana@example.org>",
    subject: str = "My benefit payment is late",
    body: str = "Hello, my payment has not arrived this month.",
    *,
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    to: str = ADDRESS,
    cc: str = "",
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    """An RFC 5322 message as a mail client writes it, and its Message-ID (without brackets)."""
    message_id = message_id or f"{uuid.uuid4().hex}@mail.example.org"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return bytes(message), message_id


def deliver(raw: bytes, mailbox: str = "help") -> str:
    out = io.StringIO()
    stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(raw))
    try:
        call_command("receive_email", mailbox, stdout=out)
    finally:
        sys.stdin = stdin
    return out.getvalue()


def call_command_in_process(raw: bytes, mailbox: str = "help") -> None:
    """The command as ``manage.py`` runs it: errors become the exit code (``call_command`` would raise them)."""
    stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(raw))
    try:
        ManagementUtility(["manage.py", "receive_email", mailbox]).execute()
    finally:
        sys.stdin = stdin
