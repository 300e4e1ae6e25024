"""Shape checks for JSON from outside: webhook deliveries and API answers, from every platform.

Every read of an outside payload goes through these, so a wrong shape is a ``MalformedPayload`` naming the path of
the offending value (``entry[0].changes[1].value.from.id``), never a KeyError, TypeError or AttributeError. The
messages reach the platform in a 400 answer: they describe a value by its type, never echo it (it may be huge or
hostile), except where noted.

No Django here: webhook parsing must work without the app registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TypeGuard

from monitoring.platforms.base import MalformedPayload


def describe(value: object) -> str:
    """A value's type for an error message; never the value itself, which may be huge or hostile."""
    return "null" if value is None else type(value).__name__


# --- containers and strings ------------------------------------------------------------------------------------


def require_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where} must be an object, got {describe(value)}.")
    return value


def require_list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedPayload(f"{where} must be a list, got {describe(value)}.")
    return value


def optional_list(value: object, where: str) -> list[Any]:
    """A list, or ``[]`` for null (a key left out)."""
    return [] if value is None else require_list(value, where)


def each_object(items: list[Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The items of a list that must hold objects, each with its path (``where[0]``), checked as they are reached."""
    for index, item in enumerate(items):
        path = f"{where}[{index}]"
        yield path, require_object(item, path)


def require_string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedPayload(f"{where} must be a string, got {describe(value)}.")
    return value


def optional_string(value: object, where: str) -> str:
    """A string, or ``""`` for null (a key left out)."""
    return "" if value is None else require_string(value, where)


# --- scalars ---------------------------------------------------------------------------------------------------


def is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass, and JSON's true is not a number.
    return isinstance(value, int) and not isinstance(value, bool)


def int_or_none(value: object) -> int | None:
    """An integer, or a string of ASCII digits as one; None for anything else (a lenient read, never raises)."""
    if is_int(value):
        return value
    # isdigit() alone passes "²", which int() refuses, and other scripts' digits.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def require_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedPayload(f"{where} must be true or false.")
    return value


def non_negative_int(value: object, where: str) -> int:
    if not is_int(value) or value < 0:
        raise MalformedPayload(f"{where} must be a non-negative integer.")
    return value


def max_known(first: int | None, second: int | None) -> int | None:
    """The larger of two ids or times, either of which may be unknown."""
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


# --- ids -------------------------------------------------------------------------------------------------------


def numeric_id(value: object, where: str) -> str:
    """An id sent as a string of ASCII digits (X: its ids overflow JavaScript numbers).

    A number here means the payload did not come from the platform (or lost precision on the way). The message
    shows the start of the value, which helps to tell the two apart.
    """
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise MalformedPayload(f"{where} must be a numeric id string, not {value!r:.40}.")
    return value


def bounded_id(value: object, where: str, *, max_length: int) -> str:
    """An opaque id (Graph's are digits and underscores, Messenger's ``m_...``): non-empty, unpadded, bounded."""
    if not isinstance(value, str) or not value or len(value) > max_length or value.strip() != value:
        raise MalformedPayload(f"{where} must be an id (a non-empty string of up to {max_length} characters).")
    return value


# --- times -----------------------------------------------------------------------------------------------------


def unix_time(value: object, where: str, *, per_second: int, digit_strings: bool = False) -> datetime:
    """A non-negative Unix time, in seconds (``per_second=1``) or milliseconds (``1000``), as a UTC datetime.

    With ``digit_strings`` a string of ASCII digits counts too (X sends ``timestamp_ms`` as one).
    """
    if digit_strings and isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    elif is_int(value):
        number = value
    else:
        unit = "seconds" if per_second == 1 else "milliseconds"
        kind = "an integer or a string of digits" if digit_strings else "an integer"
        raise MalformedPayload(f"{where} must be a Unix time in {unit} ({kind}), got {describe(value)}.")
    implausible = MalformedPayload(f"{where} is not a plausible time.")
    if number < 0:
        raise implausible
    try:
        return datetime.fromtimestamp(number / per_second, UTC)
    except (OverflowError, OSError, ValueError):
        raise implausible from None


def formatted_time(value: object, where: str, *, format: str, example: str) -> datetime:
    """A time string in ``format`` (``strptime``, with a ``%z`` offset), as UTC; ``example`` shows it in errors.

    ``strptime``'s ``%a`` and ``%b`` follow the process locale: give it only numbers.
    """
    text = require_string(value, where)
    try:
        return datetime.strptime(text, format).astimezone(UTC)
    except ValueError:
        raise MalformedPayload(f"{where} is not a time like {example}.") from None
