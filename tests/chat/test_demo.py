"""The embedded default's demo chat channel: seeded once, on its own queue, chatting from the site itself."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from chat.models import ChatChannel
from chat.queries import channel_queue
from core.models import Message
from routing.models import ChannelWeight
from tests.chat.conftest import new_id, receive_until, say_hello, visitor_socket

pytestmark = pytest.mark.django_db(transaction=True)


def seed() -> None:
    call_command("seed_demo", posts=0, emails=0, force=True, stdout=StringIO())


def test_seed_demo_makes_the_demo_channel_once(settings: Any) -> None:
    seed()
    seed()
    channel = ChatChannel.objects.select_related("mailbox").get(key="demo")
    assert settings.SITE_URL.lower() in channel.origins()
    assert channel.mailbox is not None
    queue = channel_queue(channel)
    assert queue is not None and queue.name == "Chat"
    assert ChannelWeight.objects.get(channel="chat").weight == 3


def test_seeding_again_for_another_address_allows_it_too_and_keeps_the_others(settings: Any) -> None:
    settings.SITE_URL = "http://127.0.0.1:8000"
    seed()
    settings.SITE_URL = "http://127.0.0.1:8767"  # make run PORT=8767
    seed()

    origins = ChatChannel.objects.get(key="demo").origins()
    assert "http://127.0.0.1:8767" in origins
    assert "http://127.0.0.1:8000" in origins and "http://localhost:8000" in origins
    assert ChatChannel.objects.count() == 1


@pytest.mark.asyncio
async def test_a_visitor_chats_on_the_demo_channel_from_the_site(settings: Any) -> None:
    await sync_to_async(seed)()
    socket = visitor_socket("demo", origin=settings.SITE_URL)
    welcome = await say_hello(socket)
    assert welcome["online"] is True  # the demo's agents are available
    await socket.send_json_to({"type": "message", "client_id": new_id(), "text": "Hello from the demo page"})
    ack = await receive_until(socket, "ack")
    await socket.disconnect()
    message = await Message.objects.select_related("conversation__queue").aget(pk=ack["id"])
    assert message.conversation is not None and message.conversation.channel == "chat"
    assert message.conversation.queue is not None and message.conversation.queue.name == "Chat"
