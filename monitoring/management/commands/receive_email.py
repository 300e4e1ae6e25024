"""Deliver one message from a mail server's pipe transport: ``manage.py receive_email <mailbox> < message.eml``."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from monitoring.platforms.email.parsing import MalformedEmail, max_message_bytes
from monitoring.platforms.email.receive import UnknownMailbox, do_receive_email, find_mailbox

logger = logging.getLogger(__name__)

# The exit codes mail servers act on (sysexits.h): Postfix and Exim bounce the mail on the first two and keep
# it queued, to try again, on the last.
EX_DATAERR = 65
EX_NOUSER = 67
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = (
        "Store one email read from standard input (one RFC 5322 message) for a mailbox, as a mail server's pipe "
        "transport delivers it. Exit 0: stored, or stored before. 65: not a message we can read (the mail server "
        "bounces it). 67: no such mailbox. 75: the database is unreachable (the mail server tries again later)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("mailbox", help="The mailbox's address, name or id.")

    def handle(self, *args: Any, mailbox: str, **options: Any) -> None:
        limit = max_message_bytes()
        raw = sys.stdin.buffer.read(limit + 1)
        if len(raw) > limit:
            raise CommandError(f"The message is larger than the {limit:,}-byte limit.", returncode=EX_DATAERR)
        try:
            target = find_mailbox(mailbox)
            stats = do_receive_email(target, raw)
        except MalformedEmail as error:
            raise CommandError(f"Not an email message: {error}", returncode=EX_DATAERR) from None
        except UnknownMailbox as error:
            raise CommandError(str(error), returncode=EX_NOUSER) from None
        except DatabaseError as error:
            logger.warning("receive_email: database unavailable, the mail server will retry: %s", error)
            raise CommandError(
                f"The database is unavailable ({error}); try again later.", returncode=EX_TEMPFAIL
            ) from None
        if stats.duplicates:
            self.stdout.write(f"Already stored for {target}: nothing changed.")
        else:
            self.stdout.write(f"Stored for {target}.")
