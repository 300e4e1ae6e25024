"""Sending our replies over SMTP (the standard library's ``smtplib``), and the admin's test of the SMTP server.

A mailbox with an SMTP host sends through it: TLS from the start, STARTTLS or none, AUTH when it has a user. A
mailbox without one sends through the site's Django email backend (``EMAIL_BACKEND``, ``EMAIL_HOST``...): the
console in development, the organisation's relay in production.

What the server answers decides what the outbox does (RFC 5321 4.2.1): a 5xx reply is permanent (the reply is
marked failed with the server's words), a 4xx reply, a timeout or a dropped connection is temporary (retried
with back-off). After a successful send the message is filed in the mailbox's Sent folder over IMAP, where
``find_reply`` looks for it before a retry whose outcome is unknown: that is what makes a reply go out once.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Any

from django.core.mail import EmailMessage as DjangoEmailMessage
from django.core.mail import get_connection

from monitoring.platforms.base import AccountRef, PlatformError, ReplyRequest
from monitoring.platforms.email import imap
from monitoring.platforms.email.outgoing import build_reply, message_id_for, recipients
from monitoring.platforms.email.parsing import message_key

logger = logging.getLogger(__name__)


def send_reply(account: AccountRef, request: ReplyRequest, *, timeout: float) -> str:
    """Send the reply; its ``Message.external_id`` (our Message-ID as stored). Raises ``PlatformError``."""
    message = build_reply(account, request)
    assert request.email is not None  # build_reply refused it otherwise
    to = recipients(request.email)
    sender = str(account.settings["address"])
    if account.settings.get("smtp_host"):
        with _connected(account, timeout=timeout) as connection:
            refused = _send(connection, message, sender, to)
    else:
        refused = _send_with_django(message, sender, to, timeout=timeout)
    if refused:
        # Some recipients were refused, others took it: the reply went out, and must not be sent again.
        logger.warning("reply %s: the server refused %d of %d recipients", request.idempotency_key, refused, len(to))
    _file_in_sent_folder(account, message, timeout=timeout)
    return message_key(message_id_for(account.settings, request.idempotency_key))


def check_smtp(account: AccountRef, *, timeout: float = 10.0) -> list[str]:
    """What stops this mailbox sending: empty when the SMTP server greets, offers what is chosen and logs us in."""
    if not account.settings.get("smtp_host"):
        return []  # the site's email backend sends; it is configured in settings, not here
    try:
        with _connected(account, timeout=timeout) as connection:
            status, _ = connection.noop()
            if status != 250:
                return [f"SMTP: the server answered NOOP with {status}."]
    except PlatformError as error:
        return [f"SMTP: {error.message}"]
    return []


@contextlib.contextmanager
def _connected(account: AccountRef, *, timeout: float) -> Iterator[smtplib.SMTP]:
    settings = account.settings
    host, port, security = str(settings["smtp_host"]), int(str(settings["smtp_port"])), str(settings["smtp_security"])
    where = f"{host}:{port}"
    context = ssl.create_default_context()
    try:
        connection = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            if security == "ssl"
            else smtplib.SMTP(host, port, timeout=timeout)
        )
    except ssl.SSLCertVerificationError as error:
        raise PlatformError(
            f"The SMTP server {where}'s certificate does not verify: {error.verify_message}.",
            permanent=True,
            code="tls",
        ) from None
    except (OSError, smtplib.SMTPException) as error:
        raise PlatformError(f"Cannot reach the SMTP server {where}: {_reason(error)}", code="unreachable") from None
    try:
        connection.ehlo()
        if security == "starttls":
            if not connection.has_extn("starttls"):
                raise PlatformError(
                    f"The SMTP server {where} offers no STARTTLS: choose another security setting.",
                    permanent=True,
                    code="tls",
                )
            connection.starttls(context=context)
            connection.ehlo()
        user = str(settings.get("smtp_user") or "")
        if user:
            password = account.credentials.get("smtp_password", "")
            if not password:
                raise PlatformError(
                    "The mailbox has an SMTP user but no SMTP password.", permanent=True, code="no_credentials"
                )
            connection.login(user, password)
        yield connection
    except smtplib.SMTPAuthenticationError as error:
        raise PlatformError(
            f"The SMTP server {where} refused the login of {settings.get('smtp_user')}: {_reason(error)}",
            permanent=error.smtp_code >= 500,
            code="unauthorized",
        ) from None
    except smtplib.SMTPNotSupportedError as error:
        raise PlatformError(f"The SMTP server {where}: {_reason(error)}", permanent=True, code="unsupported") from None
    except ssl.SSLError as error:
        raise PlatformError(
            f"TLS with the SMTP server {where} failed: {_reason(error)}", permanent=True, code="tls"
        ) from None
    except (OSError, smtplib.SMTPServerDisconnected) as error:
        raise PlatformError(f"The SMTP connection to {where} broke: {_reason(error)}", code="unreachable") from None
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            connection.quit()


def _send(connection: smtplib.SMTP, message: EmailMessage, sender: str, to: list[str]) -> int:
    """Send; how many recipients were refused while others accepted. Raises ``PlatformError`` by the reply code."""
    try:
        refused = connection.send_message(message, from_addr=sender, to_addrs=to)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        reasons = "; ".join(f"{rcpt}: {code} {_decode(text)}" for rcpt, (code, text) in error.recipients.items())
        raise _by_code(min(codes, default=451), f"The mail server refused every recipient ({reasons}).") from None
    except smtplib.SMTPResponseException as error:
        raise _by_code(
            error.smtp_code, f"The mail server answered {error.smtp_code} {_decode(error.smtp_error)}"
        ) from None
    except (OSError, smtplib.SMTPServerDisconnected) as error:
        raise PlatformError(f"The SMTP connection broke while sending: {_reason(error)}", code="unreachable") from None
    return len(refused)


def _send_with_django(message: EmailMessage, sender: str, to: list[str], *, timeout: float) -> int:
    try:
        connection = get_connection(fail_silently=False, timeout=timeout)
        sent = connection.send_messages([_Prepared(message, sender, to)])
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise _by_code(min(codes, default=451), "The mail server refused every recipient.") from None
    except smtplib.SMTPResponseException as error:
        raise _by_code(
            error.smtp_code, f"The mail server answered {error.smtp_code} {_decode(error.smtp_error)}"
        ) from None
    except (OSError, smtplib.SMTPException) as error:
        raise PlatformError(f"The site's mail server cannot be reached: {_reason(error)}", code="unreachable") from None
    if not sent:
        raise PlatformError("The site's email backend did not send the reply.", code="unreachable")
    return 0


class _Prepared(DjangoEmailMessage):
    """Our finished message handed to a Django email backend, which sends ``message()`` as it is."""

    def __init__(self, built: EmailMessage, sender: str, to: list[str]) -> None:
        super().__init__(subject=str(built["Subject"]), from_email=sender, to=to)
        self._built = built

    def message(self, *, policy: Any = None) -> Any:  # Django 6 passes a policy
        return self._built


def _file_in_sent_folder(account: AccountRef, message: EmailMessage, *, timeout: float) -> None:
    folder = str(account.settings.get("sent_folder") or "")
    if not folder or not account.settings.get("imap_host"):
        return
    try:
        imap.append_message(account, folder, message.as_bytes(policy=SMTP_POLICY), timeout=timeout)
    except PlatformError as error:
        # The reply is sent: failing it now would send it twice. Only a crash before our database write could
        # still repeat it, and then find_reply will not see it: say so where an admin looks.
        logger.warning("a sent reply was not filed in %r: %s", folder, error.message)


def _by_code(code: int, text: str) -> PlatformError:
    return PlatformError(text[:1000], permanent=code >= 500, status=code, code="refused" if code >= 500 else "deferred")


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _reason(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_decode(error.smtp_error)}"[:500]
    return (" ".join(str(arg) for arg in error.args if arg) or type(error).__name__)[:500]
