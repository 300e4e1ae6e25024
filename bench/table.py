"""The benchmark table: every ``bench`` run's figures against its targets, as Markdown and JSON.

Each benchmark module (registered in ``bench.BENCHMARKS``) declares its
``TARGETS``: the figures that matter and the bound each must meet. This module
runs nothing itself; :func:`table` turns the results of the runs into rows and
:func:`markdown` renders them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Target:
    """``figure`` (a key of the benchmark's result) must be ``op`` ``bound``."""

    figure: str
    op: str
    bound: float
    unit: str = ""

    def __post_init__(self) -> None:
        if self.op not in _OPERATORS:
            raise ValueError(f"unknown operator {self.op!r}")

    def met_by(self, value: Any) -> bool:
        return isinstance(value, int | float) and _OPERATORS[self.op](value, self.bound)


@dataclass(frozen=True)
class Row:
    benchmark: str
    figure: str
    value: Any
    target: str
    met: bool


def table(results: dict[str, dict[str, Any]], targets: dict[str, Iterable[Target]]) -> list[Row]:
    """One row per target of every benchmark that ran; a figure missing from a result fails its target."""
    rows = []
    for name, result in results.items():
        for target in targets[name]:
            value = result.get(target.figure)
            rows.append(
                Row(
                    benchmark=name,
                    figure=target.figure,
                    value=value,
                    target=f"{target.op} {_number(target.bound)} {target.unit}".strip(),
                    met=target.met_by(value),
                )
            )
    return rows


def markdown(
    rows: list[Row],
    *,
    commands: dict[str, str],
    machine: dict[str, Any],
    date: str,
    earlier: dict[str, str] | None = None,
) -> str:
    """The table; ``earlier`` names the benchmarks not run this time, with the date their figures are from."""
    earlier = earlier or {}
    lines = [
        f"Measured {date} on {machine.get('cpus')} CPUs, Python {machine.get('python')}, "
        f"{machine.get('database')} ({machine.get('platform')}).",
    ]
    if earlier:
        lines.append(
            "Kept from earlier runs (not run this time): "
            + "; ".join(f"{name} ({when})" for name, when in earlier.items())
            + "."
        )
    lines += [
        "",
        "| benchmark | figure | result | target | met |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        value = "—" if row.value is None else _number(row.value)
        lines.append(
            f"| {row.benchmark} | `{row.figure}` | {value} | {row.target} | {'yes' if row.met else '**no**'} |"
        )
    lines += ["", "Each benchmark alone: " + "; ".join(f"`{command}`" for command in commands.values()) + "."]
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
