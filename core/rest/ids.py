"""Ids in API input, bounded to what every database compares: signed 64-bit integers.

PostgreSQL compares an id of any size with a ``bigint`` column; SQLite refuses a Python integer beyond 64 bits in a
query (``OverflowError``), and Django guards only some lookups against it. So ids are bounded where they enter: in
paths by the ``id`` converter (``<id:conversation_id>``; a larger number matches no route, a 404), in query strings and
bodies by ``IdField`` (a 400 naming the field).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

ID_MIN = -(2**63)
ID_MAX = 2**63 - 1
"""The range of a signed 64-bit integer: every id column's, on every database."""


class IdConverter:
    """A path converter like ``int``, matching only the numbers an id column can hold."""

    # 19 digits hold ID_MAX; a longer number is no id, and is not even turned into an int.
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > ID_MAX:
            raise ValueError(f"{value} is beyond a 64-bit id")  # Django reads ValueError as "no match"
        return number

    def to_url(self, value: Any) -> str:
        return str(value)


class IdField(serializers.IntegerField):
    """An id in a query string or a body: an integer within the signed 64-bit range, else a 400 naming the field."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", ID_MIN)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)
