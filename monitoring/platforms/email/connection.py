"""The admin's connection test of a mailbox: every problem that would stop it reading or sending mail."""

from __future__ import annotations

from monitoring.platforms.base import AccountRef
from monitoring.platforms.email.imap import check_connection
from monitoring.platforms.email.smtp import check_smtp


def test_connection(account: AccountRef, *, timeout: float = 10.0) -> list[str]:
    """Problems logging in to the mailbox's IMAP server, opening its folders, or logging in to its SMTP server."""
    return [*check_connection(account, timeout=timeout), *check_smtp(account, timeout=timeout)]
