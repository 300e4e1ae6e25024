"""The QA pages: who may open them (agents get 403), the review queue, drawing a sample and scoring in HTML."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.models import Conversation
from quality.models import QaForm, QaReview, ReviewStatus, TrainingRecord
from routing.models import Queue
from tests.qa_data import criterion, pending_review, resolved, standard_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def form(db: None) -> QaForm:
    return standard_form()


@pytest.fixture
def conversation(make_post: Any, queue: Queue, agent: Any) -> Conversation:
    return resolved(make_post(text="Router down since Monday, third time I write"), queue=queue, agent=agent)


@pytest.fixture
def review(supervisor: Any, form: QaForm, conversation: Conversation) -> QaReview:
    return pending_review(supervisor, form, conversation)


def as_user(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def good_scores(form: QaForm, **extra: str) -> dict[str, str]:
    return {
        f"criterion_{criterion(form, 'Greeting')}": "4",
        f"criterion_{criterion(form, 'Resolution')}": "7",
        f"criterion_{criterion(form, 'Compliance')}": "1",
        f"criterion_{criterion(form, 'Upsell')}": "na",
        "comment": "Clear and kind.",
        **extra,
    }


# --- Who may open what ---------------------------------------------------------------------------


def test_agents_get_403_on_every_review_page(client: Client, agent: Any, review: QaReview, form: QaForm) -> None:
    as_user(client, agent)
    assert client.get(reverse("qa")).status_code == 403
    assert client.get(reverse("qa-sample-new")).status_code == 403
    assert client.post(reverse("qa-sample-new"), {"form": form.pk}).status_code == 403
    assert client.get(reverse("qa-review", args=[review.pk])).status_code == 403
    assert client.post(reverse("qa-review", args=[review.pk]), good_scores(form)).status_code == 403
    assert client.post(reverse("qa-training-assign", args=[agent.pk]), {"topic": "Self-taught"}).status_code == 403
    review.refresh_from_db()
    assert review.status == ReviewStatus.PENDING
    assert not TrainingRecord.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client: Client, review: QaReview) -> None:
    for url in (reverse("qa"), reverse("qa-review", args=[review.pk]), reverse("qa-scorecards")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("persona", ["supervisor", "admin_user"])
def test_supervisors_and_admins_open_the_qa_pages(
    request: pytest.FixtureRequest, client: Client, persona: str, review: QaReview
) -> None:
    as_user(client, request.getfixturevalue(persona))
    for url in (reverse("qa"), reverse("qa-sample-new"), reverse("qa-review", args=[review.pk])):
        assert client.get(url).status_code == 200, url
    assert client.get(reverse("qa-scorecards")).status_code == 200


def test_the_navigation_links_qa_for_supervisors_and_the_own_scorecard_for_agents(
    client: Client, supervisor: Any, agent: Any
) -> None:
    page = as_user(client, supervisor).get(reverse("inbox")).content.decode()
    assert f'href="{reverse("qa")}"' in page and ">Scorecards<" in page
    page = as_user(Client(), agent).get(reverse("inbox")).content.decode()
    assert f'href="{reverse("qa")}"' not in page and ">My scorecard<" in page


# --- The queue and a new sample ----------------------------------------------------------------


def test_the_queue_lists_reviews_to_score_and_recent_ones(client: Client, supervisor: Any, review: QaReview) -> None:
    page = as_user(client, supervisor).get(reverse("qa")).content.decode()
    assert f'href="{reverse("qa-review", args=[review.pk])}"' in page
    assert "Ana" in page and "Nothing to score" not in page


def test_a_random_sample_is_drawn_from_the_form(
    client: Client, supervisor: Any, form: QaForm, conversation: Conversation
) -> None:
    today = timezone.localdate().isoformat()
    data = {"form": form.pk, "mode": "random", "size": "5", "start": today, "end": today}
    response = as_user(client, supervisor).post(reverse("qa-sample-new"), data)
    assert response.status_code == 302 and response["Location"] == reverse("qa")
    assert list(QaReview.objects.values_list("conversation_id", flat=True)) == [conversation.pk]
    assert "Sample drawn: 1 of 5 conversations to review." in client.get(reverse("qa")).content.decode()


def test_a_targeted_sample_takes_the_ids_typed(
    client: Client, supervisor: Any, form: QaForm, conversation: Conversation
) -> None:
    today = timezone.localdate().isoformat()
    data = {"form": form.pk, "mode": "targeted", "conversations": f"#{conversation.pk}", "start": today, "end": today}
    assert as_user(client, supervisor).post(reverse("qa-sample-new"), data).status_code == 302
    assert QaReview.objects.get().conversation == conversation


def test_a_refused_sample_shows_why_and_keeps_the_input(client: Client, supervisor: Any, form: QaForm) -> None:
    today = timezone.localdate().isoformat()
    data = {"form": form.pk, "mode": "targeted", "conversations": "424242, 7x", "start": today, "end": today}
    response = as_user(client, supervisor).post(reverse("qa-sample-new"), data)
    assert response.status_code == 400
    assert "Not a conversation id: 7x." in response.content.decode()
    assert 'value="424242, 7x"' in response.content.decode()

    data["conversations"] = "424242"
    response = client.post(reverse("qa-sample-new"), data)
    assert response.status_code == 400
    assert "No conversation has the id 424242." in response.content.decode()
    assert not QaReview.objects.exists()


# --- Scoring in the browser's HTML -------------------------------------------------------------


def test_the_review_page_shows_the_thread_beside_the_scoring_form(
    client: Client, supervisor: Any, review: QaReview
) -> None:
    page = as_user(client, supervisor).get(reverse("qa-review", args=[review.pk])).content.decode()
    assert "Router down since Monday, third time I write" in page  # the thread partial
    assert "We&#x27;re on it." in page  # the agent's reply
    for label in ("Greeting", "Resolution", "Compliance", "Upsell"):
        assert label in page
    assert f'name="criterion_{criterion(review.form, "Compliance")}"' in page
    assert ">Pass<" in page and ">N/A<" in page and ">10 / 10<" in page


def test_scoring_stores_the_score_and_shows_the_result(client: Client, supervisor: Any, review: QaReview) -> None:
    url = reverse("qa-review", args=[review.pk])
    response = as_user(client, supervisor).post(url, good_scores(review.form))
    assert response.status_code == 302 and response["Location"] == url
    review.refresh_from_db()
    assert review.status == ReviewStatus.SUBMITTED and review.score == pytest.approx(490 / 6)
    page = client.get(url).content.decode()
    assert f"Review #{review.pk} scored: 81.7 (passed)." in page
    assert "<span data-score>81.7</span>" in page and "Clear and kind." in page


def test_a_refused_score_keeps_what_was_entered(client: Client, supervisor: Any, review: QaReview) -> None:
    greeting = f"criterion_{criterion(review.form, 'Greeting')}"
    data = good_scores(review.form, **{f"criterion_{criterion(review.form, 'Resolution')}": ""})
    response = as_user(client, supervisor).post(reverse("qa-review", args=[review.pk]), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Score every criterion within its range (1 to fix)." in page
    assert f'<select name="{greeting}"' in page and '<option value="4" selected>' in page
    assert "Clear and kind." in page
    review.refresh_from_db()
    assert review.status == ReviewStatus.PENDING


def test_a_second_submission_is_a_409(client: Client, supervisor: Any, admin_user: Any, review: QaReview) -> None:
    url = reverse("qa-review", args=[review.pk])
    as_user(client, supervisor).post(url, good_scores(review.form))
    response = as_user(Client(), admin_user).post(url, good_scores(review.form))
    assert response.status_code == 409
    assert "a submitted score is final" in response.content.decode()


def test_an_unknown_review_is_404(client: Client, supervisor: Any) -> None:
    assert as_user(client, supervisor).get(reverse("qa-review", args=[987654])).status_code == 404
