"""Fixtures of the console's tests: email conversations delivered through the pipe command."""

from tests.email_threads import email_conversation, mailbox

__all__ = ["email_conversation", "mailbox"]
