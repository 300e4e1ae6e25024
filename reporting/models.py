"""Reporting's own data: hand-entered forecasts for the staffing plan, and the ledger's hourly rollup."""

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


class LedgerHour(models.Model):
    """The ledger rows of one hour summed per kind and group: what the big reports read (reporting.rollup).

    One row per local hour (``hour``: its start in ``TIME_ZONE``), ``kind``, and
    the groups the reports filter and split by: the ``channel`` and ``queue``
    copied on the ledger rows, the conversation's ``category``, and two flags
    of the row (``target``, ``answered``; see :mod:`reporting.rollup`). The
    figures are counts and sums only, so any span of hours adds up exactly.
    Written by :func:`reporting.rollup.do_roll_up`, never by hand.
    """

    hour = models.DateTimeField()
    kind = models.CharField(max_length=32)
    channel = models.CharField(max_length=32, blank=True)
    queue_id = models.IntegerField(null=True, blank=True)
    category = models.CharField(max_length=64, blank=True)
    target = models.CharField(max_length=8, blank=True)
    answered = models.BooleanField(null=True)
    rows = models.IntegerField(default=0)
    seconds_count = models.IntegerField(default=0)
    seconds_sum = models.FloatField(default=0.0)
    value_count = models.IntegerField(default=0)
    value_sum = models.FloatField(default=0.0)
    dispatched = models.IntegerField(default=0)
    satisfied = models.IntegerField(default=0)
    first_contact = models.IntegerField(default=0)
    long_waits = models.IntegerField(default=0)
    negative = models.IntegerField(default=0)
    neutral = models.IntegerField(default=0)
    positive = models.IntegerField(default=0)
    unrated = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["kind", "hour"], name="ledger_hour_kind_hour")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.hour:%Y-%m-%d %H:%M}: {self.rows}"


class RollupState(models.Model):
    """How far the rollup reaches, and the settings its figures were summed under (a single row)."""

    rolled_from = models.DateTimeField(help_text="The first hour the rollup holds.")
    rolled_until = models.DateTimeField(help_text="The rollup holds every hour before this one.")
    time_zone = models.CharField(max_length=64)
    fcr_window_hours = models.FloatField()
    short_abandon_seconds = models.FloatField()
    rolled_at = models.DateTimeField(help_text="When the last roll-up ran.")

    def __str__(self) -> str:
        return f"{self.rolled_from:%Y-%m-%d %H:%M} to {self.rolled_until:%Y-%m-%d %H:%M}"
