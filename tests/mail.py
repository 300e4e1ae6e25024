"""Real mail servers for the email tests: Dovecot (IMAP) and aiosmtpd (SMTP), each on a free loopback port.

- ``mail_server``: one Dovecot for the whole test session (``bench.mailserver.MailServer``; starting it costs a
  quarter of a second, but once is enough); ``mailbox_user`` gives each test its own user, so its INBOX starts
  empty and no test sees another's mail. ``MailServer.append`` / ``append_many`` APPEND .eml bytes to a folder,
  ``renumber`` gives a folder a new UIDVALIDITY with its messages numbered from 1 again.
- ``smtp_server``: an aiosmtpd ``Controller`` per test, recording every message it receives (envelope and bytes).

Use them from a test module with ``from tests.mail import mail_server, mailbox_user, smtp_server  # noqa: F401``.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from bench.mailserver import MailServer, MailUser, free_port

__all__ = ["MailServer", "MailUser", "ReceivedMail", "SMTPServer", "mail_server", "mailbox_user", "smtp_server"]


@pytest.fixture(scope="session")
def mail_server() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


@pytest.fixture
def mailbox_user(mail_server: MailServer) -> MailUser:
    return mail_server.add_user()


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SMTPServer:
    """Where the server listens, what it received, and what to answer next (``reply_with``, e.g. ``"451 ..."``)."""

    host: str
    port: int
    received: list[ReceivedMail] = field(default_factory=list)
    reply_with: list[str] = field(default_factory=list)
    """Answers to the next DATA commands, in turn, instead of accepting: for 4xx / 5xx tests."""
    password: str = "smtp-secret"
    """AUTH (PLAIN / LOGIN, offered without TLS) accepts any user with this password."""
    logins: list[str] = field(default_factory=list)


class _Recorder:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.server.reply_with:
            return self.server.reply_with.pop(0)
        content = envelope.original_content or b""
        self.server.received.append(
            ReceivedMail(str(envelope.mail_from), tuple(str(rcpt) for rcpt in envelope.rcpt_tos), bytes(content))
        )
        return "250 Message accepted for delivery"


def _authenticator(server: SMTPServer) -> Any:
    def authenticate(smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        login = getattr(data, "login", b"") or b""
        password = getattr(data, "password", b"") or b""
        if password.decode() == server.password:
            server.logins.append(login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return authenticate


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer(host="127.0.0.1", port=free_port())
    controller: Any = Controller(
        _Recorder(server),
        hostname=server.host,
        port=server.port,
        authenticator=_authenticator(server),
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
