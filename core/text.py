"""The one check of free text typed by people (replies, notes, reasons), whichever door it came through.

DRF's fields and Django's forms would each check some of this their own way;
the actions call these instead, so the HTML console, the API and the admin
accept and refuse exactly the same text, with the same messages.
"""

from __future__ import annotations

from core.errors import Invalid

REASON_MAX_LENGTH = 500
"""Escalation, transfer, reopen and rejection reasons."""

NOTE_MAX_LENGTH = 5000


def check_text(value: object, *, field: str, max_length: int | None, blank: str) -> str:
    """``value`` stripped, or ``Invalid`` naming ``field``: blank (``blank`` says why it is needed), too long, or NUL.

    NUL characters are refused, not removed: no database stores them in text,
    and a reply that silently lost part of itself would be worse.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise Invalid(blank, fields={field: ["This field may not be blank."]})
    if "\x00" in text:
        raise Invalid("The text contains a NUL character.", fields={field: ["Null characters are not allowed."]})
    if max_length is not None and len(text) > max_length:
        raise Invalid(
            f"That is {len(text)} characters; at most {max_length} are allowed.",
            fields={field: [f"Ensure this field has no more than {max_length} characters."]},
        )
    return text


def check_optional_text(value: object, *, field: str, max_length: int) -> str:
    """Like :func:`check_text`, but empty is allowed (and returned as "")."""
    if not isinstance(value, str) or not value.strip():
        return ""
    return check_text(value, field=field, max_length=max_length, blank="")
