"""Writes for quality assurance: drawing samples, scoring reviews, assigning and completing training.

``check_*`` functions check the actor's role and validate, then call ``do_*``,
the trusted writes. Only supervisors and admins review and assign training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.actions import record_event
from core.errors import Conflict, Invalid, NotFound, PermissionDenied
from core.models import Conversation, ConversationState, EventKind
from core.roles import is_supervisor
from quality.models import (
    CriterionKind,
    QaCriterion,
    QaForm,
    QaReview,
    QaSample,
    ReviewStatus,
    SampleMode,
    TrainingRecord,
    TrainingStatus,
)

MAX_SAMPLE = 100
"""The most conversations one sample draws (a reviewer's week, not the whole history)."""

REVIEWABLE_STATES = (ConversationState.RESOLVED, ConversationState.CLOSED)
NA = "na"
"""The value a scoring form sends for "not applicable"."""


def check_supervisor(actor: Any, what: str) -> None:
    if not is_supervisor(actor):
        raise PermissionDenied(f"Only supervisors and admins {what}.")


def _usable_form(form_id: int) -> QaForm:
    form = QaForm.objects.filter(pk=form_id).first()
    if form is None:
        raise Invalid(f"There is no QA form with id {form_id}.", fields={"form": ["Choose a QA form."]})
    if not form.active:
        raise Invalid(f"The QA form “{form.name}” is not active.", fields={"form": ["Choose an active QA form."]})
    if not form.criteria.exists():
        raise Invalid(f"The QA form “{form.name}” has no criteria.", fields={"form": ["This form has no criteria."]})
    return form


# --- Samples -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleFilter:
    """Which resolved conversations a random sample draws from: resolved in ``[start, end)`` and the rest."""

    start: datetime
    end: datetime
    queue_id: int | None = None
    agent_id: int | None = None
    team_id: int | None = None
    channel: str | None = None
    category: str | None = None
    min_csat: int | None = None
    max_csat: int | None = None
    escalated: bool | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            **{
                key: value
                for key, value in {
                    "queue": self.queue_id,
                    "agent": self.agent_id,
                    "team": self.team_id,
                    "channel": self.channel,
                    "category": self.category,
                    "min_csat": self.min_csat,
                    "max_csat": self.max_csat,
                    "escalated": self.escalated,
                }.items()
                if value is not None
            },
        }


def reviewed_agent_of(conversation: Conversation) -> int | None:
    """Who handled it: the agent holding it now, else the last one (a resolution keeps them as ``last_agent``).

    Random samples draw resolved conversations, whose handler is ``last_agent``.
    """
    return conversation.assigned_agent_id or conversation.last_agent_id


def sample_candidates(filters: SampleFilter, form: QaForm) -> QuerySet[Conversation]:
    """Resolved (or closed) conversations matching ``filters``, with an agent, not yet reviewed on ``form``."""
    rows = Conversation.objects.filter(
        state__in=REVIEWABLE_STATES,
        resolved_at__gte=filters.start,
        resolved_at__lt=filters.end,
        last_agent__isnull=False,
    ).exclude(qa_reviews__form=form)
    if filters.queue_id is not None:
        rows = rows.filter(queue_id=filters.queue_id)
    if filters.agent_id is not None:
        rows = rows.filter(last_agent_id=filters.agent_id)
    if filters.team_id is not None:
        rows = rows.filter(last_agent__agent_profile__team_id=filters.team_id)
    if filters.channel is not None:
        rows = rows.filter(channel=filters.channel)
    if filters.category is not None:
        rows = rows.filter(category=filters.category)
    if filters.min_csat is not None:
        rows = rows.filter(survey_invitation__score__gte=filters.min_csat)
    if filters.max_csat is not None:
        rows = rows.filter(survey_invitation__score__lte=filters.max_csat)
    if filters.escalated is not None:
        rows = rows.filter(escalated=filters.escalated)
    return rows


def _check_size(size: int) -> None:
    if not 1 <= size <= MAX_SAMPLE:
        raise Invalid(
            f"A sample holds 1 to {MAX_SAMPLE} conversations, not {size}.",
            fields={"size": [f"Between 1 and {MAX_SAMPLE}."]},
        )


def check_create_random_sample(actor: Any, form_id: int, size: int, filters: SampleFilter) -> QaSample:
    """Draw ``size`` conversations at random (fewer when fewer match) for review on the form."""
    check_supervisor(actor, "draw QA samples")
    _check_size(size)
    if filters.start >= filters.end:
        raise Invalid("The period must end after it starts.", fields={"end": ["After the start."]})
    if filters.min_csat is not None and filters.max_csat is not None and filters.min_csat > filters.max_csat:
        raise Invalid("The lowest CSAT is above the highest.", fields={"min_csat": ["At most the highest CSAT."]})
    form = _usable_form(form_id)
    with transaction.atomic():
        # ORDER BY RANDOM() LIMIT n in the database: no rows are loaded to be shuffled here.
        picked = list(sample_candidates(filters, form).order_by("?").values_list("pk", "last_agent_id")[:size])
        return do_create_sample(
            form,
            SampleMode.RANDOM,
            picked,
            requested=size,
            criteria=filters.as_json(),
            actor=actor,
        )


def check_create_targeted_sample(actor: Any, form_id: int, conversation_ids: list[int]) -> QaSample:
    """Review exactly these conversations (e.g. a complaint, an escalation); each needs an agent."""
    check_supervisor(actor, "draw QA samples")
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        raise Invalid("Give the ids of the conversations to review.", fields={"conversations": ["Required."]})
    _check_size(len(ids))
    form = _usable_form(form_id)
    with transaction.atomic():
        found = {c.pk: c for c in Conversation.objects.filter(pk__in=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise Invalid(
                f"No conversation has the id {', '.join(map(str, missing))}.",
                fields={"conversations": [f"Unknown: {', '.join(map(str, missing))}."]},
            )
        unhandled = [i for i in ids if reviewed_agent_of(found[i]) is None]
        if unhandled:
            raise Invalid(
                f"No agent handled conversation {', '.join(map(str, unhandled))}: there is nobody to review.",
                fields={"conversations": [f"No agent: {', '.join(map(str, unhandled))}."]},
            )
        reviewed = list(
            QaReview.objects.filter(form=form, conversation_id__in=ids).values_list("conversation_id", flat=True)
        )
        if reviewed:
            raise Invalid(
                f"Already in review on this form: {', '.join(map(str, sorted(reviewed)))}.",
                fields={"conversations": [f"Already in review: {', '.join(map(str, sorted(reviewed)))}."]},
            )
        return do_create_sample(
            form,
            SampleMode.TARGETED,
            [(i, int(reviewed_agent_of(found[i]) or 0)) for i in ids],  # every one has an agent (checked above)
            requested=len(ids),
            criteria={"conversations": ids},
            actor=actor,
        )


def do_create_sample(
    form: QaForm,
    mode: str,
    picked: Sequence[tuple[int, int]],
    *,
    requested: int,
    criteria: dict[str, Any],
    actor: Any,
) -> QaSample:
    """A sample and one pending review per ``(conversation id, agent id)``.

    Preconditions: the form is usable, every conversation has an agent and none
    is in review on this form yet (the unique constraint is the last word).
    """
    now = timezone.now()
    with transaction.atomic():
        sample = QaSample.objects.create(
            form=form, mode=mode, criteria=criteria, requested=requested, created_by=actor, created_at=now
        )
        QaReview.objects.bulk_create(
            [
                QaReview(sample=sample, form=form, conversation_id=pk, agent_id=agent_id, created_at=now)
                for pk, agent_id in picked
            ]
        )
    return sample


# --- Scoring -----------------------------------------------------------------------------------


def weighted_score(answers: list[dict[str, Any]]) -> tuple[float | None, bool]:
    """The weighted score (0 to 100) of scored answers, and whether a critical criterion failed.

    ``100 * sum(weight * points / max) / sum(weight)`` over the answers not marked N/A
    (``points`` ``None``); ``None`` when every answer is N/A. A critical answer
    with 0 points is a critical failure.
    """
    scored = [a for a in answers if a["points"] is not None]
    total_weight = sum(a["weight"] for a in scored)
    critical_failed = any(a["critical"] and a["points"] == 0 for a in scored)
    if not total_weight:
        return None, critical_failed
    earned = sum(a["weight"] * a["points"] / a["top"] for a in scored)
    return 100 * earned / total_weight, critical_failed


def _answer(criterion: QaCriterion, raw: Any) -> dict[str, Any]:
    """The criterion's snapshot with its points; raises ``Invalid`` naming the criterion's field."""
    field = f"criterion_{criterion.pk}"
    text = "" if raw is None else str(raw).strip()
    if text == NA:
        if not criterion.allow_na:
            raise Invalid(f"“{criterion.label}” cannot be N/A.", fields={field: ["Score it; N/A is not allowed."]})
        points = None
    else:
        try:
            points = int(text)
        except ValueError:
            raise Invalid(f"Score “{criterion.label}”.", fields={field: ["Required."]}) from None
        if not 0 <= points <= criterion.top:
            raise Invalid(
                f"“{criterion.label}” is scored 0 to {criterion.top}, not {points}.",
                fields={field: [f"Between 0 and {criterion.top}."]},
            )
    return {
        "criterion_id": criterion.pk,
        "label": criterion.label,
        "guidance": criterion.guidance,
        "weight": criterion.weight,
        "kind": criterion.kind,
        "top": criterion.top,
        "critical": criterion.critical,
        "allow_na": criterion.allow_na,
        "points": points,
    }


def check_score_review(actor: Any, review_id: int, scores: dict[int, Any], comment: str = "") -> QaReview:
    """Score a pending review: ``scores`` maps every criterion id of its form to points (or ``"na"``).

    Every criterion must be scored within its range (0 to max points, 0 or 1
    for pass/fail), N/A only where allowed; a criterion that is not on the form
    is refused. All problems are reported at once, and nothing is saved.
    """
    check_supervisor(actor, "score QA reviews")
    review = QaReview.objects.select_related("form", "conversation").filter(pk=review_id).first()
    if review is None:
        raise NotFound(f"QA review {review_id} not found.")
    if review.status != ReviewStatus.PENDING:
        raise Conflict("This review has been scored already; a submitted score is final.")
    if review.agent_id == getattr(actor, "pk", None):
        raise PermissionDenied("You cannot score a review of your own conversation.")
    criteria = list(review.form.criteria.all())
    unknown = set(scores) - {c.pk for c in criteria}
    if unknown:
        raise Invalid(
            "The form changed while you were scoring: reload the page.",
            fields={f"criterion_{pk}": ["Not on this form."] for pk in sorted(unknown)},
        )
    answers: list[dict[str, Any]] = []
    errors: dict[str, list[str]] = {}
    for criterion in criteria:
        try:
            answers.append(_answer(criterion, scores.get(criterion.pk)))
        except Invalid as error:
            errors.update(error.fields)
    if errors:
        raise Invalid(f"Score every criterion within its range ({len(errors)} to fix).", fields=errors)
    if weighted_score(answers)[0] is None:
        raise Invalid("Every criterion is N/A: score at least one.", fields={"form": ["Score at least one criterion."]})
    return do_submit_review(review, answers, reviewer=actor, comment=comment.strip())


def do_submit_review(review: QaReview, answers: list[dict[str, Any]], *, reviewer: Any, comment: str) -> QaReview:
    """Store the scored snapshot and its ``qa`` ledger row (value = score, agent = the agent reviewed).

    Preconditions: ``answers`` are validated snapshots of the form's criteria
    with at least one scored. The conditional update lets one of two reviewers
    submitting at once through; the other gets ``Conflict``.
    """
    raw, critical_failed = weighted_score(answers)
    assert raw is not None
    score = 0.0 if critical_failed else raw
    passed = not critical_failed and score >= review.form.pass_mark
    now = timezone.now()
    with transaction.atomic():
        updated = QaReview.objects.filter(pk=review.pk, status=ReviewStatus.PENDING).update(
            status=ReviewStatus.SUBMITTED,
            answers=answers,
            comment=comment,
            weighted_score=raw,
            score=score,
            passed=passed,
            critical_failed=critical_failed,
            reviewer=reviewer,
            submitted_at=now,
        )
        if updated != 1:
            raise Conflict("This review has been scored already; a submitted score is final.")
        review.refresh_from_db()
        record_event(
            EventKind.QA,
            at=now,
            conversation=review.conversation,
            agent=review.agent,
            value=score,
            data={
                "review_id": review.pk,
                "form": review.form.name,
                "reviewer_id": reviewer.pk,
                "passed": passed,
                "critical_failed": critical_failed,
            },
        )
    return review


# --- Training ----------------------------------------------------------------------------------


def check_assign_training(
    actor: Any,
    agent_id: int,
    topic: str,
    *,
    due_on: date | None = None,
    review_id: int | None = None,
    notes: str = "",
) -> TrainingRecord:
    check_supervisor(actor, "assign training")
    topic = topic.strip()
    if not topic:
        raise Invalid("Name the topic or course.", fields={"topic": ["Required."]})
    agent = get_user_model().objects.filter(pk=agent_id, agent_profile__isnull=False).first()
    if agent is None:
        raise Invalid(f"There is no agent with id {agent_id}.", fields={"agent": ["Choose an agent."]})
    if review_id is not None and not QaReview.objects.filter(pk=review_id, agent_id=agent_id).exists():
        raise Invalid(
            f"QA review {review_id} is not a review of this agent.", fields={"review": ["Not this agent's review."]}
        )
    return do_assign_training(agent, topic, due_on=due_on, review_id=review_id, notes=notes.strip(), actor=actor)


def do_assign_training(
    agent: Any, topic: str, *, due_on: date | None, review_id: int | None, notes: str, actor: Any
) -> TrainingRecord:
    return TrainingRecord.objects.create(
        agent=agent, topic=topic, due_on=due_on, review_id=review_id, notes=notes, assigned_by=actor
    )


def check_complete_training(actor: Any, record_id: int, *, completed_on: date | None = None) -> TrainingRecord:
    """Mark training completed (supervisors attest it: they ran or checked it)."""
    check_supervisor(actor, "record completed training")
    record = TrainingRecord.objects.filter(pk=record_id).first()
    if record is None:
        raise NotFound(f"Training record {record_id} not found.")
    return do_complete_training(record, completed_on or timezone.localdate())


def do_complete_training(record: TrainingRecord, completed_on: date) -> TrainingRecord:
    updated = TrainingRecord.objects.filter(Q(pk=record.pk), ~Q(status=TrainingStatus.COMPLETED)).update(
        status=TrainingStatus.COMPLETED, completed_on=completed_on
    )
    if updated != 1:
        raise Conflict("This training is recorded as completed already.")
    record.status, record.completed_on = TrainingStatus.COMPLETED, completed_on
    return record


__all__ = [
    "MAX_SAMPLE",
    "NA",
    "CriterionKind",
    "SampleFilter",
    "check_assign_training",
    "check_complete_training",
    "check_create_random_sample",
    "check_create_targeted_sample",
    "check_score_review",
    "weighted_score",
]
