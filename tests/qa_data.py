"""QA test data: a form with hand-checkable weights, and resolved conversations built through the actions."""

from __future__ import annotations

from typing import Any

from core.models import Conversation
from core.models import ConversationState as S
from core.posts import InboundPost
from quality.actions import SampleFilter, check_create_targeted_sample
from quality.models import CriterionKind, QaCriterion, QaForm, QaReview
from tests.states import conversation_in_state


def standard_form(name: str = "Standard") -> QaForm:
    """Pass mark 80. Greeting (0-5, weight 1), Resolution (0-10, weight 3), Compliance (pass/fail, weight 2,
    critical), Upsell (0-4, weight 1, N/A allowed)."""
    form = QaForm.objects.create(name=name, pass_mark=80)
    QaCriterion.objects.create(form=form, position=1, label="Greeting", weight=1, max_points=5)
    QaCriterion.objects.create(form=form, position=2, label="Resolution", weight=3, max_points=10)
    QaCriterion.objects.create(
        form=form, position=3, label="Compliance", weight=2, kind=CriterionKind.PASS_FAIL, critical=True
    )
    QaCriterion.objects.create(form=form, position=4, label="Upsell", weight=1, max_points=4, allow_na=True)
    QaForm.objects.filter(pk=form.pk).update(active=True)
    form.refresh_from_db()
    return form


def criterion(form: QaForm, label: str) -> int:
    return QaCriterion.objects.get(form=form, label=label).pk


def scores(form: QaForm, **points: Any) -> dict[int, Any]:
    """``scores(form, Greeting=4, Upsell="na")`` → {criterion id: points}."""
    return {criterion(form, label): value for label, value in points.items()}


def resolved(post: InboundPost, *, queue: Any, agent: Any) -> Conversation:
    return conversation_in_state(S.RESOLVED, post, queue=queue, agent=agent)


def pending_review(supervisor: Any, form: QaForm, conversation: Conversation) -> QaReview:
    sample = check_create_targeted_sample(supervisor, form.pk, [conversation.pk])
    return sample.reviews.get()


__all__ = ["SampleFilter"]
