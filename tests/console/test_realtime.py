"""The websocket: only logged-in users connect, and each hears only what is theirs to hear."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from contactcenter.asgi import application
from contactcenter.consumers import EventsConsumer
from core.capture import do_capture_post
from core.models import ConversationState as S
from routing.models import Queue
from tests.states import conversation_in_state


async def connect(user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(EventsConsumer.as_asgi(), "/ws/events/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello"
    return communicator


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_anonymous_sockets_are_refused() -> None:
    communicator = WebsocketCommunicator(EventsConsumer.as_asgi(), "/ws/events/")
    communicator.scope["user"] = AnonymousUser()
    connected, code = await communicator.connect()
    assert not connected and code == 4401


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_asgi_app_refuses_sockets_from_other_origins() -> None:
    communicator = WebsocketCommunicator(application, "/ws/events/", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_supervisors_hear_of_new_conversations_and_agents_of_their_own(
    supervisor: Any, agent: Any, other_agent: Any, queue: Queue, make_post: Any
) -> None:
    supervisor_socket = await connect(supervisor)
    agent_socket = await connect(agent)
    other_socket = await connect(other_agent)

    conversation = await sync_to_async(conversation_in_state)(S.ASSIGNED, make_post(), queue=queue, agent=agent)

    seen_by_supervisor = [
        await supervisor_socket.receive_json_from(timeout=2) for _ in range(3)
    ]  # new, queued, assigned
    assert all(e == {"type": "conversations", "op": "changed", "ids": [conversation.pk]} for e in seen_by_supervisor)
    assert await supervisor_socket.receive_nothing(timeout=0.2)
    assigned = await agent_socket.receive_json_from(timeout=2)
    assert assigned["ids"] == [conversation.pk]
    assert await other_socket.receive_nothing(timeout=0.3), "another agent hears nothing of it"
    for socket in (supervisor_socket, agent_socket, other_socket):
        await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_events_are_sent_only_after_the_transaction_commits(supervisor: Any, make_post: Any) -> None:
    from django.db import transaction

    socket = await connect(supervisor)

    def capture_then_roll_back() -> None:
        with transaction.atomic():
            do_capture_post(make_post())
            transaction.set_rollback(True)

    await sync_to_async(capture_then_roll_back)()
    assert await socket.receive_nothing(timeout=0.3)
    await sync_to_async(do_capture_post)(make_post())
    event = await socket.receive_json_from(timeout=2)
    assert event["type"] == "conversations" and len(event["ids"]) == 1
    await asyncio.sleep(0)
    await socket.disconnect()
