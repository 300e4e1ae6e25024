"""Template helpers for the console: showing what customers send without trusting it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import template

register = template.Library()


@register.filter
def web_url(value: Any) -> str:
    """The value if it is an http(s) URL, else "" — so a ``javascript:`` or ``data:`` link never renders."""
    if not isinstance(value, str):
        return ""
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


@register.filter
def attachments(raw: Any) -> list[dict[str, str]]:
    """Attachments a platform sent with a message (Messenger, X DMs), as type and URL pairs."""
    if not isinstance(raw, dict):
        return []
    inner = raw.get("message")
    message: dict[str, Any] = inner if isinstance(inner, dict) else raw
    found = []
    for item in message.get("attachments") or []:
        if not isinstance(item, dict):
            continue
        payload: dict[str, Any] = item["payload"] if isinstance(item.get("payload"), dict) else {}
        url = web_url(payload.get("url") or item.get("url"))
        if url:
            found.append({"type": str(item.get("type") or "file"), "url": url})
    return found
