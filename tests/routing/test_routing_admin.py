"""Routing configuration in the admin: what can never work is refused with a reason; the preview stores nothing."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agents.actions import do_set_agent_skill
from agents.models import AgentSkill
from core.models import Contact, Conversation, Event, Identity, Message
from monitoring.models import ClassificationRule
from routing.models import Queue, QueueSkill, RoutingRule, Skill

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_admin(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def legal(db: None) -> Skill:
    return Skill.objects.create(name="legal")


@pytest.fixture
def spanish(db: None) -> Skill:
    return Skill.objects.create(name="spanish")


def page_text(response: Any) -> str:
    return html.unescape(response.content.decode())


# --- Queues --------------------------------------------------------------------------------------


def queue_form(name: str, requirements: list[tuple[Skill, int]]) -> dict[str, str]:
    data = {
        "name": name,
        "description": "",
        "priority": "0",
        "sla_policy": "",
        "mode": "push",
        "route_mode": "assign",
        "offer_seconds": "20",
        "offer_timeouts_before_away": "2",
        "sticky_window_hours": "72",
        "sticky_wait_seconds": "120",
        "breach_action": "none",
        "breach_queue": "",
        "requeue_on_agent_timeout": "on",
        "skill_requirements-TOTAL_FORMS": str(len(requirements)),
        "skill_requirements-INITIAL_FORMS": "0",
        "overflow_steps-TOTAL_FORMS": "0",
        "overflow_steps-INITIAL_FORMS": "0",
    }
    for index, (skill, level) in enumerate(requirements):
        data |= {
            f"skill_requirements-{index}-skill": str(skill.pk),
            f"skill_requirements-{index}-min_level": str(level),
        }
    return data


@pytest.fixture
def trained(agent: Any, other_agent: Any, legal: Skill, spanish: Skill) -> None:
    do_set_agent_skill(agent.agent_profile, legal.pk, 7)
    do_set_agent_skill(other_agent.agent_profile, legal.pk, 3)
    do_set_agent_skill(other_agent.agent_profile, spanish.pk, 9)


def test_a_queue_requiring_a_level_no_agent_has_is_refused(
    as_admin: Client, trained: None, legal: Skill, spanish: Skill
) -> None:
    response = as_admin.post(reverse("admin:routing_queue_add"), queue_form("Legal", [(legal, 8)]))

    assert response.status_code == 200
    assert "No agent has legal ≥ 8: nobody could ever serve this queue." in page_text(response)
    assert not Queue.objects.filter(name="Legal").exists()


def test_a_queue_requiring_skills_no_single_agent_combines_is_refused(
    as_admin: Client, trained: None, legal: Skill, spanish: Skill
) -> None:
    response = as_admin.post(reverse("admin:routing_queue_add"), queue_form("Legal ES", [(legal, 7), (spanish, 1)]))

    assert "No agent has legal ≥ 7 and spanish ≥ 1" in page_text(response)
    assert not Queue.objects.filter(name="Legal ES").exists()


def test_a_queue_some_agent_can_serve_is_saved(as_admin: Client, trained: None, legal: Skill) -> None:
    response = as_admin.post(reverse("admin:routing_queue_add"), queue_form("Legal", [(legal, 7)]))

    assert response.status_code == 302
    assert QueueSkill.objects.filter(queue__name="Legal", skill=legal, min_level=7).exists()


# --- Routing rules -------------------------------------------------------------------------------


def rule_form(queue: Queue, **fields: str) -> dict[str, str]:
    return {
        "order": "10",
        "name": "Legal threats",
        "enabled": "on",
        "channel": "",
        "account": "",
        "listening_query": "",
        "category": "",
        "language": "",
        "sentiment": "",
        "min_priority": "",
        "max_priority": "",
        "contact_vip": "unknown",
        "contact_tag": "",
        "queue": str(queue.pk),
        "extra_skill_level": "1",
        "priority_boost": "0",
    } | fields


def test_a_rule_whose_minimum_priority_is_above_its_maximum_is_refused(as_admin: Client, queue: Queue) -> None:
    response = as_admin.post(
        reverse("admin:routing_routingrule_add"), rule_form(queue, min_priority="70", max_priority="50")
    )

    assert "This rule can never match: its minimum priority is above its maximum." in page_text(response)
    assert not RoutingRule.objects.exists()


def test_a_rule_on_a_category_no_classification_rule_sets_is_refused(as_admin: Client, queue: Queue) -> None:
    ClassificationRule.objects.create(
        name="Old warranty rule", keywords=["warranty"], category="warranty", enabled=False
    )

    response = as_admin.post(reverse("admin:routing_routingrule_add"), rule_form(queue, category="warranty"))

    assert "No enabled classification rule sets the category 'warranty'" in page_text(response)
    assert not RoutingRule.objects.exists()

    ClassificationRule.objects.create(name="Warranty", keywords=["warranty"], category="warranty")
    response = as_admin.post(reverse("admin:routing_routingrule_add"), rule_form(queue, category="warranty"))
    assert response.status_code == 302 and RoutingRule.objects.get().category == "warranty"


# --- Agent skills --------------------------------------------------------------------------------


def skill_form(agent: Any, skill: Skill, level: int) -> dict[str, str]:
    profile = agent.agent_profile
    return {
        "team": str(profile.team_id or ""),
        "capacity": str(profile.capacity),
        "skills-TOTAL_FORMS": "1",
        "skills-INITIAL_FORMS": "0",
        "skills-0-agent": str(profile.pk),
        "skills-0-skill": str(skill.pk),
        "skills-0-level": str(level),
    }


def test_an_agent_skill_level_above_10_is_refused(as_admin: Client, agent: Any, legal: Skill) -> None:
    url = reverse("admin:agents_agentprofile_change", args=[agent.agent_profile.pk])

    response = as_admin.post(url, skill_form(agent, legal, 11))

    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 10." in page_text(response)
    assert not AgentSkill.objects.exists()

    assert as_admin.post(url, skill_form(agent, legal, 10)).status_code == 302
    assert AgentSkill.objects.get().level == 10


# --- Preview -------------------------------------------------------------------------------------


def test_the_preview_shows_where_a_post_would_go_and_stores_nothing(as_admin: Client, queue: Queue) -> None:
    billing = Skill.objects.create(name="billing")
    ClassificationRule.objects.create(name="Invoices", keywords=["invoice"], category="billing")
    billing_queue = Queue.objects.create(name="Billing")
    rule = RoutingRule.objects.create(
        name="Billing questions", category="billing", queue=billing_queue, extra_skill_level=6, priority_boost=15
    )
    rule.extra_skills.set([billing])
    url = reverse("admin:monitoring_classificationrule_preview")
    assert as_admin.get(url).status_code == 200

    response = as_admin.post(
        url,
        {
            "text": "Where is my invoice for March?",
            "channel": "x_public",
            "account": "",
            "author_handle": "dana",
            "followers": "100",
            "language": "",
        },
    )

    text = page_text(response)
    assert "<th>Routing rule</th><td>Billing questions</td>" in text
    assert "<th>Queue</th><td>Billing</td>" in text
    assert "<th>Required skills</th><td>billing ≥ 6</td>" in text
    assert "<th>Category</th><td>billing</td>" in text
    assert "<th>Priority</th><td>51 (rule boost 15)</td>" in text, "base 30, followers 6, rule 15"
    for model in (Message, Conversation, Contact, Identity, Event):
        assert not model.objects.exists(), f"the preview stored a {model.__name__}"
