"""Shape checks for JSON from outside: webhook deliveries and API answers, from every platform.

Every read of an outside payload goes through these, so a wrong shape is a ``MalformedPayload`` naming the path of
the offending value (``entry[0].changes[1].value.from.id``), never a KeyError, TypeError or AttributeError. The
messages reach the platform in a 400 answer: they describe a value by its type, never echo it (it may be huge or
hostile), except where noted.

The bounds every platform shares are here, once: a body is strict JSON (``json_document``: no ``NaN`` or
``Infinity``, which no platform sends and no database's JSON column takes); an id fits the id columns
(``MAX_ID_LENGTH``), and X's are the digits of a 64-bit number; a count fits a count column (``COUNT_MAX``); a time
lies between ``EARLIEST`` and a day from now; attachments are a list of attachment objects (``attachment_list``).

No Django here: webhook parsing must work without the app registry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from monitoring.platforms.base import MalformedPayload

MAX_ID_LENGTH = 128
"""The length of the columns external ids are stored in (messages, identities, replies' targets)."""
MAX_NUMERIC_ID = 2**64 - 1
"""X's ids are unsigned 64-bit numbers (20 digits at most)."""
COUNT_MAX = 2_147_483_647
"""The largest count a count column (a ``PositiveIntegerField``) holds on every database; larger ones are clamped."""
EARLIEST = datetime(2004, 1, 1, tzinfo=UTC)
"""No platform Switchboard reads existed before 2004: an earlier time is a unit mix-up or garbage."""
FUTURE_TOLERANCE = timedelta(days=1)
"""How far ahead of our clock a platform's time may be (clock skew, time zones got wrong); beyond it, garbage."""


# --- the body --------------------------------------------------------------------------------------------------


def json_document(body: bytes) -> object:
    """A webhook body as JSON: UTF-8 and strict RFC 8259, or ``MalformedPayload``.

    Python's json reads ``NaN``, ``Infinity`` and ``-Infinity``, and turns ``1e999`` into infinity; none of them
    is JSON, no platform sends them, and neither database's JSON column stores them (SQLite's ``JSON_VALID`` check
    and PostgreSQL's jsonb refuse them). Numbers beyond 4,300 digits, and nesting deeper than the parser's stack,
    are refused as well.
    """
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise MalformedPayload("Body is not valid UTF-8 JSON.") from None
    except MalformedPayload:
        raise
    except (ValueError, RecursionError):
        # JSONDecodeError is a ValueError; so is int()'s refusal of a number of over 4,300 digits.
        raise MalformedPayload("Body is not valid UTF-8 JSON.") from None


def _no_constant(name: str) -> object:
    raise MalformedPayload(f"Body is not valid JSON: {name} is not a JSON number.")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise MalformedPayload("Body is not valid JSON: a number is too large for a float.")
    return number


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
        try:
            return int(value)
        except ValueError:  # over 4,300 digits
            return None
    return None


def require_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedPayload(f"{where} must be true or false.")
    return value


def count(value: object, where: str) -> int:
    """A count (followers, likes): a non-negative integer, clamped to ``COUNT_MAX``.

    A count beyond what a count column holds is no reason to lose the post it came with, and no database takes it.
    """
    if not is_int(value) or value < 0:
        raise MalformedPayload(f"{where} must be a non-negative integer.")
    return min(value, COUNT_MAX)


def max_known(first: int | None, second: int | None) -> int | None:
    """The larger of two ids or times, either of which may be unknown."""
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


# --- ids -------------------------------------------------------------------------------------------------------


def bounded_id(value: object, where: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    """An opaque id (Graph's are digits and underscores, Messenger's ``m_...``): non-empty, unpadded, bounded.

    Every platform's ids are held to ``MAX_ID_LENGTH``: a longer one would fail the insert on PostgreSQL, and SQLite,
    which enforces no length, would store it.
    """
    if not isinstance(value, str) or not value or len(value) > max_length or value.strip() != value:
        raise MalformedPayload(f"{where} must be an id (a non-empty string of up to {max_length} characters).")
    return value


def numeric_id(value: object, where: str) -> str:
    """An id sent as a string of ASCII digits (X: its ids overflow JavaScript numbers), of a 64-bit number.

    A number here means the payload did not come from the platform (or lost precision on the way). The message
    shows the start of the value, which helps to tell the two apart.
    """
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise MalformedPayload(f"{where} must be a numeric id string, not {value!r:.40}.")
    # The length first: int() of a huge string is slow, and refused past 4,300 digits. Twenty digits lie well
    # within MAX_ID_LENGTH, the bound of every platform's ids.
    if len(value) > _NUMERIC_ID_DIGITS or int(value) > MAX_NUMERIC_ID:
        raise MalformedPayload(f"{where} must be a numeric id of a 64-bit number, not {value!r:.40}.")
    return value


_NUMERIC_ID_DIGITS = len(str(MAX_NUMERIC_ID))


# --- times -----------------------------------------------------------------------------------------------------


def unix_time(value: object, where: str, *, per_second: int, digit_strings: bool = False) -> datetime:
    """A non-negative Unix time, in seconds (``per_second=1``) or milliseconds (``1000``), as a UTC datetime.

    With ``digit_strings`` a string of ASCII digits counts too (X sends ``timestamp_ms`` as one).
    """
    if digit_strings and isinstance(value, str) and value.isascii() and value.isdigit():
        # Twenty digits of milliseconds reach far past any plausible time; int() refuses over 4,300.
        number = int(value) if len(value) <= 20 else -1
    elif is_int(value):
        number = value
    else:
        unit = "seconds" if per_second == 1 else "milliseconds"
        kind = "an integer or a string of digits" if digit_strings else "an integer"
        raise MalformedPayload(f"{where} must be a Unix time in {unit} ({kind}), got {describe(value)}.")
    hint = " (seconds where milliseconds belong?)" if per_second == 1 else " (milliseconds where seconds belong?)"
    implausible = MalformedPayload(f"{where} is not a plausible time{hint}.")
    if number < 0:
        raise implausible
    try:
        moment = datetime.fromtimestamp(number / per_second, UTC)
    except (OverflowError, OSError, ValueError):
        raise implausible from None
    if not is_plausible_time(moment):
        raise implausible
    return moment


def formatted_time(value: object, where: str, *, format: str, example: str) -> datetime:
    """A time string in ``format`` (``strptime``, with a ``%z`` offset), as UTC; ``example`` shows it in errors.

    ``strptime``'s ``%a`` and ``%b`` follow the process locale: give it only numbers.
    """
    text = require_string(value, where)
    try:
        moment = datetime.strptime(text, format).astimezone(UTC)
    except ValueError:
        raise MalformedPayload(f"{where} is not a time like {example}.") from None
    except OverflowError:
        # Year 1 at +23:59 lies before the first moment a datetime holds, once in UTC.
        raise MalformedPayload(f"{where} is not a plausible time.") from None
    if not is_plausible_time(moment):
        raise MalformedPayload(f"{where} is not a plausible time.")
    return moment


def is_plausible_time(moment: datetime) -> bool:
    """Whether an aware ``moment`` lies between ``EARLIEST`` and ``FUTURE_TOLERANCE`` from now.

    A post dated in year 1 would breach its SLA the moment it is stored, one dated next year never would.
    """
    return EARLIEST <= moment <= datetime.now(UTC) + FUTURE_TOLERANCE


# --- attachments -----------------------------------------------------------------------------------------------


def attachment_list(value: object, where: str) -> list[dict[str, Any]]:
    """Attachments as Messenger sends them (the shape the console shows): ``[]`` for null, else a list of objects
    with an optional string ``type`` and an optional ``payload`` object whose ``url``, if any, is a string.

    Raises ``MalformedPayload`` naming the offending item.
    """
    items = optional_list(value, where)
    for item_where, item in each_object(items, where):
        optional_string(item.get("type"), f"{item_where}.type")
        optional_string(item.get("url"), f"{item_where}.url")
        payload = item.get("payload")
        if payload is not None:
            optional_string(require_object(payload, f"{item_where}.payload").get("url"), f"{item_where}.payload.url")
    return items


def without_malformed_attachments(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """``raw`` without its ``attachments`` key when that is not an ``attachment_list``: for the platforms whose
    objects carry no such key (X's v1.1 objects keep media in ``entities``), so a stray one costs nothing but itself.
    """
    if "attachments" not in raw:
        return raw
    try:
        attachment_list(raw["attachments"], f"{where}.attachments")
    except MalformedPayload:
        return {key: value for key, value in raw.items() if key != "attachments"}
    return raw
