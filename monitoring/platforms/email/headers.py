"""Header values read from the raw header block and decoded defensively.

``email.policy.default`` parses a header when it is first read, and that parser has known crashes and
slow paths on hostile input (an address list of 10,000 entries takes seconds). So the message's headers
are read raw (``raw_items()``), and each value goes through the one decoder it needs here, every call
guarded: a header that cannot be decoded is read as its raw text, never an exception.
"""

from __future__ import annotations

import binascii
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email import errors as email_errors
from email import policy
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from monitoring.platforms.email.charsets import decode_bytes, remove_unsafe, unescape_raw_bytes

STDLIB_PARSER_ERRORS: tuple[type[BaseException], ...] = (
    email_errors.MessageError,
    ValueError,  # includes UnicodeError
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    LookupError,
    AssertionError,
    OverflowError,
    RecursionError,
)
"""What the standard library's email code has been seen to raise on malformed input instead of a defect."""

MAX_ID_LENGTH = 998
"""RFC 5322's line limit: a longer "message id" cannot have come from a conforming header, and is dropped."""

EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)
DATE_FUTURE_SLACK = timedelta(days=1)

_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_LINE_BREAKS_AND_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]+")
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_SPACES = re.compile(r"\s+")
_BRACKETED_ID = re.compile(r"<([^<>\s]+)>")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([bBqQ])\?([^?\s]*)\?=")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def raw_header(msg: Message, name: str) -> str | None:
    """The first ``name`` header's value, unfolded, 8-bit bytes decoded; None when the message has none."""
    values = raw_headers(msg, name)
    return values[0] if values else None


def raw_headers(msg: Message, name: str) -> list[str]:
    """Every ``name`` header's value, unfolded, in order (raw: encoded-words are left as they are)."""
    wanted = name.lower()
    values: list[str] = []
    for key, value in msg.raw_items():
        if isinstance(key, str) and key.lower() == wanted:
            text = value if isinstance(value, str) else str(value)
            values.append(unescape_raw_bytes(_FOLD.sub("", text)))
    return values


def single_line(text: str, max_length: int | None = None) -> str:
    """``text`` on one line: control characters (CR, LF, NUL, TAB...) and line separators become spaces,
    runs of white space collapse, the ends are stripped, and the result is cut to ``max_length``.

    This is what keeps a header injection attempt (CR/LF in a subject or a name, or an encoded-word that
    decodes to one) a single harmless line.
    """
    text = _SPACES.sub(" ", _LINE_BREAKS_AND_CONTROLS.sub(" ", remove_unsafe(text))).strip()
    return text[:max_length].rstrip() if max_length is not None else text


def display_text(text: str, max_length: int | None = None) -> str:
    """Like :func:`single_line`, and also without the bidirectional controls that make a name read backwards."""
    return single_line(_BIDI_CONTROLS.sub("", text), max_length)


def decode_words(value: str) -> str:
    """An unstructured header value (a subject, a name) with its RFC 2047 encoded-words decoded.

    Decoded here rather than by the header registry, so an encoded-word's bytes go through the charset
    fallbacks of ``charsets`` (an unknown or wrong charset still reads as text) instead of becoming U+FFFD.
    Adjacent encoded-words in one charset are joined before decoding (clients split a UTF-8 character
    across two words), and the white space between encoded-words is dropped, as RFC 2047 says.
    """
    if "=?" not in value:
        return value
    pieces: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    position = 0

    def flush() -> None:
        if pending:
            pieces.append(decode_bytes(b"".join(pending), pending_charset))
            pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if between and (not pending or between.strip()):
            flush()
            pieces.append(between)
        charset = match.group(1).split("*", 1)[0]
        if pending and charset.lower() != pending_charset.lower():
            flush()
        pending_charset = charset
        pending.append(_word_bytes(match.group(2), match.group(3)))
        position = match.end()
    flush()
    pieces.append(value[position:])
    return "".join(pieces)


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        compact = re.sub(r"[^A-Za-z0-9+/]", "", text)  # padding is restored below; clients forget it
        if len(compact) % 4 == 1:
            compact = compact[:-1]
        return binascii.a2b_base64(compact + "=" * (-len(compact) % 4))
    data = text.replace("_", " ").encode("ascii", "replace")
    return _QP_ESCAPE.sub(lambda escape: bytes([int(escape.group(1), 16)]), data)


def message_ids(value: str | None) -> list[str]:
    """The ids in a Message-ID, In-Reply-To or References value, in order, without ``<>``.

    Ids are the ``<...>`` tokens; a value with none (some clients forget the brackets) is read as
    whitespace-separated ids. Ids longer than a header line can be are dropped.
    """
    if not value:
        return []
    text = single_line(value)
    found = _BRACKETED_ID.findall(text)
    if not found and "<" not in text and ">" not in text:
        found = text.split()
    return [mid for mid in found if 0 < len(mid) <= MAX_ID_LENGTH]


def first_message_id(value: str | None) -> str:
    ids = message_ids(value)
    return ids[0] if ids else ""


def _plausible_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and not any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in address)


def mailboxes(value: str | None, *, names: bool = True) -> list[tuple[str, str]]:
    """(display name, lower-cased address) for each mailbox in an address header, names decoded.

    Entries without a plausible ``local@domain`` address (group names, "undisclosed-recipients:;") are
    skipped. For large lists this uses ``email.utils.getaddresses``, which is linear; the header registry's
    parser, which decodes names better, is used for short values only.
    """
    if not value:
        return []
    pairs: Iterable[tuple[str, str]]
    pairs = _registry_mailboxes(value) if len(value) <= 2000 else _utils_mailboxes(value)
    result = []
    for name, address in pairs:
        address = single_line(address).lower()
        if _plausible_address(address):
            result.append((display_text(decode_words(name)) if names else "", address))
    return result


def _registry_mailboxes(value: str) -> list[tuple[str, str]]:
    try:
        header = policy.default.header_factory("to", value)
        return [(address.display_name, address.addr_spec) for address in header.addresses]
    except STDLIB_PARSER_ERRORS:
        return _utils_mailboxes(value)


def _utils_mailboxes(value: str) -> list[tuple[str, str]]:
    try:
        return getaddresses([value])
    except STDLIB_PARSER_ERRORS:
        try:
            return [parseaddr(value)]
        except STDLIB_PARSER_ERRORS:
            return []


def addresses(values: Iterable[str]) -> list[str]:
    """The lower-cased addresses in every value of an address header (To, Cc), in order."""
    return [address for value in values for _name, address in mailboxes(value, names=False)]


def parse_date(value: str | None, *, now: datetime) -> datetime | None:
    """The Date header as an aware UTC datetime; None when missing, unparseable or implausible.

    Implausible: before 1990, or more than a day after ``now`` (clocks are wrong, but not by more). A date
    with the "unknown zone" ``-0000`` is read as UTC.
    """
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(single_line(value))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except STDLIB_PARSER_ERRORS:
        return None
    if parsed < EARLIEST_DATE or parsed > now + DATE_FUTURE_SLACK:
        return None
    return parsed
