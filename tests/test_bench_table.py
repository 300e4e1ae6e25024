"""``bench_table``: every benchmark's figures against its targets, in one Markdown and JSON table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bench import routing as routing_bench
from bench.management.commands import bench_table
from bench.management.commands.bench import BENCHMARKS
from bench.table import Target, markdown, table


def test_each_target_is_met_or_not_and_a_missing_figure_fails() -> None:
    targets = {"ingest": [Target("posts_per_second", ">=", 5000, "posts/s"), Target("duplicates_created", "==", 0)]}

    fast = table({"ingest": {"posts_per_second": 5525.5, "duplicates_created": 0}}, targets)
    slow = table({"ingest": {"posts_per_second": 4999, "duplicates_created": 1}}, targets)
    broken = table({"ingest": {}}, targets)

    assert [(row.figure, row.met) for row in fast] == [("posts_per_second", True), ("duplicates_created", True)]
    assert [row.met for row in slow] == [False, False]
    assert [row.met for row in broken] == [False, False]
    assert fast[0].target == ">= 5,000 posts/s"


def test_the_markdown_names_the_machine_the_date_and_every_command() -> None:
    rows = table({"routing": {"decision_ms_p99": 0.17}}, {"routing": [Target("decision_ms_p99", "<=", 10, "ms")]})

    text = markdown(
        rows,
        commands={"routing": "python manage.py bench routing --json"},
        machine={"cpus": 2, "python": "3.11.7", "database": "postgresql", "platform": "Linux"},
        date="2026-12-01T15:00:00+00:00",
    )

    assert "Measured 2026-12-01T15:00:00+00:00 on 2 CPUs, Python 3.11.7, postgresql" in text
    assert "| routing | `decision_ms_p99` | 0.17 | <= 10 ms | yes |" in text
    assert "`python manage.py bench routing --json`" in text


def test_every_registered_benchmark_declares_targets_and_quick_sizes() -> None:
    from importlib import import_module

    for name, module_name in BENCHMARKS.items():
        module = import_module(module_name)
        assert module.TARGETS, name
        assert isinstance(module.QUICK_ARGS, list), name


def test_a_quick_run_writes_the_table_as_markdown_and_json(tmp_path: Path, capsys: Any) -> None:
    call_command("bench_table", "--only", "routing", "--quick", "--out", str(tmp_path))

    document = json.loads((tmp_path / "benchmarks.json").read_text())
    assert document["quick"] is True
    assert {row["figure"] for row in document["rows"]} == {t.figure for t in routing_bench.TARGETS}
    assert document["results"]["routing"]["double_assignments"] == 0
    assert "| routing | `double_assignments` | 0 | == 0 | yes |" in (tmp_path / "benchmarks.md").read_text()


def test_the_readme_table_is_replaced_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n<!-- bench-table -->\nold table\n<!-- /bench-table -->\nafter\n")

    bench_table._update_readme(readme, "new table\n")

    assert readme.read_text() == "# Title\n<!-- bench-table -->\nnew table\n<!-- /bench-table -->\nafter\n"
    readme.write_text("no markers")
    with pytest.raises(CommandError, match="bench-table"):
        bench_table._update_readme(readme, "new table\n")
