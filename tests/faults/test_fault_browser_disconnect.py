"""Fault: an agent's browser goes away (the socket drops, no more heartbeats).

Quick (``make test`` runs it): two agents connected over the real websocket consumer, the heartbeat timeout set
to one second, real time. After the timeout, beat's ``time_out_silent_agents`` sets the silent agent offline and,
per the queue's policy, her assigned work goes back to the queue; the next routing pass gives it to the agent who
is still connected, who hears of it over his socket. (Tasks run eagerly, as in the embedded default; with a
broker the same pass runs on a worker.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from agents.actions import do_set_presence
from agents.models import AgentProfile, Presence
from contactcenter.consumers import EventsConsumer
from core.actions import do_queue_conversation
from core.capture import do_capture_post
from core.models import Conversation, Event, EventKind
from core.models import ConversationState as S
from routing.actions import do_route_queued
from routing.models import Queue
from routing.tasks import route_queued, time_out_silent_agents

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

TIMEOUT = 1


async def connect(user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(EventsConsumer.as_asgi(), "/ws/events/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"  # connecting is a heartbeat
    return communicator


async def drain(socket: WebsocketCommunicator) -> None:
    while not await socket.receive_nothing(timeout=0.1):
        await socket.receive_json_from()


@pytest.fixture
def small_timeout(settings: Any) -> None:
    settings.AGENT_HEARTBEAT_TIMEOUT_SECONDS = TIMEOUT


def ana_is_given_work(agent: Any, queue: Queue, make_post: Any) -> Conversation:
    do_set_presence(agent.agent_profile, Presence.AVAILABLE)
    conversation = do_capture_post(make_post()).conversation
    do_queue_conversation(conversation, queue)
    do_route_queued()
    conversation.refresh_from_db()
    assert conversation.state == S.ASSIGNED and conversation.assigned_agent == agent
    return conversation


async def test_an_agent_whose_browser_disconnects_loses_her_work_to_an_agent_still_connected(
    agent: Any, other_agent: Any, queue: Queue, make_post: Any, small_timeout: None, eager_tasks: None
) -> None:
    await sync_to_async(Queue.objects.filter(pk=queue.pk).update)(sticky_wait_seconds=0, requeue_on_agent_timeout=True)
    ana = await connect(agent)
    ben = await connect(other_agent)
    conversation = await sync_to_async(ana_is_given_work)(agent, queue, make_post)
    await sync_to_async(do_set_presence)(other_agent.agent_profile, Presence.AVAILABLE)
    await drain(ben)

    await ana.disconnect()  # the laptop lid closes
    for _ in range(4):  # Ben's browser keeps saying it is alive
        await asyncio.sleep(TIMEOUT / 2)
        await ben.send_json_to({"type": "heartbeat"})
    await asyncio.sleep(0.1)

    assert await sync_to_async(time_out_silent_agents)() == 1
    assert await sync_to_async(lambda: AgentProfile.objects.get(user=agent).presence)() == Presence.OFFLINE
    assert await sync_to_async(lambda: AgentProfile.objects.get(user=other_agent).presence)() == Presence.AVAILABLE
    # Back in the queue, and routed again at once (the routing pass the re-queue asks for, after its commit).
    await sync_to_async(conversation.refresh_from_db)()
    assert conversation.state == S.ASSIGNED and conversation.assigned_agent_id == other_agent.pk
    transfer = await sync_to_async(Event.objects.get)(conversation=conversation, kind=EventKind.TRANSFERRED)
    assert transfer.data["from_agent_id"] == agent.pk and transfer.data["reason"] == "agent timed out"
    event = await ben.receive_json_from(timeout=2)
    assert event["type"] == "conversations" and conversation.pk in event["ids"], "Ben hears of it live"
    await ben.disconnect()


async def test_a_queue_that_keeps_work_with_its_agent_keeps_it_when_her_browser_disconnects(
    agent: Any, other_agent: Any, queue: Queue, make_post: Any, small_timeout: None, eager_tasks: None
) -> None:
    await sync_to_async(Queue.objects.filter(pk=queue.pk).update)(requeue_on_agent_timeout=False)
    ana = await connect(agent)
    conversation = await sync_to_async(ana_is_given_work)(agent, queue, make_post)
    await sync_to_async(do_set_presence)(other_agent.agent_profile, Presence.AVAILABLE)

    await ana.disconnect()
    await asyncio.sleep(TIMEOUT + 0.2)

    assert await sync_to_async(time_out_silent_agents)() == 1
    assert await sync_to_async(route_queued)() == 0
    await sync_to_async(conversation.refresh_from_db)()
    assert conversation.state == S.ASSIGNED and conversation.assigned_agent_id == agent.pk, "it waits for Ana"
