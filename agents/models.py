"""Agents are Django users with a profile; roles are Django groups (see ``core.roles``)."""

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
    last_heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from the agent's browser."
    )
    last_assigned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the router last gave them work (longest idle goes first)."
    )
    email_signature = models.TextField(
        blank=True,
        max_length=2000,
        help_text="Put at the end of the agent's email replies in the composer; empty: the queue's, else the "
        "mailbox's.",
    )

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


class AwayReason(models.TextChoices):
    BREAK = "break", "Break"
    LUNCH = "lunch", "Lunch"
    TRAINING = "training", "Training"
    MEETING = "meeting", "Meeting"
    COACHING = "coaching", "Coaching"
    OTHER = "other", "Other"
    MISSED_OFFERS = "missed_offers", "Missed offers"
    """Set by the router: the agent let several offers in a row ring out."""


class AgentSkill(models.Model):
    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey("routing.Skill", on_delete=models.CASCADE, related_name="agents")
    level = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10)], help_text="Proficiency from 1 to 10."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "skill"], name="agent_skill_once"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=10), name="agent_skill_level_range"),
        ]

    def __str__(self) -> str:
        return f"{self.skill} {self.level}"


class PresenceChange(models.Model):
    """Every change of an agent's presence, for occupancy and time-in-state reports."""

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="presence_changes")
    at = models.DateTimeField()
    presence = models.CharField(max_length=16, choices=Presence.choices)
    reason = models.CharField(max_length=64, blank=True)
    previous = models.CharField(max_length=16, choices=Presence.choices)
    previous_seconds = models.FloatField(help_text="How long the agent had been in the previous state.")
    cause = models.CharField(max_length=32, default="agent", help_text="agent, supervisor, timeout, login, logout")

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["agent", "at"], name="presence_agent_time")]

    def __str__(self) -> str:
        return f"{self.agent}: {self.previous} → {self.presence}"
