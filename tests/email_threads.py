"""Email conversations for the console's tests: mail delivered through the pipe command, then given to an agent."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from core.actions import do_assign_conversation
from core.models import Conversation
from core.models import Message as StoredMessage
from monitoring.models import Mailbox, SocialAccount
from tests.emails import ADDRESS, deliver

CUSTOMER = "dana@example.org"


def letter(
    *,
    subject: str = "My benefit payment is late",
    body: str = "Hello, my payment has not arrived this month.",
    sender: str = f"Dana White <{CUSTOMER}>",
    cc: str = "",
    in_reply_to: str = "",
    headers: dict[str, str] | None = None,
    files: list[tuple[str, str, bytes, str]] = (),  # type: ignore[assignment]
) -> tuple[bytes, str]:
    """A mail as a client writes it, with ``files`` as ``(filename, content type, bytes, content id)``."""
    message_id = f"{uuid.uuid4().hex}@mail.example.org"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ADDRESS
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for filename, content_type, data, content_id in files:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        if content_id:
            part = list(message.iter_attachments())[-1]
            part["Content-ID"] = f"<{content_id}>"
            part.replace_header("Content-Disposition", f'inline; filename="{filename}"')
    return bytes(message), message_id


@pytest.fixture
def mailbox(db: None, queue: Any) -> Mailbox:
    account = SocialAccount.objects.create(platform="email", external_id=ADDRESS, handle=ADDRESS, name="help")
    return Mailbox.objects.create(account=account, address=ADDRESS, smtp_host="127.0.0.1")


@pytest.fixture
def email_conversation(mailbox: Mailbox, agent: Any) -> Callable[..., Conversation]:
    """Deliver a mail (``letter``'s arguments) and give its conversation to Ana."""

    def make(**mail: Any) -> Conversation:
        raw, message_id = letter(**mail)
        assert "Stored" in deliver(raw)
        conversation = StoredMessage.objects.get(platform="email", external_id=message_id).conversation
        assert conversation is not None
        do_assign_conversation(conversation, agent)
        conversation.refresh_from_db()
        return conversation

    return make


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client
