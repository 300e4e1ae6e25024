"""The body and the attachments of a parsed message: which parts are the text, and what every other part is.

- The body: in ``multipart/alternative`` the ``text/plain`` alternative is preferred, else HTML (turned into
  text); in ``multipart/related`` the root part (``start``, else the first); in ``multipart/report`` the
  human-readable first part; in ``multipart/mixed`` (and any unknown multipart) every inline text part in
  order, so Apple Mail's "text, image, more text" keeps all of its text. A text part with a file name or
  ``Content-Disposition: attachment`` is an attachment, not body.
- Every other leaf part is an attachment, ``cid:`` inline images included, except the text alternative
  that was not chosen (the HTML twin of the plain text: the same content again) (the console shows them as links;
  nothing is ever rendered inline). A forwarded ``message/rfc822`` is one ``.eml`` attachment, and a DSN's
  ``message/delivery-status`` one text attachment.
- Malformed MIME gets a best effort: a multipart without a boundary is read as plain text, bad base64 is
  decoded as far as it goes (the standard library is lenient), and nesting deeper than ``MAX_DEPTH`` is
  not examined.
"""

from __future__ import annotations

import mimetypes
import re
import weakref
from dataclasses import dataclass
from email.message import Message
from pathlib import PurePosixPath

from monitoring.platforms.email.charsets import decode_bytes
from monitoring.platforms.email.headers import (
    STDLIB_PARSER_ERRORS,
    decode_words,
    display_text,
    first_message_id,
    raw_header,
)
from monitoring.platforms.email.html_text import html_to_text

MAX_DEPTH = 32
"""Real mail nests a few levels (mixed > alternative > related); deeper parts are not examined."""

MAX_FILENAME_LENGTH = 200

_BUILT_IN_TYPES = mimetypes.MimeTypes(filenames=())
"""The standard library's own table only: the fallback extensions do not depend on the host's mime.types."""

_UNSAFE_FILENAME_CHARS = re.compile(r'[<>:"|?*]')


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    """Safe to offer as a download name: no path parts, no control characters, at most 200 characters."""
    content_type: str
    """Lower-case ``maintype/subtype`` as declared (``text/plain`` when the declaration is unreadable)."""
    data: bytes
    """The decoded content; ``b""`` when dropped."""
    size: int
    """The decoded size, also when dropped."""
    content_id: str = ""
    """Without ``<>``: what ``cid:`` URLs in the HTML refer to."""
    inline: bool = False
    dropped_reason: str = ""


@dataclass(frozen=True)
class Body:
    text: str
    html: bool
    """Whether (some of) the text was converted from HTML."""


_content_types: weakref.WeakKeyDictionary[Message, str] = weakref.WeakKeyDictionary()
"""Each part's content type, read once: the stdlib parses the header again on every call, a tenth of a mail's time."""


def content_type(part: Message) -> str:
    known = _content_types.get(part)
    if known is None:
        try:
            known = part.get_content_type().lower()
        except STDLIB_PARSER_ERRORS:
            known = "text/plain"
        _content_types[part] = known
    return known


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except STDLIB_PARSER_ERRORS:
        return ""


def _declared_filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except STDLIB_PARSER_ERRORS:
        name = ""
    # Outlook and Gmail put RFC 2047 encoded-words in the filename parameter, which RFC 2231 does not allow.
    return decode_words(name) if isinstance(name, str) else ""


def subparts(part: Message) -> list[Message] | None:
    """The children of a multipart (or a ``message/*``) part; None for a leaf, or a multipart without a boundary.

    ``is_multipart()`` first: ``get_payload()`` on a text payload with 8-bit bytes decodes it in the declared
    charset, and raises for some names.
    """
    if not part.is_multipart():
        return None
    payload = part.get_payload()
    return [child for child in payload if isinstance(child, Message)] if isinstance(payload, list) else None


def _is_body_text(part: Message) -> bool:
    return (
        content_type(part) in ("text/plain", "text/html")
        and _disposition(part) != "attachment"
        and not _declared_filename(part)
    )


def body_parts(part: Message, depth: int = 0) -> list[Message]:
    """The leaf parts that make up the body of ``part``, in order (see the module docstring for the choice)."""
    if depth > MAX_DEPTH:
        return []
    ctype = content_type(part)
    children = subparts(part)
    if children is None:
        if ctype.startswith("multipart/"):
            return [part]  # no boundary: its payload is all there is, read as text
        return [part] if _is_body_text(part) else []
    if not ctype.startswith("multipart/"):
        return []  # message/rfc822 (a forwarded message), message/delivery-status: attachments
    if ctype == "multipart/alternative":
        choices = [chosen for child in children if (chosen := body_parts(child, depth + 1))]
        plain = [chosen for chosen in choices if all(content_type(p) == "text/plain" for p in chosen)]
        return (plain or choices or [[]])[0]
    if ctype == "multipart/related":
        return body_parts(_related_root(part, children), depth + 1) if children else []
    if ctype in ("multipart/report", "multipart/signed"):
        return body_parts(children[0], depth + 1) if children else []
    return [leaf for child in children for leaf in body_parts(child, depth + 1)]


def _related_root(part: Message, children: list[Message]) -> Message:
    try:
        start = part.get_param("start")
    except STDLIB_PARSER_ERRORS:
        start = None
    wanted = first_message_id(start) if isinstance(start, str) else ""
    for child in children:
        if wanted and first_message_id(raw_header(child, "Content-ID")) == wanted:
            return child
    return children[0]


def payload_bytes(part: Message) -> bytes:
    """The decoded content of a leaf part (base64 and quoted-printable undone, leniently)."""
    try:
        data = part.get_payload(decode=True)
    except STDLIB_PARSER_ERRORS:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        payload = part.get_payload()
    except STDLIB_PARSER_ERRORS:
        return b""
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""


def part_text(part: Message) -> str:
    """A text part's content as ``str`` in its declared charset, with the fallbacks of ``charsets``."""
    try:
        charset = part.get_content_charset()
    except STDLIB_PARSER_ERRORS:
        charset = None
    return decode_bytes(payload_bytes(part), charset)


def read_body(msg: Message) -> tuple[Body, set[int]]:
    """The body text, and the ``id()`` of each part used for it (those are not attachments)."""
    parts = body_parts(msg)
    pieces: list[str] = []
    from_html = False
    for part in parts:
        text = part_text(part)
        if content_type(part) == "text/html":
            text, from_html = html_to_text(text), True
        pieces.append(text.replace("\r\n", "\n").replace("\r", "\n").strip("\n"))
    return Body(text="\n\n".join(piece for piece in pieces if piece), html=from_html), {id(p) for p in parts}


def read_attachments(msg: Message, body: set[int], *, max_bytes: int) -> tuple[ParsedAttachment, ...]:
    """Every leaf part not in ``body``, as an attachment; content over ``max_bytes`` is dropped (size kept)."""
    found: list[ParsedAttachment] = []
    stack: list[tuple[Message, int, bool]] = [(msg, 0, False)]
    while stack:
        part, depth, alternative = stack.pop()
        ctype = content_type(part)
        children = subparts(part)
        if children is not None and ctype.startswith("multipart/"):
            if depth < MAX_DEPTH:
                inside = alternative or ctype == "multipart/alternative"
                stack.extend((child, depth + 1, inside) for child in reversed(children))
            continue
        # The alternative that was not chosen (the HTML twin of the plain text) is the same content again.
        if id(part) in body or (alternative and body and _is_body_text(part)):
            continue
        found.append(_attachment(part, ctype, children, len(found) + 1, max_bytes))
    return tuple(found)


def _attachment(
    part: Message, ctype: str, children: list[Message] | None, number: int, max_bytes: int
) -> ParsedAttachment:
    name = _declared_filename(part)
    if ctype == "message/delivery-status":
        data = _delivery_status_bytes(children)
        name = name or "delivery-status.txt"
    elif children is not None:  # message/rfc822 and the other message/* types the parser opened
        data = _embedded_message_bytes(children)
        if not name and children:
            name = f"{decode_words(raw_header(children[0], 'Subject') or '')[:150]}.eml"
    else:
        data = payload_bytes(part)
    size = len(data)
    dropped = ""
    if size > max_bytes:
        data, dropped = b"", f"larger than the {describe_size(max_bytes)} limit"
    content_id = first_message_id(raw_header(part, "Content-ID")) or display_text(
        raw_header(part, "Content-ID") or "", 200
    )
    disposition = _disposition(part)
    return ParsedAttachment(
        filename=safe_filename(name, ctype, number),
        content_type=ctype,
        data=data,
        size=size,
        content_id=content_id,
        inline=disposition == "inline" or (bool(content_id) and disposition != "attachment"),
        dropped_reason=dropped,
    )


def _embedded_message_bytes(children: list[Message] | None) -> bytes:
    if not children:
        return b""
    try:
        return children[0].as_bytes()
    except STDLIB_PARSER_ERRORS:
        return b""


def _delivery_status_bytes(children: list[Message] | None) -> bytes:
    blocks = ["\n".join(f"{key}: {value}" for key, value in block.raw_items()) for block in children or []]
    return "\n\n".join(blocks).encode("utf-8", "surrogateescape")


def safe_filename(name: str, ctype: str, number: int) -> str:
    """``name`` without path parts, controls, reserved characters or leading dots, cut to 200 characters
    (keeping the extension); ``attachment-<number>.<ext>`` when nothing is left."""
    name = display_text(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_FILENAME_CHARS.sub("_", name).strip(" .")
    if not name:
        extension = _BUILT_IN_TYPES.guess_extension(ctype) or (".txt" if ctype.startswith("text/") else ".bin")
        return f"attachment-{number}{extension}"
    if len(name) > MAX_FILENAME_LENGTH:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if len(suffix) <= 20 else ""
        name = name[: MAX_FILENAME_LENGTH - len(suffix)].rstrip(" .") + suffix
    return name


def describe_size(size: int) -> str:
    """``10 MB`` for 10 MiB: how a limit reads in a message to an agent."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"
