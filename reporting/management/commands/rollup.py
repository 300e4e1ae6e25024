"""Sum the ledger into the hourly rollup the reports read; ``--rebuild`` sums every hour again."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from reporting.models import LedgerHour
from reporting.rollup import do_roll_up


class Command(BaseCommand):
    help = (
        "Roll the ended hours of the ledger up into the hourly figures the reports read (the roll-up-ledger "
        "task does this every 5 minutes). --rebuild sums every hour again, e.g. after an import."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="Sum every hour of the ledger again.")

    def handle(self, *args: Any, rebuild: bool, **options: Any) -> None:
        started = time.perf_counter()
        reach = do_roll_up(rebuild=rebuild)
        seconds = time.perf_counter() - started
        if reach is None:
            self.stdout.write("The ledger is empty: nothing to roll up.")
            return
        start, end = timezone.localtime(reach.rolled_from), timezone.localtime(reach.rolled_until)
        self.stdout.write(
            f"Rolled up {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({LedgerHour.objects.count():,} rows) "
            f"in {seconds:.1f} s."
        )
