"""``python manage.py bench_table``: run every benchmark, each in its own process, and write one table.

The table (Markdown and JSON, with the machine and the date) goes to
``--out`` (default ``bench/``); with ``--docs`` it is also written as the
documentation's page, ``docs/benchmarks.md``, generated whole. ``make bench``
runs this against PostgreSQL. ``--quick`` gives each benchmark the small sizes
its module declares (``QUICK_ARGS``): a check that the whole run works, not a
measurement. ``--only`` runs some benchmarks and keeps the last measured figures of the others
(from ``--out``'s ``benchmarks.json``), each named with the date it is from, so the page stays whole.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.management.commands.bench import BENCHMARKS, machine
from bench.table import markdown, table


class Command(BaseCommand):
    help = "Run every benchmark and write the table of figures against targets (Markdown and JSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="Run only these benchmarks.")
        parser.add_argument("--out", default="bench", help="Folder for benchmarks.md and benchmarks.json.")
        parser.add_argument(
            "--docs",
            nargs="?",
            const="docs/benchmarks.md",
            default=None,
            help="Also write the table as the documentation's page (default docs/benchmarks.md).",
        )
        parser.add_argument("--quick", action="store_true", help="Small sizes: checks the run, measures nothing.")
        parser.add_argument("--timeout", type=int, default=1800, help="Seconds each benchmark may take.")

    def handle(
        self, *args: Any, only: list[str] | None, out: str, docs: str | None, quick: bool, **options: Any
    ) -> None:
        names = only or list(BENCHMARKS)
        modules = {name: import_module(BENCHMARKS[name]) for name in names}
        results, commands = {}, {}
        for name, module in modules.items():
            extra = list(getattr(module, "QUICK_ARGS", [])) if quick else []
            command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "bench", name, "--json", *extra]
            commands[name] = " ".join(["python manage.py bench", name, "--json", *extra])
            self.stderr.write(f"running {commands[name]}")
            results[name] = _run(command, options["timeout"])
        date = datetime.now(UTC).isoformat(timespec="seconds")
        folder = Path(out)
        earlier = _earlier_results(folder / "benchmarks.json", skip=set(names), quick=quick)
        for name, (result, kept_command, when) in earlier.items():
            modules[name] = import_module(BENCHMARKS[name])
            results[name], commands[name] = result, kept_command
            result.setdefault("date", when)
        rows = table(results, {name: module.TARGETS for name, module in modules.items()})
        text = markdown(
            rows,
            commands=commands,
            machine=machine(),
            date=date,
            earlier={name: when for name, (_, _, when) in earlier.items()},
        )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "benchmarks.md").write_text(text, encoding="utf-8")
        document = {
            "date": date,
            "machine": machine(),
            "quick": quick,
            "rows": [asdict(row) for row in rows],
            "results": results,
        }
        (folder / "benchmarks.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        if docs:
            Path(docs).write_text(_page(text), encoding="utf-8")
        self.stdout.write(text)
        if not all(row.met for row in rows):
            self.stderr.write("some targets were not met (see the table)")


def _earlier_results(path: Path, *, skip: set[str], quick: bool) -> dict[str, tuple[dict[str, Any], str, str]]:
    """The last figures of the benchmarks not run now, from a run of the same kind (measured, or quick): a partial
    run keeps the others' rows, and a quick check never mixes with measurements."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if bool(document.get("quick")) != quick:
        return {}
    kept = {}
    for name, result in (document.get("results") or {}).items():
        if name in skip or name not in BENCHMARKS or not isinstance(result, dict):
            continue
        when = str(result.get("date") or document.get("date") or "")
        command = [
            "python manage.py bench",
            name,
            "--json",
            *(getattr(import_module(BENCHMARKS[name]), "QUICK_ARGS", []) if quick else []),
        ]
        kept[name] = (result, " ".join(command), when)
    return kept


def _run(command: list[str], timeout: int) -> dict[str, Any]:
    try:
        # The command is this interpreter, manage.py and a registered benchmark's name: nothing from outside.
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise CommandError(f"{' '.join(command[2:])} took longer than {timeout} s") from None
    if done.returncode != 0:
        raise CommandError(f"{' '.join(command[2:])} failed:\n{done.stderr[-2000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise CommandError(f"{' '.join(command[2:])} printed no JSON:\n{done.stdout[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _page(markdown_table: str) -> str:
    """``docs/benchmarks.md``, generated whole: a title, where it comes from, then the table."""
    return (
        "# Benchmarks: the latest table\n\n"
        "This page is generated by `make bench` (`python manage.py bench_table --docs`); do not edit it by hand. "
        "How the benchmarks run and what their targets mean: [Benchmarks: how they run](benchmarking.md).\n\n"
        + markdown_table
    )
