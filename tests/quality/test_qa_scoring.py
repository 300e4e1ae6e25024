"""Scoring a review: the weighted maths on hand-computed examples, validation, finality and the snapshot.

The standard form (tests/qa_data.py), pass mark 80: Greeting 0-5 weight 1,
Resolution 0-10 weight 3, Compliance pass/fail weight 2 (critical), Upsell 0-4
weight 1 (N/A allowed). Score = 100 * sum(weight * points / max) / sum(weight)
over the criteria not marked N/A; a failed critical criterion makes it 0.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.errors import Conflict, Invalid, PermissionDenied
from core.models import Event, EventKind
from quality.actions import check_score_review, weighted_score
from quality.models import QaCriterion, QaReview, ReviewStatus
from reporting import kpis
from reporting.kpis import KpiFilter
from routing.models import Queue
from tests.qa_data import pending_review, resolved, scores, standard_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(make_post: Any, queue: Queue, agent: Any, supervisor: Any) -> QaReview:
    return pending_review(supervisor, standard_form(), resolved(make_post(), queue=queue, agent=agent))


def score(review: QaReview, supervisor: Any, comment: str = "", **points: Any) -> QaReview:
    return check_score_review(supervisor, review.pk, scores(review.form, **points), comment)


def test_it_weights_each_criterion_and_leaves_na_out(review: QaReview, supervisor: Any, agent: Any) -> None:
    # 100 * (1 * 4/5 + 3 * 7/10 + 2 * 1/1) / (1 + 3 + 2) = 100 * 4.9 / 6 = 81.666...
    scored = score(review, supervisor, "Good tone", Greeting=4, Resolution=7, Compliance=1, Upsell="na")

    assert scored.status == ReviewStatus.SUBMITTED
    assert scored.score == pytest.approx(490 / 6)
    assert scored.weighted_score == pytest.approx(490 / 6)
    assert scored.passed is True and scored.critical_failed is False
    assert (scored.reviewer, scored.comment, scored.agent) == (supervisor, "Good tone", agent)
    assert [(a["label"], a["weight"], a["points"]) for a in scored.answers] == [
        ("Greeting", 1, 4),
        ("Resolution", 3, 7),
        ("Compliance", 2, 1),
        ("Upsell", 1, None),
    ]


def test_an_applicable_criterion_counts_and_can_pull_the_score_under_the_pass_mark(
    review: QaReview, supervisor: Any
) -> None:
    # 100 * (0.8 + 2.1 + 2 + 1 * 2/4) / 7 = 540 / 7 = 77.14...
    scored = score(review, supervisor, Greeting=4, Resolution=7, Compliance=1, Upsell=2)
    assert scored.score == pytest.approx(540 / 7)
    assert scored.passed is False


def test_a_failed_critical_criterion_scores_zero_and_fails(review: QaReview, supervisor: Any) -> None:
    # Without the auto-fail: 100 * (1 + 3) / 6 = 66.67; with it, 0.
    scored = score(review, supervisor, Greeting=5, Resolution=10, Compliance=0, Upsell="na")
    assert scored.weighted_score == pytest.approx(400 / 6)
    assert (scored.score, scored.passed, scored.critical_failed) == (0.0, False, True)


def test_full_marks_are_100_and_the_pass_mark_itself_passes() -> None:
    def answer(weight: int, points: int | None, top: int, critical: bool = False) -> dict[str, Any]:
        return {"weight": weight, "points": points, "top": top, "critical": critical}

    assert weighted_score([answer(1, 5, 5), answer(3, 10, 10)]) == (100.0, False)
    # 100 * (2 * 4/5) / 2 = 80
    assert weighted_score([answer(2, 4, 5), answer(1, None, 4)]) == (pytest.approx(80.0), False)
    assert weighted_score([answer(1, None, 4)]) == (None, False)
    assert weighted_score([answer(1, 0, 1, critical=True)]) == (0.0, True)


def test_it_writes_one_qa_ledger_row_for_the_agent_reviewed(review: QaReview, supervisor: Any, agent: Any) -> None:
    scored = score(review, supervisor, Greeting=4, Resolution=7, Compliance=1, Upsell="na")

    row = Event.objects.get(kind=EventKind.QA)
    assert (row.agent, row.conversation_id, row.value, row.at) == (
        agent,
        review.conversation_id,
        pytest.approx(490 / 6),
        scored.submitted_at,
    )
    assert row.channel == review.conversation.channel and row.queue_id == review.conversation.queue_id
    assert row.data == {
        "review_id": review.pk,
        "form": "Standard",
        "reviewer_id": supervisor.pk,
        "passed": True,
        "critical_failed": False,
    }


@pytest.mark.parametrize(
    ("points", "field", "message"),
    [
        ({"Greeting": 6, "Resolution": 7, "Compliance": 1, "Upsell": 1}, "Greeting", "Between 0 and 5."),
        ({"Greeting": -1, "Resolution": 7, "Compliance": 1, "Upsell": 1}, "Greeting", "Between 0 and 5."),
        ({"Greeting": 4, "Resolution": 7, "Compliance": 2, "Upsell": 1}, "Compliance", "Between 0 and 1."),
        ({"Greeting": 4, "Compliance": 1, "Upsell": 1}, "Resolution", "Required."),
        ({"Greeting": "four", "Resolution": 7, "Compliance": 1, "Upsell": 1}, "Greeting", "Required."),
        ({"Greeting": "na", "Resolution": 7, "Compliance": 1, "Upsell": 1}, "Greeting", "N/A is not allowed."),
    ],
)
def test_every_criterion_must_be_scored_within_its_range(
    review: QaReview, supervisor: Any, points: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(Invalid) as refused:
        score(review, supervisor, **points)

    criterion = QaCriterion.objects.get(form=review.form, label=field)
    assert any(message in problem for problem in refused.value.fields[f"criterion_{criterion.pk}"])
    review.refresh_from_db()
    assert review.status == ReviewStatus.PENDING and review.score is None
    assert not Event.objects.filter(kind=EventKind.QA).exists()


def test_a_criterion_not_on_the_form_is_refused(review: QaReview, supervisor: Any) -> None:
    points = scores(review.form, Greeting=4, Resolution=7, Compliance=1, Upsell=1) | {999_999: 3}
    with pytest.raises(Invalid, match="form changed"):
        check_score_review(supervisor, review.pk, points)


def test_a_submitted_score_is_final(review: QaReview, supervisor: Any, admin_user: Any) -> None:
    score(review, supervisor, Greeting=4, Resolution=7, Compliance=1, Upsell=1)
    with pytest.raises(Conflict):
        score(review, admin_user, Greeting=0, Resolution=0, Compliance=1, Upsell=0)
    assert Event.objects.filter(kind=EventKind.QA).count() == 1


def test_only_supervisors_and_admins_score(review: QaReview, agent: Any, other_agent: Any, admin_user: Any) -> None:
    for user in (agent, other_agent):
        with pytest.raises(PermissionDenied):
            score(review, user, Greeting=4, Resolution=7, Compliance=1, Upsell=1)
    assert score(review, admin_user, Greeting=4, Resolution=7, Compliance=1, Upsell=1).reviewer == admin_user


def test_nobody_scores_their_own_conversation(make_post: Any, queue: Queue, supervisor: Any, admin_user: Any) -> None:
    own = pending_review(admin_user, standard_form(), resolved(make_post(), queue=queue, agent=supervisor))
    with pytest.raises(PermissionDenied, match="your own"):
        score(own, supervisor, Greeting=4, Resolution=7, Compliance=1, Upsell=1)


def test_editing_the_form_later_changes_no_past_score(review: QaReview, supervisor: Any, agent: Any) -> None:
    score(review, supervisor, Greeting=4, Resolution=7, Compliance=1, Upsell="na")
    form = review.form
    QaCriterion.objects.filter(form=form, label="Resolution").update(weight=10, max_points=20)
    QaCriterion.objects.filter(form=form, label="Greeting").delete()
    QaCriterion.objects.create(form=form, label="Empathy", weight=5, max_points=3)

    review.refresh_from_db()
    assert review.score == pytest.approx(490 / 6)
    assert [(a["label"], a["weight"], a["top"]) for a in review.answers] == [
        ("Greeting", 1, 5),
        ("Resolution", 3, 10),
        ("Compliance", 2, 1),
        ("Upsell", 1, 4),
    ]
    assert review.submitted_at is not None
    hour = timedelta(hours=1)
    (figures,) = kpis.quality(KpiFilter(review.submitted_at - hour, review.submitted_at + hour))
    assert figures["mean_score"] == pytest.approx(490 / 6)
