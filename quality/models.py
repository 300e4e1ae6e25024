"""Quality assurance: QA forms with weighted criteria, reviews of conversations, and training records.

A *QA form* is a supervisor's checklist: criteria, each with a weight, scored in
points (0 to ``max_points``) or pass/fail, optionally *critical* (auto-fail: a
critical criterion scored 0 makes the whole review score 0 and fail, however
well the rest went: a compliance breach or rudeness is not offset by good
spelling) or allowing *N/A* (left out of the score when it does not apply).

A *review* scores one conversation against a form for the agent who handled it.
When it is submitted the criteria as they were then are copied onto it
(``answers``), so editing the form later never changes past scores. A submitted
review is final: its score is on the ledger (a ``qa`` row), which is never
rewritten.

The tables keep the names they had when these models lived in ``agents``
(``agents_qaform`` and so on: ``Meta.db_table``), so moving the code moved no data.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class QaForm(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, help_text="What this form checks and when to use it.")
    active = models.BooleanField(
        default=False, help_text="Only active forms can be used for new samples; a form needs criteria to be active."
    )
    pass_mark = models.PositiveSmallIntegerField(
        default=80,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="A review passes with a score (0 to 100) at or above this, and no critical criterion failed.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "agents_qaform"
        verbose_name = "QA form"
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(pass_mark__lte=100), name="qa_form_pass_mark_range")]

    def __str__(self) -> str:
        return self.name


class CriterionKind(models.TextChoices):
    POINTS = "points", "Points (0 to max)"
    PASS_FAIL = "pass_fail", "Pass / fail"


class QaCriterion(models.Model):
    form = models.ForeignKey(QaForm, on_delete=models.CASCADE, related_name="criteria")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on the scoring form.")
    label = models.CharField(max_length=200)
    guidance = models.TextField(blank=True, help_text="What a reviewer looks for; shown beside the score.")
    weight = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="Relative weight in the score (at least 1)."
    )
    kind = models.CharField(max_length=16, choices=CriterionKind.choices, default=CriterionKind.POINTS)
    max_points = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Points criteria are scored 0 to this; pass/fail criteria count as 1 (pass) or 0 (fail).",
    )
    critical = models.BooleanField(
        default=False, help_text="Auto-fail: scored 0 (or failed), the whole review scores 0 and fails."
    )
    allow_na = models.BooleanField(
        "allow N/A", default=False, help_text="May be marked not applicable: then it is left out of the score."
    )

    class Meta:
        db_table = "agents_qacriterion"
        verbose_name = "QA criterion"
        verbose_name_plural = "QA criteria"
        ordering = ["form", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gte=1), name="qa_criterion_weight_positive"),
            models.CheckConstraint(condition=Q(max_points__gte=1, max_points__lte=100), name="qa_criterion_max_range"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def top(self) -> int:
        """The most points this criterion can get."""
        return 1 if self.kind == CriterionKind.PASS_FAIL else self.max_points

    def clean(self) -> None:
        if self.weight is not None and self.weight < 1:
            raise ValidationError({"weight": "A weight must be greater than 0."})


class SampleMode(models.TextChoices):
    RANDOM = "random", "Random"
    TARGETED = "targeted", "Targeted"


class QaSample(models.Model):
    """A batch of conversations picked for review, and how they were picked."""

    form = models.ForeignKey(QaForm, on_delete=models.PROTECT, related_name="samples")
    mode = models.CharField(max_length=16, choices=SampleMode.choices)
    criteria = models.JSONField(default=dict, blank=True, help_text="The period and filters it was drawn with.")
    requested = models.PositiveSmallIntegerField(help_text="How many conversations were asked for.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "agents_qasample"
        verbose_name = "QA sample"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} sample #{self.pk} ({self.form})"


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "To score"
    SUBMITTED = "submitted", "Scored"


class QaReview(models.Model):
    """One conversation scored against one form, for the agent who handled it.

    ``answers`` (written on submission) is the snapshot: one entry per criterion
    ``{criterion_id, label, weight, kind, max_points, critical, allow_na, points}``
    (``points`` ``None`` for N/A). ``weighted_score`` is the weighted score before
    any auto-fail, ``score`` the final one (0 when a critical criterion failed).
    """

    sample = models.ForeignKey(QaSample, null=True, blank=True, on_delete=models.CASCADE, related_name="reviews")
    form = models.ForeignKey(QaForm, on_delete=models.PROTECT, related_name="reviews")
    conversation = models.ForeignKey("core.Conversation", on_delete=models.CASCADE, related_name="qa_reviews")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qa_reviews", help_text="The agent reviewed."
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING)
    answers = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    weighted_score = models.FloatField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True, help_text="0 to 100, weighted; 0 after a critical failure.")
    passed = models.BooleanField(null=True, blank=True)
    critical_failed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "agents_qareview"
        verbose_name = "QA review"
        ordering = ["-created_at", "-id"]
        constraints = [
            # A conversation is reviewed once per form: samples skip those already picked.
            models.UniqueConstraint(fields=["form", "conversation"], name="qa_review_once_per_form"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=100), name="qa_review_score_range"
            ),
        ]
        indexes = [
            # The QA queue (pending, oldest first) and recent reviews (submitted, newest first).
            models.Index(fields=["status", "submitted_at"], name="qa_review_status_time"),
        ]

    def __str__(self) -> str:
        return f"QA review #{self.pk} of conversation {self.conversation_id}"


class TrainingStatus(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    COMPLETED = "completed", "Completed"


class TrainingRecord(models.Model):
    """Training an agent was given (or is to take), possibly prompted by a QA review."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_records")
    topic = models.CharField(max_length=200, help_text="The topic or course.")
    status = models.CharField(max_length=16, choices=TrainingStatus.choices, default=TrainingStatus.ASSIGNED)
    due_on = models.DateField(null=True, blank=True)
    completed_on = models.DateField(null=True, blank=True)
    review = models.ForeignKey(
        QaReview,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training",
        help_text="The QA review that prompted it, if any.",
    )
    notes = models.TextField(blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "agents_trainingrecord"
        ordering = ["status", "due_on", "-assigned_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(completed_on__isnull=False), name="training_completed_has_date"
            ),
        ]
        indexes = [
            # An agent's scorecard lists their training.
            models.Index(fields=["agent", "status"], name="training_agent_status"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} ({self.get_status_display()})"
