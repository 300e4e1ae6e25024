"""Database aggregates the KPI queries need beyond Django's own: a continuous percentile.

PostgreSQL has ``percentile_cont`` as an ordered-set aggregate. SQLite has
none, so :func:`register_sqlite_functions` (connected to ``connection_created``
in ``ReportingConfig.ready``) adds one, written in Python, to every SQLite
connection. Both interpolate linearly between the two closest ranks exactly as
PostgreSQL does, in the same floating-point steps, so a report gives the same
figures on both engines.
"""

from __future__ import annotations

import math
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Aggregate, FloatField
from django.db.models.sql.compiler import SQLCompiler

SQLITE_FUNCTION = "percentile_cont"


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of ``values``, interpolated linearly as PostgreSQL's ``percentile_cont``.

    With ``n`` values sorted, the position is ``fraction * (n - 1)``; the result
    is the value at its floor plus ``(position - floor)`` of the step to the next
    value. ``None`` for no values. (PostgreSQL: ``orderedsetaggs.c``, ``float8_lerp``.)
    """
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower, upper = math.floor(position), math.ceil(position)
    low = ordered[lower]
    if lower == upper:
        return low
    return low + (position - lower) * (ordered[upper] - low)


class PercentileCont(Aggregate):
    """``PERCENTILE_CONT(fraction) WITHIN GROUP (ORDER BY expression)``; NULLs are ignored, no rows give NULL."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False
    arity = 1

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"A percentile fraction lies between 0 and 1, not {fraction}.")
        # Formatted into the SQL rather than passed as a parameter: it is a checked
        # float, and a literal lets PostgreSQL see the same aggregate in every clause.
        super().__init__(expression, fraction=repr(fraction), output_field=FloatField(), **extra)

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> Any:
        # On a copy rather than through extra_context: with a FILTER clause,
        # Aggregate.as_sql passes its own ``template`` and would receive two.
        sqlite = self.copy()
        sqlite.function = SQLITE_FUNCTION
        sqlite.template = "%(function)s(%(expressions)s, %(fraction)s)"
        return sqlite.as_sql(compiler, connection, **extra_context)


class _SqlitePercentileCont:
    """The SQLite side of :class:`PercentileCont`: ``percentile_cont(value, fraction)``."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value: float | None, fraction: float) -> None:
        if value is not None:
            self.values.append(float(value))
            self.fraction = float(fraction)

    def finalize(self) -> float | None:
        return percentile_cont(self.values, self.fraction)


def register_sqlite_functions(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: add ``percentile_cont`` to each new SQLite connection."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(SQLITE_FUNCTION, 2, _SqlitePercentileCont)
