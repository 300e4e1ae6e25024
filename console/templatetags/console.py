"""Template helpers for the console: showing what customers send without trusting it.

They read a message's stored payload (``Message.raw``), which holds whatever a platform sent, from any version
of the parsers: they never raise, whatever JSON they find there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import template

register = template.Library()

_MAX_TYPE_LENGTH = 40
"""An attachment's type is a word (image, video, file): anything longer is not shown."""


@register.filter
def web_url(value: Any) -> str:
    """The value if it is an http(s) URL, else "" — so a ``javascript:`` or ``data:`` link never renders."""
    if not isinstance(value, str):
        return ""
    try:
        parts = urlsplit(value.strip())
    except ValueError:  # "http://[::1" and other unparseable hosts
        return ""
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


@register.filter
def attachments(raw: Any) -> list[dict[str, str]]:
    """Attachments a platform sent with a message (Messenger, X DMs), as type and URL pairs.

    Items that are not attachment objects with a web URL are skipped, as is an ``attachments`` that is no list.
    """
    if not isinstance(raw, dict):
        return []
    inner = raw.get("message")
    message: dict[str, Any] = inner if isinstance(inner, dict) else raw
    items = message.get("attachments")
    if not isinstance(items, list):
        return []
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        payload = item.get("payload")
        url = web_url(payload.get("url") if isinstance(payload, dict) else None) or web_url(item.get("url"))
        if url:
            kind = item.get("type")
            found.append({"type": kind if isinstance(kind, str) and _is_word(kind) else "file", "url": url})
    return found


def _is_word(value: str) -> bool:
    return 0 < len(value) <= _MAX_TYPE_LENGTH and value.isprintable()
