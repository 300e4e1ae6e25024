"""Queues, skills, routing rules, templates and knowledge over /api/v1/: the admin's validation, 409 on delete."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.actions import do_set_agent_skill
from agents.models import AgentProfile
from core.models import Conversation
from monitoring.models import ClassificationRule
from responses.models import KnowledgeArticle, ResponseTemplate
from routing.models import Queue, QueueSkill, RoutingRule, Skill
from tests.states import conversation_in_state


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def assert_invalid(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    body: dict[str, Any] = response.json()
    assert body["code"] == "invalid"
    assert field in body["fields"], body
    return body


@pytest.fixture
def billing(db: None) -> Skill:
    return Skill.objects.create(name="billing")


# --- Queues -----------------------------------------------------------------------------------------


def test_an_admin_creates_a_queue_with_skills_an_agent_has(admin_user: Any, agent: Any, billing: Skill) -> None:
    do_set_agent_skill(AgentProfile.objects.get(user=agent), billing.pk, 6)

    response = api(admin_user).post(
        "/api/v1/queues/",
        {"name": "Billing", "mode": "pull", "skills": [{"skill": billing.pk, "min_level": 5}]},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Billing" and body["mode"] == "pull"
    assert body["skills"] == [{"skill": {"id": billing.pk, "name": "billing"}, "min_level": 5}]
    assert QueueSkill.objects.get(queue_id=body["id"]).min_level == 5


def test_a_queue_nobody_could_serve_is_400_on_skills(admin_user: Any, agent: Any, billing: Skill) -> None:
    do_set_agent_skill(AgentProfile.objects.get(user=agent), billing.pk, 3)

    response = api(admin_user).post(
        "/api/v1/queues/", {"name": "Billing", "skills": [{"skill": billing.pk, "min_level": 5}]}, format="json"
    )

    body = assert_invalid(response, "skills")
    assert "nobody could ever serve this queue" in body["fields"]["skills"][0]
    assert not Queue.objects.filter(name="Billing").exists()


def test_a_move_breach_action_without_a_breach_queue_is_400_on_breach_queue(admin_user: Any, queue: Queue) -> None:
    response = api(admin_user).patch(f"/api/v1/queues/{queue.pk}/", {"breach_action": "move"}, format="json")

    body = assert_invalid(response, "breach_queue")
    assert body["fields"]["breach_queue"] == ["Choose the queue breached items move to."]
    queue.refresh_from_db()
    assert queue.breach_action == "escalate"


def test_patch_changes_only_the_fields_given(admin_user: Any, queue: Queue) -> None:
    response = api(admin_user).patch(f"/api/v1/queues/{queue.pk}/", {"priority": 7}, format="json")

    assert response.status_code == 200, response.content
    queue.refresh_from_db()
    assert (queue.priority, queue.name, queue.is_default, queue.sla_policy is not None) == (7, "General", True, True)


def test_a_second_default_queue_is_refused(admin_user: Any, queue: Queue) -> None:
    response = api(admin_user).post("/api/v1/queues/", {"name": "Other", "is_default": True}, format="json")

    assert response.status_code == 400
    assert Queue.objects.filter(is_default=True).count() == 1


def test_deleting_a_queue_with_conversations_is_409(admin_user: Any, agent: Any, queue: Queue, make_post: Any) -> None:
    conversation_in_state("queued", make_post(), queue=queue, agent=agent)

    response = api(admin_user).delete(f"/api/v1/queues/{queue.pk}/")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert "1 conversations" in response.json()["message"]
    assert Conversation.objects.get().queue_id == queue.pk


def test_deleting_an_unused_queue_is_204(admin_user: Any) -> None:
    spare = Queue.objects.create(name="Spare")

    response = api(admin_user).delete(f"/api/v1/queues/{spare.pk}/")

    assert response.status_code == 204
    assert not Queue.objects.filter(pk=spare.pk).exists()


def test_agents_read_queues_but_may_not_change_them(agent: Any, supervisor: Any, queue: Queue) -> None:
    assert api(agent).get("/api/v1/queues/").json()["results"][0]["name"] == "General"
    assert api(agent).patch(f"/api/v1/queues/{queue.pk}/", {"priority": 1}, format="json").status_code == 403
    assert api(supervisor).delete(f"/api/v1/queues/{queue.pk}/").status_code == 403


def test_a_missing_queue_is_404_in_the_error_shape(admin_user: Any) -> None:
    response = api(admin_user).get("/api/v1/queues/987654/")

    assert response.status_code == 404
    assert set(response.json()) == {"code", "message", "fields"}


# --- Skills -----------------------------------------------------------------------------------------


def test_a_duplicate_skill_name_is_400_on_name(admin_user: Any, billing: Skill) -> None:
    assert_invalid(api(admin_user).post("/api/v1/skills/", {"name": "billing"}, format="json"), "name")


def test_deleting_a_skill_an_agent_has_is_409(admin_user: Any, agent: Any, billing: Skill) -> None:
    do_set_agent_skill(AgentProfile.objects.get(user=agent), billing.pk, 4)

    response = api(admin_user).delete(f"/api/v1/skills/{billing.pk}/")

    assert response.status_code == 409
    assert "1 agents" in response.json()["message"]
    assert Skill.objects.filter(pk=billing.pk).exists()


# --- Routing rules ----------------------------------------------------------------------------------


def test_an_admin_creates_a_routing_rule(admin_user: Any, queue: Queue, billing: Skill) -> None:
    response = api(admin_user).post(
        "/api/v1/routing-rules/",
        {
            "name": "Angry",
            "sentiment": "negative",
            "queue": queue.pk,
            "extra_skills": [billing.pk],
            "priority_boost": 10,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    rule = RoutingRule.objects.get()
    assert (rule.sentiment, rule.priority_boost, list(rule.extra_skills.all())) == ("negative", 10, [billing])
    assert response.json()["extra_skills"] == [{"id": billing.pk, "name": "billing"}]


def test_a_rule_whose_minimum_priority_is_above_its_maximum_is_400_naming_the_field(
    admin_user: Any, queue: Queue
) -> None:
    response = api(admin_user).post(
        "/api/v1/routing-rules/",
        {"name": "Never", "queue": queue.pk, "min_priority": 70, "max_priority": 50},
        format="json",
    )

    body = assert_invalid(response, "min_priority")
    assert "can never match" in body["fields"]["min_priority"][0]
    assert not RoutingRule.objects.exists()


def test_a_rule_on_a_category_no_classification_rule_sets_is_400_on_category(admin_user: Any, queue: Queue) -> None:
    ClassificationRule.objects.create(name="Old", keywords=["warranty"], category="warranty", enabled=False)

    response = api(admin_user).post(
        "/api/v1/routing-rules/", {"name": "Warranty", "queue": queue.pk, "category": "warranty"}, format="json"
    )

    assert_invalid(response, "category")


def test_a_rule_on_a_missing_queue_is_400_on_queue(admin_user: Any, db: None) -> None:
    assert_invalid(api(admin_user).post("/api/v1/routing-rules/", {"name": "X", "queue": 999}, format="json"), "queue")


def test_supervisors_may_not_read_routing_rules(supervisor: Any, queue: Queue) -> None:
    assert api(supervisor).get("/api/v1/routing-rules/").status_code == 403


# --- Templates and knowledge ------------------------------------------------------------------------


def test_a_supervisor_manages_templates_and_agents_see_only_active_ones(supervisor: Any, agent: Any) -> None:
    created = api(supervisor).post(
        "/api/v1/templates/", {"name": "Refund", "shortcut": "refund", "body": "Hi {customer_name}"}, format="json"
    )
    assert created.status_code == 201, created.content
    ResponseTemplate.objects.create(name="Old", shortcut="old", body="Old", is_active=False)

    listed = api(agent).get("/api/v1/templates/").json()["results"]

    assert [t["shortcut"] for t in listed] == ["refund"]
    assert {t["shortcut"] for t in api(supervisor).get("/api/v1/templates/").json()["results"]} == {"refund", "old"}


def test_a_bad_shortcut_is_400_and_agents_may_not_write(supervisor: Any, agent: Any) -> None:
    assert_invalid(
        api(supervisor).post("/api/v1/templates/", {"name": "A", "shortcut": "Bad One", "body": "x"}, format="json"),
        "shortcut",
    )
    body = {"name": "A", "shortcut": "a", "body": "x"}
    assert api(agent).post("/api/v1/templates/", body, format="json").status_code == 403


def test_templates_for_a_conversation_are_rendered_for_it(agent: Any, queue: Queue, make_post: Any) -> None:
    conversation = conversation_in_state("assigned", make_post(name="Dana White"), queue=queue, agent=agent)
    ResponseTemplate.objects.create(name="Sorry", shortcut="sorry", body="Sorry {customer_first_name}!")
    other = Queue.objects.create(name="Other")
    ResponseTemplate.objects.create(name="Elsewhere", shortcut="elsewhere", body="x", queue=other)

    response = api(agent).get(f"/api/v1/conversations/{conversation.pk}/templates/", {"q": "/so"})

    assert response.status_code == 200
    assert response.json() == [{"shortcut": "sorry", "name": "Sorry", "text": "Sorry Dana!"}]


def test_knowledge_search_and_publishing(supervisor: Any, agent: Any) -> None:
    KnowledgeArticle.objects.create(title="Router reset", body="Hold the button for 10 s.")
    KnowledgeArticle.objects.create(title="Refunds", body="Within 14 days.")
    KnowledgeArticle.objects.create(title="Router draft", body="Unpublished.", is_published=False)

    found = api(agent).get("/api/v1/knowledge/", {"q": "router"}).json()["results"]
    created = api(supervisor).post(
        "/api/v1/knowledge/", {"title": "Outages", "body": "Check the status page.", "tags": ["outage"]}, format="json"
    )

    assert [a["title"] for a in found] == ["Router reset"]
    assert created.status_code == 201, created.content
    assert KnowledgeArticle.objects.get(title="Outages").tags == ["outage"]
    assert api(agent).delete(f"/api/v1/knowledge/{created.json()['id']}/").status_code == 403
    assert api(supervisor).delete(f"/api/v1/knowledge/{created.json()['id']}/").status_code == 204


def test_a_search_with_a_nul_character_is_400(agent: Any) -> None:
    assert_invalid(api(agent).get("/api/v1/knowledge/", {"q": "a\x00b"}), "q")
