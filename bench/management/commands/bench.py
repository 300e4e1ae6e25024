"""``python manage.py bench NAME [--json]``: run one benchmark against a scratch database.

Each benchmark is a module of this dev-only package (``bench/ingest.py``,
...) with a function that takes the parsed options and returns a dict of
figures. The command creates a fresh database on the configured server (a
test database, as the test runner does), runs the benchmark there, drops it,
and prints the figures with the machine and the date.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test.utils import setup_databases, teardown_databases

from bench.email import add_arguments as email_arguments
from bench.load import add_arguments as load_arguments

BENCHMARKS: dict[str, str] = {
    "inbox": "bench.inbox",
    "ingest": "bench.ingest",
    "reports": "bench.reports",
    "load": "bench.load",
    "routing": "bench.routing",
    "email": "bench.email",
}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": connection.vendor,
    }


class Command(BaseCommand):
    help = "Run a benchmark (" + ", ".join(BENCHMARKS) + ") on a scratch database and print its figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", choices=sorted(BENCHMARKS))
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument("--posts", type=int, default=100_000, help="ingest: posts to push through the pipeline.")
        parser.add_argument("--batch", type=int, default=500, help="ingest: posts per batch.")
        parser.add_argument("--history", type=int, default=20_000, help="ingest: posts stored (untimed) first.")
        parser.add_argument("--workers", type=int, default=2, help="ingest, routing: processes working at once.")
        parser.add_argument("--agents", type=int, default=500, help="routing: available agents.")
        parser.add_argument("--skills", type=int, default=50, help="routing: skills.")
        parser.add_argument("--items", type=int, default=20_000, help="routing: queued items.")
        parser.add_argument("--inbox-agents", type=int, default=100, help="inbox: agents whose inbox is rendered.")
        parser.add_argument("--per-agent", type=int, default=50, help="inbox: open conversations per agent.")
        parser.add_argument("--sample", type=int, default=200, help="inbox: conversation pages rendered.")
        parser.add_argument(
            "--conversations",
            type=int,
            default=None,
            help="reports: conversations in the history (default 1,000,000 on PostgreSQL, 20,000 on SQLite).",
        )
        parser.add_argument("--days", type=int, default=90, help="reports: days of history.")
        parser.add_argument("--window-days", type=int, default=30, help="reports: days each report covers.")
        parser.add_argument("--repeat", type=int, default=5, help="reports: timed runs of each query (median).")
        parser.add_argument("--seed", type=int, default=6, help="reports: random seed of the generated history.")
        load_arguments(parser)
        email_arguments(parser)
        parser.add_argument("--keep-db", action="store_true", help="Keep the scratch database afterwards.")

    def handle(self, *args: Any, name: str, json: bool, keep_db: bool, **options: Any) -> None:
        run: Callable[[dict[str, Any]], dict[str, Any]] = import_module(BENCHMARKS[name]).run
        # Its own scratch database, so a benchmark never collides with a test run.
        database: dict[str, Any] = settings.DATABASES["default"]
        if str(database["ENGINE"]).endswith("postgresql"):
            database.setdefault("TEST", {})["NAME"] = f"bench_{database['NAME']}_{name}"
        # serialized_aliases=(): the test runner would otherwise read a kept database's
        # every row into memory (for TransactionTestCase), minutes for a large one.
        old_config = setup_databases(verbosity=0, interactive=False, keepdb=keep_db, serialized_aliases=())
        try:
            figures = run(options)
        except ValueError as error:
            raise CommandError(str(error)) from None
        finally:
            teardown_databases(old_config, verbosity=0, keepdb=keep_db)
        result = {"benchmark": name, **figures, "machine": machine(), "date": datetime.now(UTC).isoformat()}
        if json:
            self.stdout.write(_json(result))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key:>22}: {value}")
        sys.stdout.flush()


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=False)
