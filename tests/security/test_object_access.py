"""An agent of another team cannot reach a conversation that is not theirs: not by URL, API or websocket.

Every door answers such a request exactly as it answers one for an id that
does not exist (404), and writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from contactcenter.consumers import EventsConsumer
from core.models import Conversation, Event, Message
from core.models import ConversationState as S
from routing.models import Queue
from tests.states import conversation_in_state

PAGES = [
    ("get", "/conversations/{id}/", {}),
    ("get", "/conversations/{id}/live/", {}),
    ("get", "/conversations/{id}/templates/?q=sorry", {}),
    ("post", "/conversations/{id}/reply/", {"text": "Hello from another team"}),
    ("post", "/conversations/{id}/reply/check/", {"text": "Hello"}),
    ("post", "/conversations/{id}/resolve/", {"disposition": "answered"}),
    ("post", "/conversations/{id}/wrap-up/", {}),
    ("post", "/conversations/{id}/work/close/", {}),
    ("post", "/conversations/{id}/transfer/", {"queue": "1", "reason": "mine now"}),
    ("post", "/conversations/{id}/escalate/", {"reason": "look"}),
    ("post", "/conversations/{id}/notes/", {"text": "a note"}),
]
API = [
    ("get", "/api/v1/conversations/{id}/", {}),
    ("post", "/api/v1/conversations/{id}/replies/", {"text": "Hello from another team"}),
    ("post", "/api/v1/conversations/{id}/transfer/", {"queue": 1, "reason": "mine now"}),
    ("post", "/api/v1/conversations/{id}/escalate/", {"reason": "look"}),
    ("post", "/api/v1/conversations/{id}/resolve/", {"disposition": "answered"}),
]


@pytest.fixture
def theirs(agent: Any, queue: Queue, make_post: Any) -> Conversation:
    """Ana's (Care team) conversation, with a reply of hers."""
    return conversation_in_state(S.WAITING, make_post(), queue=queue, agent=agent)


def _as(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _call(client: Client, method: str, path: str, body: dict[str, Any], *, api: bool) -> Any:
    if method == "get":
        return client.get(path)
    if api:
        return client.post(path, body, content_type="application/json")
    return client.post(path, body)


def _written() -> tuple[int, int, list[Any]]:
    return (
        Message.objects.count(),
        Event.objects.count(),
        list(Conversation.objects.values_list("state", "assigned_agent", "escalated", "queue")),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body"), PAGES + API, ids=[p for _, p, _ in PAGES + API])
def test_another_teams_agent_gets_404_and_changes_nothing(
    theirs: Conversation, other_agent: Any, method: str, path: str, body: dict[str, Any]
) -> None:
    client = _as(other_agent)
    before = _written()
    api = path.startswith("/api/")

    response = _call(client, method, path.format(id=theirs.pk), body, api=api)
    missing = _call(client, method, path.format(id=theirs.pk + 1000), body, api=api)

    assert response.status_code == 404
    assert missing.status_code == 404
    if api:  # the same answer, but for the id it names
        assert response.json() == {**missing.json(), "message": f"Conversation {theirs.pk} not found."}
    assert _written() == before


@pytest.mark.django_db
def test_the_conversation_list_and_inbox_never_show_another_teams_work(theirs: Conversation, other_agent: Any) -> None:
    client = _as(other_agent)

    assert client.get("/api/v1/conversations/").json()["results"] == []
    inbox = client.get("/inbox/").content.decode()
    assert f"/conversations/{theirs.pk}/" not in inbox


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_socket_cannot_join_groups_it_was_not_given(
    agent: Any, other_agent: Any, queue: Queue, make_post: Any
) -> None:
    socket = WebsocketCommunicator(EventsConsumer.as_asgi(), "/ws/events/")
    socket.scope["user"] = other_agent
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["groups"] == 1, "only the agent's own group"

    # Whatever the browser sends, the socket only listens for heartbeats.
    for attempt in ({"type": "subscribe", "group": "supervisors"}, {"type": "join", "group": f"user.{agent.pk}"}):
        await socket.send_json_to(attempt)
    await sync_to_async(conversation_in_state)(S.ASSIGNED, make_post(), queue=queue, agent=agent)

    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()
