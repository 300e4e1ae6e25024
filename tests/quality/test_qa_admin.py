"""QA forms are edited in the admin with their criteria inline: weights above 0, and criteria before going active."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from quality.models import QaCriterion, QaForm

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_supervisor(client: Client, supervisor: Any) -> Client:
    client.force_login(supervisor)  # supervisors manage QA forms (core.roles)
    return client


def form_data(*criteria: dict[str, Any], active: bool = True, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Social care",
        "description": "Public replies",
        "pass_mark": "80",
        "criteria-TOTAL_FORMS": str(len(criteria)),
        "criteria-INITIAL_FORMS": "0",
        "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "1000",
        **fields,
    }
    if active:
        data["active"] = "on"
    for index, criterion in enumerate(criteria):
        row = {"position": "1", "label": "Tone", "weight": "2", "kind": "points", "max_points": "5", **criterion}
        data.update({f"criteria-{index}-{key}": value for key, value in row.items()})
    return data


def test_a_form_with_weighted_criteria_is_saved(as_supervisor: Client) -> None:
    response = as_supervisor.post(
        reverse("admin:quality_qaform_add"),
        form_data({"label": "Tone"}, {"label": "Compliance", "kind": "pass_fail", "critical": "on", "weight": "3"}),
    )
    assert response.status_code == 302, response.content.decode()
    form = QaForm.objects.get()
    assert form.active
    assert [(c.label, c.weight, c.kind, c.critical) for c in form.criteria.order_by("id")] == [
        ("Tone", 2, "points", False),
        ("Compliance", 3, "pass_fail", True),
    ]


@pytest.mark.parametrize("weight", ["0", "-1"])
def test_a_weight_of_zero_or_less_is_refused(as_supervisor: Client, weight: str) -> None:
    response = as_supervisor.post(reverse("admin:quality_qaform_add"), form_data({"weight": weight}))
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to" in response.content.decode()
    assert not QaForm.objects.exists() and not QaCriterion.objects.exists()


def test_max_points_of_zero_is_refused(as_supervisor: Client) -> None:
    response = as_supervisor.post(reverse("admin:quality_qaform_add"), form_data({"max_points": "0"}))
    assert response.status_code == 200
    assert not QaForm.objects.exists()


def test_an_active_form_without_criteria_is_refused(as_supervisor: Client) -> None:
    response = as_supervisor.post(reverse("admin:quality_qaform_add"), form_data())
    assert response.status_code == 200
    assert "Add at least one criterion before making the form active." in response.content.decode()
    assert not QaForm.objects.exists()


def test_an_inactive_draft_may_have_no_criteria_yet(as_supervisor: Client) -> None:
    response = as_supervisor.post(reverse("admin:quality_qaform_add"), form_data(active=False))
    assert response.status_code == 302
    assert QaForm.objects.get().active is False


def test_deleting_the_last_criterion_of_an_active_form_is_refused(as_supervisor: Client) -> None:
    form = QaForm.objects.create(name="Social care", active=True)
    only = QaCriterion.objects.create(form=form, label="Tone", weight=1)
    data = form_data(active=True)
    data.update(
        {
            "criteria-TOTAL_FORMS": "1",
            "criteria-INITIAL_FORMS": "1",
            "criteria-0-id": str(only.pk),
            "criteria-0-form": str(form.pk),
            "criteria-0-position": "1",
            "criteria-0-label": "Tone",
            "criteria-0-weight": "1",
            "criteria-0-kind": "points",
            "criteria-0-max_points": "5",
            "criteria-0-DELETE": "on",
        }
    )
    response = as_supervisor.post(reverse("admin:quality_qaform_change", args=[form.pk]), data)
    assert response.status_code == 200
    assert "Add at least one criterion" in response.content.decode()
    assert QaCriterion.objects.filter(pk=only.pk).exists()


def test_agents_cannot_open_qa_forms_in_the_admin(client: Client, agent: Any) -> None:
    client.force_login(agent)
    response = client.get(reverse("admin:quality_qaform_changelist"))
    assert response.status_code == 302  # agents are not staff: the admin sends them to its login
