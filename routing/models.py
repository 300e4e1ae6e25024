"""Routing configuration: what skills exist, which queues hold work, what service level each promises."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class Skill(models.Model):
    name = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SLAPolicy(models.Model):
    """How fast a queue promises to answer: the first reply, and each reply after a customer writes again."""

    name = models.CharField(max_length=100, unique=True)
    first_response_seconds = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    next_response_seconds = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    warning_percent = models.PositiveSmallIntegerField(
        default=75, help_text="An item is 'at risk' once this share of its target has passed."
    )

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(warning_percent__gte=1, warning_percent__lte=100), name="sla_warning_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Queue(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    priority = models.SmallIntegerField(default=0, help_text="Higher is served first when agents serve several queues.")
    sla_policy = models.ForeignKey(SLAPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="queues")
    is_default = models.BooleanField(
        default=False, help_text="Where captured conversations go when no routing rule picks a queue."
    )

    class Meta:
        ordering = ["-priority", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_queue"),
        ]

    def __str__(self) -> str:
        return self.name
