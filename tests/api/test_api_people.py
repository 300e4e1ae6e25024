"""Messages, contacts and agents over /api/v1/: who sees which, and what each shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from agents.actions import do_set_agent_skill, do_set_presence
from agents.models import AgentProfile
from core.actions import do_record_reply
from core.capture import do_capture_post
from core.models import Conversation
from routing.models import Queue, Skill
from tests.states import conversation_in_state


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def converse(make_post: Any, queue: Queue) -> Callable[..., Conversation]:
    customers = iter(range(7000, 8000))

    def make(agent: Any, state: str = "assigned", **post: Any) -> Conversation:
        author = str(next(customers))
        post.setdefault("handle", f"customer{author}")
        return conversation_in_state(state, make_post(author_id=author, **post), queue=queue, agent=agent)

    return make


# --- Messages ---------------------------------------------------------------------------------------


def test_messages_are_the_thread_oldest_first_in_pages(
    converse: Callable[..., Conversation], agent: Any, make_post: Any
) -> None:
    conversation = converse(agent, text="My router is down")
    do_record_reply(conversation, agent, "On it.")
    later = timezone.now() + timedelta(seconds=1)
    do_capture_post(make_post(text="Still down", thread_key=conversation.thread_key, author_id="7000", sent_at=later))

    first = api(agent).get(f"/api/v1/conversations/{conversation.pk}/messages/", {"page_size": 2}).json()
    second = api(agent).get(first["next"]).json()

    texts = [m["text"] for m in first["results"] + second["results"]]
    assert texts == ["My router is down", "On it.", "Still down"]
    assert first["results"][1]["author"] == {"kind": "agent", "id": agent.pk, "name": "ana"}
    assert second["next"] is None


def test_a_supervisor_reads_any_thread_and_another_agent_none(
    converse: Callable[..., Conversation], agent: Any, other_agent: Any, supervisor: Any
) -> None:
    conversation = converse(agent)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"

    assert api(supervisor).get(url).status_code == 200
    assert api(other_agent).get(url).status_code == 404


# --- Contacts ---------------------------------------------------------------------------------------


def test_an_agent_lists_only_the_customers_of_conversations_they_may_see(
    converse: Callable[..., Conversation], agent: Any, other_agent: Any, supervisor: Any
) -> None:
    mine = converse(agent, name="Dana White")
    theirs = converse(other_agent, name="Eve Black")

    seen_by_agent = [c["id"] for c in api(agent).get("/api/v1/contacts/").json()["results"]]
    seen_by_supervisor = {c["id"] for c in api(supervisor).get("/api/v1/contacts/").json()["results"]}

    assert seen_by_agent == [mine.contact_id]
    assert seen_by_supervisor == {mine.contact_id, theirs.contact_id}
    assert api(agent).get(f"/api/v1/contacts/{theirs.contact_id}/").status_code == 404


def test_contacts_are_searched_by_name_and_handle(converse: Callable[..., Conversation], supervisor: Any) -> None:
    dana = converse(supervisor, name="Dana White", handle="danaw")
    converse(supervisor, name="Eve Black", handle="eveb")

    by_name = api(supervisor).get("/api/v1/contacts/", {"q": "white"}).json()["results"]
    by_handle = api(supervisor).get("/api/v1/contacts/", {"q": "DANAW"}).json()["results"]

    assert [c["id"] for c in by_name] == [dana.contact_id]
    assert [c["id"] for c in by_handle] == [dana.contact_id]
    assert by_handle[0]["identities"][0]["handle"] == "danaw"


def test_a_contact_shows_its_identities_and_the_conversations_the_caller_may_see(
    converse: Callable[..., Conversation], agent: Any, other_agent: Any, make_post: Any, queue: Queue
) -> None:
    mine = converse(agent, state="resolved", name="Dana White")
    # The same customer again, this time with another agent.
    theirs = conversation_in_state(
        "assigned", make_post(author_id="7000", handle="customer7000"), queue=queue, agent=other_agent
    )
    assert theirs.contact_id == mine.contact_id

    body = api(agent).get(f"/api/v1/contacts/{mine.contact_id}/").json()

    assert body["name"] == "Dana White"
    assert [i["handle"] for i in body["identities"]] == ["customer7000"]
    assert [c["id"] for c in body["conversations"]] == [mine.pk]
    assert body["conversations"][0]["state"] == "resolved"
    assert "subject" not in body["conversations"][0]


# --- Agents -----------------------------------------------------------------------------------------


def test_a_supervisor_sees_each_agents_presence_load_capacity_skills_and_team(
    converse: Callable[..., Conversation], agent: Any, supervisor: Any
) -> None:
    profile = AgentProfile.objects.get(user=agent)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        do_set_presence(profile, "available")
        do_set_agent_skill(profile, Skill.objects.create(name="billing").pk, 7)
        converse(agent)
        converse(agent, state="waiting")
        converse(agent, state="resolved")
        clock.shift(90)

        rows = api(supervisor).get("/api/v1/agents/").json()["results"]
        one = api(supervisor).get(f"/api/v1/agents/{agent.pk}/").json()
    ana = next(row for row in rows if row["id"] == agent.pk)

    assert ana["username"] == "ana"
    assert ana["presence"] == "available"
    assert ana["in_state_seconds"] == 90  # available since 90 s ago
    assert (ana["load"], ana["capacity"]) == (2, 10)
    assert ana["skills"] == [{"skill": {"id": ana["skills"][0]["skill"]["id"], "name": "billing"}, "level": 7}]
    assert ana["team"]["name"] == "Care"
    assert one == ana, "the detail shows what the list shows"


def test_agents_see_themselves_but_not_the_floor(agent: Any, supervisor: Any) -> None:
    me = api(agent).get("/api/v1/agents/me/")

    assert me.status_code == 200
    assert me.json()["username"] == "ana"
    assert api(agent).get("/api/v1/agents/").status_code == 403
    assert api(agent).get(f"/api/v1/agents/{supervisor.pk}/").status_code == 403


def test_a_user_without_an_agent_profile_is_404_on_me(django_user_model: Any) -> None:
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-12345")

    response = api(root).get("/api/v1/agents/me/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
