"""Template helpers for the QA pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def percent(value: Any) -> str:
    """A fraction as a percentage with one decimal (0.75 → "75.0 %"); "—" for nothing."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.1f} %"
