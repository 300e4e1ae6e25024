"""``python manage.py bench_email_worker ACCOUNT_ID``: poll one mailbox until nothing new is left (``bench email``).

A worker as Celery runs them, reduced to the poll itself: ``do_poll_account`` again and again. ``bench email``
starts it, kills it part-way, and starts another.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.models import SocialAccount
from monitoring.polling import do_poll_account


class Command(BaseCommand):
    help = "Poll one mailbox until a poll finds nothing new (the worker of bench email)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("account_id", type=int)

    def handle(self, *args: Any, account_id: int, **options: Any) -> None:
        while True:
            stats = do_poll_account(account_id)
            if stats is None:
                account = SocialAccount.objects.filter(pk=account_id).first()
                raise CommandError(f"the poll failed: {account.last_error if account else 'no such account'}")
            self.stdout.write(json.dumps({"received": stats.received, "stored": stats.stored}))
            if stats.received == 0:
                return
