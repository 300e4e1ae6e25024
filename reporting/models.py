"""Reporting's own data: hand-entered forecasts for the staffing plan."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

INTERVAL_MINUTES = (15, 30, 60)


class Forecast(models.Model):
    """A contact volume entered by hand for one staffing interval.

    It replaces the forecast from history for the interval of that length
    starting at ``starts_at`` (reporting.planning); intervals start on the
    quarter, half or whole hour in ``TIME_ZONE``.
    """

    starts_at = models.DateTimeField(help_text="Start of the interval (on the quarter, half or whole hour).")
    interval_minutes = models.PositiveSmallIntegerField(
        choices=[(minutes, f"{minutes} minutes") for minutes in INTERVAL_MINUTES], default=30
    )
    volume = models.FloatField(validators=[MinValueValidator(0)], help_text="Conversations expected in the interval.")
    note = models.CharField(max_length=200, blank=True, help_text="Why, e.g. a campaign or an outage.")

    class Meta:
        ordering = ["starts_at", "interval_minutes"]
        constraints = [
            # One figure per interval; also serves the plan's lookup of a day's intervals.
            models.UniqueConstraint(fields=["interval_minutes", "starts_at"], name="forecast_one_per_interval"),
        ]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.starts_at):%Y-%m-%d %H:%M} +{self.interval_minutes} min: {self.volume:g}"

    def clean(self) -> None:
        if self.starts_at is None or self.interval_minutes not in INTERVAL_MINUTES:
            return
        local = timezone.localtime(self.starts_at)
        if local.second or local.microsecond or (local.hour * 60 + local.minute) % self.interval_minutes:
            raise ValidationError(
                {
                    "starts_at": f"A {self.interval_minutes}-minute interval starts on a multiple of "
                    f"{self.interval_minutes} minutes after midnight ({local:%H:%M:%S} is not)."
                }
            )
