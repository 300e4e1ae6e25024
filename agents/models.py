"""Agents are Django users with a profile; roles are Django groups (see ``agents.roles``)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Presence(models.TextChoices):
    OFFLINE = "offline", "Offline"
    AVAILABLE = "available", "Available"
    BUSY = "busy", "Busy"
    AWAY = "away", "Away"


class AgentProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="agents")
    capacity = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="How much concurrent work the agent takes (a DM and a public reply may weigh differently).",
    )
    is_trainee = models.BooleanField(default=False, help_text="Trainees' replies wait for a supervisor's approval.")
    presence = models.CharField(max_length=16, choices=Presence.choices, default=Presence.OFFLINE)
    presence_reason = models.CharField(
        max_length=64, blank=True, help_text="Why the agent is away (break, training...)."
    )
    presence_since = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gte=1, capacity__lte=100), name="agent_capacity_range"),
        ]
        indexes = [
            # The router looks for available agents.
            models.Index(fields=["presence"], name="agent_presence"),
        ]

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.get_username()
