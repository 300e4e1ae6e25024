"""Fast multi-row INSERT and UPDATE for the capture hot path.

Django's ``bulk_create`` spends ~50 µs of Python per row building model
instances and preparing every value through the field stack; at thousands of
posts a second that, not the database, is the limit. These helpers take plain
tuples in model field order and send one multi-row statement per chunk:
psycopg2's ``execute_values`` on PostgreSQL, a multi-row ``VALUES`` on SQLite
(where values still go through the fields' own preparation, since SQLite
needs Django's text formats for dates).
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import orjson
from django.db import connection, models
from psycopg2.extras import Json, execute_values

SQLITE_MAX_VARIABLES = 32_000


def _columns(model: type[models.Model], fields: Sequence[str]) -> tuple[list[models.Field[Any, Any]], str]:
    concrete = [model._meta.get_field(name) for name in fields]
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in concrete)  # type: ignore[union-attr]
    return concrete, columns  # type: ignore[return-value]


def json_text(value: Any) -> str:
    """``value`` as JSON text that both databases' JSON columns take.

    JSON has no NaN or Infinity (SQLite's ``JSON_VALID`` check and PostgreSQL's jsonb refuse them, where Python's
    json writes them): they become null. orjson does so, and is ~15x faster than json; what it refuses goes through
    json, made storable the same way: integers beyond 64 bits (both databases keep any number) and lone surrogates
    (no UTF-8 can hold them: each becomes "?").
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = json.dumps(_finite(value), ensure_ascii=False, default=str, allow_nan=False)
        return text.encode("utf-8", "replace").decode()


def storable_json(value: Any) -> Any:
    """``value`` as both databases store it, for a JSON value written through the ORM rather than these helpers."""
    return json.loads(_without_nul_escapes(json_text(value)))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


# A \\u0000 escape not itself escaped (preceded by an even number of backslashes).
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _without_nul_escapes(text: str) -> str:
    """JSON text without its NUL characters: jsonb refuses the ``\\u0000`` escape, and text cannot hold NUL."""
    return _NUL_ESCAPE.sub(r"\1", text) if "\\u0000" in text else text


def _pg_value(value: Any) -> Any:
    return Json(value) if isinstance(value, dict | list) else value


def _as_text(row: Sequence[Any], json_columns: list[int], time_columns: list[int]) -> list[Any]:
    """JSON and aware datetimes as text: quoting a string is far cheaper for psycopg2 than adapting objects."""
    values = list(row)
    for i in json_columns:
        values[i] = _without_nul_escapes(json_text(values[i]))
    for i in time_columns:
        if values[i] is not None:
            values[i] = values[i].isoformat()
    return values


def insert_dicts(model: type[models.Model], rows: Sequence[dict[str, Any]], *, returning_ids: bool = True) -> list[int]:
    """INSERT ``rows`` (dicts by attribute name, e.g. ``contact_id``); missing fields take the field's default.

    Returns the new ids in the order given.
    """
    if not rows:
        return []
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    names = [f.attname for f in fields]
    defaults = {f.attname: f.get_default() for f in fields}
    tuples = [tuple(row.get(name, defaults[name]) for name in names) for row in rows]
    return insert_rows(model, [f.name for f in fields], tuples, returning_ids=returning_ids)


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning_ids: bool = True,
    skip_conflicts_on: Sequence[str] = (),
) -> list[Any]:
    """INSERT ``rows`` (tuples in ``fields`` order, foreign keys as ids) and return their ids in order.

    With ``skip_conflicts_on`` (the columns of a unique constraint), rows that
    would violate it are skipped (``ON CONFLICT DO NOTHING``) and the result is
    ``(id, *conflict columns)`` of the rows actually inserted, in no set order.
    """
    if not rows:
        return []
    table = connection.ops.quote_name(model._meta.db_table)
    concrete, columns = _columns(model, fields)
    returning = " RETURNING id" if returning_ids else ""
    if skip_conflicts_on:
        target = ", ".join(connection.ops.quote_name(c) for c in skip_conflicts_on)
        returning = f" ON CONFLICT ({target}) DO NOTHING RETURNING id, {target}"
    # Errors from the raw psycopg2 cursor are wrapped as Django's (IntegrityError,
    # OperationalError), so callers' race and deadlock handling sees them.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        if connection.vendor == "postgresql" and not skip_conflicts_on:
            return _copy(cursor.cursor, model, concrete, rows, returning_ids=returning_ids)
        if connection.vendor == "postgresql":
            # JSON goes as text cast to jsonb in the template: psycopg2 then
            # quotes a plain string instead of adapting a Json object per value.
            json_columns = [i for i, field in enumerate(concrete) if isinstance(field, models.JSONField)]
            time_columns = [i for i, field in enumerate(concrete) if isinstance(field, models.DateTimeField)]
            if json_columns or time_columns:
                rows = [_as_text(row, json_columns, time_columns) for row in rows]
            template = "(" + ", ".join("%s::jsonb" if i in json_columns else "%s" for i in range(len(concrete))) + ")"
            result = execute_values(
                cursor.cursor,
                f"INSERT INTO {table} ({columns}) VALUES %s{returning}",  # noqa: S608 - names, not values
                rows,
                template=template,
                page_size=1000,
                fetch=returning_ids or bool(skip_conflicts_on),
            )
            if skip_conflicts_on:
                return [tuple(row) for row in result]
            return [row[0] for row in result] if returning_ids else []
        ids: list[Any] = []
        # JSON as text written here, as on PostgreSQL: Django's would write NaN, which SQLite's JSON_VALID refuses.
        # Fields with an encoder of their own keep Django's preparation.
        plain_json = {
            index
            for index, field in enumerate(concrete)
            if isinstance(field, models.JSONField) and field.encoder is None
        }
        per_chunk = max(1, SQLITE_MAX_VARIABLES // len(fields))
        placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
        for start in range(0, len(rows), per_chunk):
            chunk = rows[start : start + per_chunk]
            params = [
                json_text(value)
                if index in plain_json and value is not None
                else field.get_db_prep_save(value, connection)
                for row in chunk
                for index, (field, value) in enumerate(zip(concrete, row, strict=True))
            ]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholder] * len(chunk))}{returning}",  # noqa: S608
                params,
            )
            if skip_conflicts_on:
                ids += [tuple(row) for row in cursor.fetchall()]
            elif returning_ids:
                ids += [row[0] for row in cursor.fetchall()]
        return ids


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": None})
_NULL = "\\N"


def _copy_text_value(value: Any) -> str:
    return _NULL if value is None else str(value).translate(_COPY_ESCAPES)


def _copy_json_value(value: Any) -> str:
    return _without_nul_escapes(json_text(value)).translate(_COPY_ESCAPES)


def _copy_bool_value(value: Any) -> str:
    return _NULL if value is None else ("t" if value else "f")


def _copy_time_value(value: Any) -> str:
    return _NULL if value is None else value.isoformat()


def _copy_number_value(value: Any) -> str:
    return _NULL if value is None else str(value)


def _converter(field: Any) -> Any:
    """How one column's values are written in COPY's text format."""
    if isinstance(field, models.JSONField):
        return _copy_json_value
    if isinstance(field, models.BooleanField):
        return _copy_bool_value
    if isinstance(field, models.DateTimeField):
        return _copy_time_value
    if isinstance(field, models.IntegerField | models.FloatField | models.ForeignKey):
        return _copy_number_value
    return _copy_text_value


def _copy(
    cursor: Any, model: type[models.Model], concrete: list[Any], rows: Sequence[Sequence[Any]], *, returning_ids: bool
) -> list[int]:
    """COPY rows in, with ids drawn from the table's sequence first when the caller needs them.

    COPY is PostgreSQL's fastest way in (about twice multi-row INSERT here) and
    costs no per-value adaptation in Python; drawing the ids up front is what
    lets it stand in for INSERT ... RETURNING.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    columns = [field.column for field in concrete]
    converters = [_converter(field) for field in concrete]
    ids: list[int] = []
    if returning_ids:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        columns = ["id", *columns]
    lines = []
    for index, row in enumerate(rows):
        values = [convert(value) for convert, value in zip(converters, row, strict=True)]
        if returning_ids:
            values.insert(0, str(ids[index]))
        lines.append("\t".join(values))
    buffer = io.StringIO("\n".join(lines) + "\n")
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    cursor.copy_expert(f"COPY {table} ({quoted}) FROM STDIN", buffer)
    return ids


def update_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """UPDATE many rows to per-row values in one statement; each row is ``(id, *values in fields order)``."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    concrete, _ = _columns(model, fields)
    names = ["id", *(f"v{i}" for i in range(len(fields)))]
    if connection.vendor == "postgresql":
        casts = [f"v.v{i}::{field.db_type(connection)}" for i, field in enumerate(concrete)]
    else:
        casts = [f"v.v{i}" for i in range(len(fields))]
    assignments = ", ".join(
        f"{connection.ops.quote_name(str(field.column))} = {cast}" for field, cast in zip(concrete, casts, strict=True)
    )
    # Errors from the raw psycopg2 cursor are wrapped as Django's (IntegrityError,
    # OperationalError), so callers' race and deadlock handling sees them.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        if connection.vendor == "postgresql":
            execute_values(
                cursor.cursor,
                f"UPDATE {table} SET {assignments} FROM (VALUES %s) AS v({', '.join(names)}) "  # noqa: S608
                f"WHERE {table}.id = v.id",
                [(row[0], *(_pg_value(v) for v in row[1:])) for row in rows],
                page_size=1000,
            )
            return
        per_chunk = max(1, SQLITE_MAX_VARIABLES // (len(fields) + 1))
        placeholder = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
        for start in range(0, len(rows), per_chunk):
            chunk = rows[start : start + per_chunk]
            params = []
            for row in chunk:
                params.append(row[0])
                params += [field.get_db_prep_save(v, connection) for field, v in zip(concrete, row[1:], strict=True)]
            # SQLite names VALUES columns column1, column2, ...
            sqlite_assignments = ", ".join(
                f"{connection.ops.quote_name(str(field.column))} = v.column{i + 2}" for i, field in enumerate(concrete)
            )
            cursor.execute(
                f"UPDATE {table} SET {sqlite_assignments} FROM (VALUES {', '.join([placeholder] * len(chunk))}) AS v "  # noqa: S608
                f"WHERE {table}.id = v.column1",
                params,
            )
