"""Shared answers, managed by supervisors in the admin so the team answers consistently."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone


class ResponseTemplate(models.Model):
    name = models.CharField(max_length=100)
    shortcut = models.CharField(
        max_length=40,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9_-]+$", "Use lowercase letters, digits, - and _ only.")],
        help_text="Typed as /shortcut in the composer.",
    )
    body = models.TextField(help_text="Text with variables such as {customer_name}, {agent_name}, {case_reference}.")
    queue = models.ForeignKey(
        "routing.Queue", null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: offered in every queue."
    )
    language = models.CharField(max_length=16, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"/{self.shortcut} · {self.name}"


class KnowledgeArticle(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField()
    tags = models.JSONField(default=list, blank=True)
    is_published = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class ReviewRule(models.Model):
    """Replies on conversations matching this rule wait for a supervisor before they are posted.

    Trainees' replies always wait (``AgentProfile.is_trainee``); these rules
    add sensitive categories and queues. Empty fields match anything, so a
    rule needs at least one.
    """

    name = models.CharField(max_length=100)
    category = models.CharField(max_length=64, blank=True, help_text="e.g. legal, press, fraud")
    queue = models.ForeignKey("routing.Queue", null=True, blank=True, on_delete=models.CASCADE)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if not self.category and self.queue_id is None:
            raise ValidationError("Choose a category or a queue, or the rule would hold every reply.")


class SurveyInvitation(models.Model):
    """A customer's invitation to rate a resolved conversation (CSAT), and their answer.

    At most one per conversation: a reopened and resolved-again conversation is
    not surveyed twice. ``sent_at`` is empty when no message could be sent (public
    channels, a closed Messenger window); the agent may still share the link.
    """

    conversation = models.OneToOneField("core.Conversation", on_delete=models.CASCADE, related_name="survey_invitation")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who resolved the conversation; the score counts for them.",
    )
    token = models.CharField(max_length=64, unique=True, help_text="Random and URL-safe: the survey link's secret.")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the survey message was queued, if it was.")
    answered_at = models.DateTimeField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__isnull=True) | models.Q(score__gte=1, score__lte=5),
                name="survey_score_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return f"CSAT for conversation {self.conversation_id}"
