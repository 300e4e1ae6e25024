"""The admin's connection test of a mailbox: every problem that would stop it reading or sending mail."""

from __future__ import annotations

from monitoring.platforms.base import AccountRef
from monitoring.platforms.email.imap import check_connection


def test_connection(account: AccountRef, *, timeout: float = 10.0) -> list[str]:
    """Problems found logging in to the mailbox's IMAP server and opening its folders; empty when all is well."""
    return check_connection(account, timeout=timeout)
