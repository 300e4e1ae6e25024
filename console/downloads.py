"""A stored file as a download: never shown by the browser, never run in the console's origin.

A file a customer mailed us is whatever they (or someone posing as them) made it: an HTML page with script, an
SVG, a "PDF" that is HTML. Served from our origin and rendered, it would run with the agent's session. So every
file is a download (``Content-Disposition: attachment``), the browser may not guess its type
(``X-Content-Type-Options: nosniff``), the type sent is the stored one only when it is on a short list of
passive types (anything else is ``application/octet-stream``), and a sandboxing Content-Security-Policy stops
whatever a browser might still open.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from django.http import HttpResponse

from core.models import Attachment

PASSIVE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"})
"""Types sent as they are (still as attachments). Not SVG, HTML or XML: those can carry script."""


def download_type(content_type: str) -> str:
    bare = content_type.split(";")[0].strip().lower()
    return bare if bare in PASSIVE_TYPES else "application/octet-stream"


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` for old clients and the exact name in ``filename*`` (RFC 6266)."""
    name = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C").strip() or "attachment"
    fallback = (
        "".join(ch if ch.isascii() and (ch.isalnum() or ch in " .-_()[]+,") else "_" for ch in name).strip()
        or "attachment"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment_response(attachment: Attachment) -> HttpResponse:
    response = HttpResponse(bytes(attachment.data), content_type=download_type(attachment.content_type))
    response["Content-Disposition"] = content_disposition(attachment.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
