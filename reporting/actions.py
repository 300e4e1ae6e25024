"""Reporting's writes: hand-entered forecasts for the staffing plan (the admin edits them too)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from core.errors import Invalid, PermissionDenied
from core.roles import is_supervisor
from reporting.models import Forecast


def check_set_forecast(
    user: Any, *, starts_at: datetime, interval_minutes: int, volume: float | None, note: str = ""
) -> Forecast | None:
    """A supervisor enters (or, with ``volume`` None, removes) the forecast volume of one interval."""
    if not is_supervisor(user):
        raise PermissionDenied("Only supervisors and admins enter forecasts.")
    if timezone.is_naive(starts_at):
        raise Invalid("A forecast needs a timezone-aware start.", fields={"starts_at": ["Give a time zone."]})
    if volume is not None and not (0 <= volume < math.inf):
        raise Invalid("A forecast volume is zero or more.", fields={"volume": ["Zero or more."]})
    candidate = Forecast(starts_at=starts_at, interval_minutes=interval_minutes, volume=volume or 0, note=note)
    try:
        candidate.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        fields = {name: [str(message) for message in messages] for name, messages in error.message_dict.items()}
        raise Invalid(
            " ".join(message for messages in fields.values() for message in messages), fields=fields
        ) from None
    return do_set_forecast(starts_at=starts_at, interval_minutes=interval_minutes, volume=volume, note=note)


def do_set_forecast(
    *, starts_at: datetime, interval_minutes: int, volume: float | None, note: str = ""
) -> Forecast | None:
    """Store the interval's forecast (one row per interval start and length), or delete it when ``volume`` is None.

    The caller has validated the interval (``check_set_forecast``).
    """
    if volume is None:
        Forecast.objects.filter(starts_at=starts_at, interval_minutes=interval_minutes).delete()
        return None
    forecast, _ = Forecast.objects.update_or_create(
        starts_at=starts_at, interval_minutes=interval_minutes, defaults={"volume": volume, "note": note}
    )
    return forecast
