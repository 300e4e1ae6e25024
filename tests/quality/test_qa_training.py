"""Training records: supervisors assign (optionally from a QA review) and record completion; they show on scorecards."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.errors import Conflict, Invalid, PermissionDenied
from quality.actions import check_assign_training, check_complete_training, check_score_review
from quality.models import QaReview, TrainingRecord, TrainingStatus
from routing.models import Queue
from tests.qa_data import pending_review, resolved, scores, standard_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(make_post: Any, queue: Queue, agent: Any, supervisor: Any) -> QaReview:
    review = pending_review(supervisor, standard_form(), resolved(make_post(), queue=queue, agent=agent))
    points = scores(review.form, Greeting=1, Resolution=3, Compliance=0, Upsell="na")
    return check_score_review(supervisor, review.pk, points, "Gave out the customer's address publicly")


def test_a_supervisor_assigns_training_from_a_review_and_it_shows_on_the_scorecard(
    client: Client, supervisor: Any, agent: Any, scored: QaReview
) -> None:
    client.force_login(supervisor)
    response = client.post(
        reverse("qa-training-assign", args=[agent.pk]),
        {"topic": "Privacy on public channels", "due_on": "2026-12-18", "review": scored.pk, "notes": "Module 3"},
    )
    assert response.status_code == 302
    record = TrainingRecord.objects.get()
    assert (record.agent, record.topic, record.status, record.due_on, record.review, record.assigned_by) == (
        agent,
        "Privacy on public channels",
        TrainingStatus.ASSIGNED,
        date(2026, 12, 18),
        scored,
        supervisor,
    )
    page = client.get(reverse("qa-scorecard", args=[agent.pk])).content.decode()
    assert "Privacy on public channels" in page and f"QA review #{scored.pk}" in page and "Assigned" in page

    # The agent sees it on their own scorecard.
    client.force_login(agent)
    assert "Privacy on public channels" in client.get(reverse("qa-scorecard", args=[agent.pk])).content.decode()


def test_completing_training_records_the_day_once(client: Client, supervisor: Any, agent: Any) -> None:
    record = check_assign_training(supervisor, agent.pk, "De-escalation")
    client.force_login(supervisor)
    response = client.post(reverse("qa-training-complete", args=[record.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("qa-scorecard", args=[agent.pk])
    record.refresh_from_db()
    assert (record.status, record.completed_on) == (TrainingStatus.COMPLETED, timezone.localdate())
    assert client.post(reverse("qa-training-complete", args=[record.pk])).status_code == 409
    with pytest.raises(Conflict):
        check_complete_training(supervisor, record.pk)


def test_agents_neither_assign_nor_complete_training(client: Client, supervisor: Any, agent: Any) -> None:
    record = check_assign_training(supervisor, agent.pk, "De-escalation")
    with pytest.raises(PermissionDenied):
        check_assign_training(agent, agent.pk, "Self-taught")
    client.force_login(agent)
    assert client.post(reverse("qa-training-complete", args=[record.pk])).status_code == 403
    record.refresh_from_db()
    assert record.status == TrainingStatus.ASSIGNED


def test_training_needs_a_topic_and_a_review_of_the_same_agent(
    client: Client, supervisor: Any, other_agent: Any, scored: QaReview
) -> None:
    with pytest.raises(Invalid, match="Name the topic"):
        check_assign_training(supervisor, other_agent.pk, "  ")
    with pytest.raises(Invalid, match="not a review of this agent"):
        check_assign_training(supervisor, other_agent.pk, "Privacy", review_id=scored.pk)
    with pytest.raises(Invalid, match="no agent with id"):
        check_assign_training(supervisor, 987654, "Privacy")

    client.force_login(supervisor)
    response = client.post(
        reverse("qa-training-assign", args=[other_agent.pk]), {"topic": "Privacy", "review": scored.pk}
    )
    assert response.status_code == 400
    assert "not a review of this agent" in response.content.decode()
    assert 'value="Privacy"' in response.content.decode()
    assert not TrainingRecord.objects.exists()
