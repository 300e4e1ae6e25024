"""Bytes of any declared charset, and header text with raw 8-bit bytes in it, turned into clean ``str``.

Mail lies about its charset: "us-ascii" on UTF-8 bytes, "utf-8" on Latin-1 bytes, names no codec knows
("unknown-8bit", "x-user-defined", "utf8mb4"), and "iso-8859-1" on text written in Windows-1252 (the
smart quotes and the euro sign sit in 0x80-0x9F, which are control characters in ISO-8859-1). The rule,
as browsers apply it (the WHATWG Encoding Standard maps "iso-8859-1" and "us-ascii" to windows-1252):

1. when the declared charset is "us-ascii", "iso-8859-1" or "windows-1252" (or no codec knows it): UTF-8
   first, strictly. UTF-8 is self-checking: Western text in a single-byte charset almost never forms
   valid UTF-8 sequences, while UTF-8 under those labels is the most common mislabelling there is;
2. the declared charset, when a text codec knows it and the bytes decode under it strictly, with
   "iso-8859-1", "latin-1" and "us-ascii" read as windows-1252 (a superset for every byte it defines);
3. else UTF-8, then windows-1252, strictly;
4. else Latin-1, which decodes any byte.

Nothing here raises, and the result never holds NUL or a lone surrogate.
"""

from __future__ import annotations

import codecs
import re

_SUPERSETS = {"latin_1": "cp1252", "iso8859_1": "cp1252", "ascii": "cp1252"}
"""Codec names (as ``codecs.lookup`` spells them) read as the superset that mail in them really uses."""

_FALLBACKS = ("utf-8", "cp1252", "latin-1")

_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")
"""Raw bytes >= 0x80 that ``surrogateescape`` kept (how ``email`` holds 8-bit bytes in header strings)."""

_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def _codec(charset: str | None) -> str | None:
    """The codec name for a declared charset, or None when no *text* codec has that name."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    if not name or len(name) > 40:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    # codecs.lookup also finds bytes-to-bytes codecs ("base64", "zlib", "rot13"): not charsets.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return _SUPERSETS.get(info.name.replace("-", "_"), info.name)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """``data`` as text: the declared ``charset`` if it fits, else UTF-8, windows-1252, Latin-1 (see module doc)."""
    declared = _codec(charset)
    order = ("utf-8", declared) if declared in (None, "cp1252") else (declared,)
    for name in (*order, *_FALLBACKS):
        if name is None:
            continue
        try:
            text = data.decode(name)
        except (UnicodeError, LookupError, ValueError):
            continue
        return remove_unsafe(text)
    return remove_unsafe(data.decode("latin-1"))  # unreachable: Latin-1 decodes every byte


def unescape_raw_bytes(text: str) -> str:
    """``text`` with each run of surrogate-escaped raw bytes decoded as UTF-8 (else windows-1252, Latin-1).

    Headers with raw 8-bit bytes (UTF-8 by RFC 6532, or a legacy charset from an old client) reach us as
    ``str`` holding those bytes as surrogates; decoding each run on its own keeps the characters around it,
    including those an encoded-word produced, as they are.
    """
    return _ESCAPED_BYTES.sub(lambda run: decode_bytes(run.group().encode("utf-8", "surrogateescape"), None), text)


def remove_unsafe(text: str) -> str:
    """``text`` without NUL characters and lone surrogates (no database stores them, no JSON encoder likes them)."""
    return _UNSAFE.sub("", text)
