"""Shared answers, managed by supervisors in the admin so the team answers consistently."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models


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
