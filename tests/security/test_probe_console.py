"""Probe findings on the console: roles at every HTML door, the journey across teams, one validation per use case."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.handling import check_add_note
from core.models import Conversation, Direction, Message
from core.models import ConversationState as S
from routing.models import Queue
from tests.states import conversation_in_state

pytestmark = pytest.mark.django_db


def html(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def roleless(agent: Any) -> Any:
    """Ana, whose role an admin removed: still active and signed in, holding her conversation."""
    agent.groups.clear()
    return agent


@pytest.fixture
def anas(make_post: Any, queue: Queue, agent: Any) -> Conversation:
    return conversation_in_state(S.ASSIGNED, make_post(channel="sandbox_public"), queue=queue, agent=agent)


CONSOLE_POSTS = {
    "reply": {"text": "Posted by someone with no role"},
    "notes": {"note": "A note by someone with no role"},
    "escalate": {"reason": "Escalated by someone with no role"},
    "resolve": {"disposition": "answered"},
    "transfer": {"queue": ""},
}


def test_a_user_without_a_role_cannot_open_the_inbox_or_a_conversation(anas: Conversation, roleless: Any) -> None:
    client = html(roleless)

    assert client.get("/inbox/").status_code == 403
    assert client.get(f"/conversations/{anas.pk}/").status_code == 403
    assert client.get(f"/conversations/{anas.pk}/live/").status_code == 403


@pytest.mark.parametrize("action", sorted(CONSOLE_POSTS))
def test_a_user_without_a_role_cannot_act_on_a_conversation(action: str, anas: Conversation, roleless: Any) -> None:
    response = html(roleless).post(f"/conversations/{anas.pk}/{action}/", CONSOLE_POSTS[action])

    assert response.status_code == 403
    anas.refresh_from_db()
    assert (anas.state, anas.escalated) == (S.ASSIGNED, False)
    assert not anas.notes.exists()
    assert not Message.objects.filter(conversation=anas, direction=Direction.OUTBOUND).exists()


def test_the_api_refuses_the_same_user(anas: Conversation, roleless: Any) -> None:
    client = APIClient()
    client.force_authenticate(roleless)

    assert client.get(f"/api/v1/conversations/{anas.pk}/").status_code == 403


def test_the_journey_shows_that_other_teams_conversations_exist_but_not_their_content(
    make_post: Any, queue: Queue, agent: Any, other_agent: Any, supervisor: Any
) -> None:
    bens = conversation_in_state(
        S.ASSIGNED,
        make_post(channel="x_dm", text="My benefit claim number is 4471-XY, please help"),
        queue=queue,
        agent=other_agent,
    )
    check_add_note(other_agent, bens, "Ben's private note")
    anas = conversation_in_state(S.ASSIGNED, make_post(text="Router down again"), queue=queue, agent=agent)
    assert anas.contact_id == bens.contact_id, "the same customer wrote both"

    page = html(agent).get(f"/conversations/{anas.pk}/").content.decode()

    assert "4471-XY" not in page and "Ben" not in page
    assert "1 other conversation with this customer that you cannot open" in page
    supervisors_page = html(supervisor).get(f"/conversations/{anas.pk}/").content.decode()
    assert "4471-XY" in supervisors_page and "cannot open" not in supervisors_page


@pytest.mark.parametrize(
    ("door", "send"),
    [
        ("html", lambda user, c, text: html(user).post(f"/conversations/{c.pk}/reply/", {"text": text})),
        ("api", lambda user, c, text: _api(user).post(f"/api/v1/conversations/{c.pk}/replies/", {"text": text})),
    ],
)
def test_a_reply_with_a_nul_character_is_refused_by_every_door(
    door: str, send: Any, anas: Conversation, agent: Any
) -> None:
    response = send(agent, anas, "Hello\x00 there")

    assert response.status_code == 400
    assert not Message.objects.filter(conversation=anas, direction=Direction.OUTBOUND).exists()


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(("action", "field", "limit"), [("notes", "note", 5000), ("escalate", "reason", 500)])
def test_the_console_refuses_text_over_the_limit_the_api_has(
    action: str, field: str, limit: int, anas: Conversation, agent: Any
) -> None:
    response = html(agent).post(f"/conversations/{anas.pk}/{action}/", {field: "x" * 100_000})

    assert response.status_code == 400
    assert f"at most {limit}" in response.content.decode()
    anas.refresh_from_db()
    assert not anas.notes.exists() and not anas.escalated
