"""The customer websocket through the real ASGI app: hello, messages both ways, typing, read, refusals."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from chat.models import ChatChannel, Visitor
from core.models import Channel, Conversation, ConversationState, Identity, Message
from responses.actions import do_send_reply
from tests.chat.conftest import SECRET, new_id, receive_until, say_hello, visitor_socket
from tests.sockets import open_socket, session_key

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def signature(user_id: str, timestamp: int, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), f"{user_id}:{timestamp}".encode(), hashlib.sha256).hexdigest()


async def send_message(socket: Any, text: str, client_id: str | None = None) -> dict[str, Any]:
    client_id = client_id or new_id()
    await socket.send_json_to({"type": "message", "client_id": client_id, "text": text})
    return await receive_until(socket, "ack")


def conversation_of(visitor_id: str) -> Conversation:
    return Conversation.objects.get(channel=Channel.CHAT, thread_key__startswith=f"chat:{visitor_id}:")


def visitor_id_of(token: str) -> str:
    return token.split(":")[1]


async def test_a_new_visitor_gets_a_token_and_a_returning_one_their_history(
    chat_channel: ChatChannel, available_agent: Any
) -> None:
    socket = visitor_socket()
    welcome = await say_hello(socket)
    assert welcome["token"] and welcome["history"] == [] and welcome["conversation_id"] is None
    assert welcome["online"] is True and welcome["visitor"]["verified"] is False
    ack = await send_message(socket, "Where is my passport?")
    await socket.disconnect()

    again = visitor_socket()
    returning = await say_hello(again, token=welcome["token"])
    assert visitor_id_of(returning["token"]) == visitor_id_of(welcome["token"])
    assert [(m["id"], m["from"], m["text"]) for m in returning["history"]] == [
        (ack["id"], "visitor", "Where is my passport?")
    ]
    assert returning["conversation_id"] is not None
    await again.disconnect()


async def test_a_message_is_stored_once_on_channel_chat_routed_and_acked(
    chat_channel: ChatChannel, available_agent: Any
) -> None:
    socket = visitor_socket()
    welcome = await say_hello(socket, prechat={"name": "Dana", "email": "dana@example.org", "topic": None})
    client_id = new_id()
    ack = await send_message(socket, "My benefit payment is late", client_id)
    assert ack["client_id"] == client_id
    resent = await send_message(socket, "My benefit payment is late", client_id)  # the widget resends after a drop
    assert resent["id"] == ack["id"]
    await socket.disconnect()

    await sync_to_async(check_stored)(
        chat_channel, visitor_id_of(welcome["token"]), ack["id"], client_id, available_agent
    )


def check_stored(channel: ChatChannel, visitor_id: str, message_id: int, client_id: str, agent: Any) -> None:
    conversation = conversation_of(visitor_id)
    assert conversation.channel == "chat"
    assert conversation.queue_id == chat_channel_queue_id(channel)
    assert conversation.assigned_agent_id == agent.pk  # the router gave it to the available agent
    messages = list(Message.objects.filter(conversation=conversation))
    assert [(m.pk, m.text, m.external_id) for m in messages] == [
        (message_id, "My benefit payment is late", f"chat:{client_id}")
    ]
    identity = Identity.objects.get(pk=messages[0].author_identity_id)
    assert identity.platform == "chat" and identity.external_id == f"visitor:{visitor_id}"
    assert identity.display_name == "Dana"


def chat_channel_queue_id(channel: ChatChannel) -> int:
    from chat.queries import channel_queue

    queue = channel_queue(channel)
    assert queue is not None
    return queue.pk


async def test_an_agent_reply_through_the_outbox_reaches_the_visitor(
    chat_channel: ChatChannel, available_agent: Any, eager_tasks: None
) -> None:
    socket = visitor_socket()
    welcome = await say_hello(socket)
    await send_message(socket, "Hello, anyone there?")
    conversation = await sync_to_async(conversation_of)(visitor_id_of(welcome["token"]))

    reply = await sync_to_async(do_send_reply)(conversation, available_agent, "Yes, Ana here. How can I help?")
    pushed = await receive_until(socket, "message")
    while pushed["from"] != "agent":
        pushed = await receive_until(socket, "message")
    assert (pushed["id"], pushed["text"], pushed["author"]) == (reply.pk, "Yes, Ana here. How can I help?", "Ana")
    await reply.arefresh_from_db()
    assert reply.delivery == "sent" and reply.external_id == f"chat:{reply.idempotency_key}"
    await socket.disconnect()

    again = visitor_socket()
    returning = await say_hello(again, token=welcome["token"])
    assert [m["from"] for m in returning["history"]] == ["visitor", "agent"]
    await again.disconnect()


async def test_typing_and_read_go_both_ways(chat_channel: ChatChannel, available_agent: Any) -> None:
    socket = visitor_socket()
    welcome = await say_hello(socket)
    ack = await send_message(socket, "Hi")
    conversation = await sync_to_async(conversation_of)(visitor_id_of(welcome["token"]))
    browser = Client()
    await sync_to_async(browser.force_login)(available_agent)
    agent_socket, _ = await open_socket(session_key(browser))

    await socket.send_json_to({"type": "typing", "on": True})
    typing = await receive_until(agent_socket, "chat")
    assert typing == {"type": "chat", "op": "typing", "conversation": conversation.pk, "on": True}

    response = await sync_to_async(browser.post)(f"/conversations/{conversation.pk}/chat/typing/", {"on": "1"})
    assert response.status_code == 200
    assert await receive_until(socket, "typing") == {"type": "typing", "from": "agent", "on": True}

    response = await sync_to_async(browser.post)(f"/conversations/{conversation.pk}/chat/read/", {"up_to": ack["id"]})
    assert response.status_code == 200
    assert await receive_until(socket, "read") == {"type": "read", "by": "agent", "up_to": ack["id"]}

    await socket.send_json_to({"type": "read", "up_to": 99})
    read = await receive_until(agent_socket, "chat")
    assert read == {"type": "chat", "op": "read", "conversation": conversation.pk, "up_to": 99}
    await socket.disconnect()
    await agent_socket.disconnect()


async def test_another_agent_cannot_type_into_someone_elses_chat(
    chat_channel: ChatChannel, available_agent: Any, other_agent: Any
) -> None:
    socket = visitor_socket()
    welcome = await say_hello(socket)
    await send_message(socket, "Hi")
    conversation = await sync_to_async(conversation_of)(visitor_id_of(welcome["token"]))
    browser = Client()
    await sync_to_async(browser.force_login)(other_agent)
    response = await sync_to_async(browser.post)(f"/conversations/{conversation.pk}/chat/typing/", {"on": "1"})
    assert response.status_code in (403, 404)
    await socket.disconnect()


@pytest.mark.parametrize("origin", ["https://evil.example", "http://www.agency.example", None])
async def test_a_foreign_origin_is_refused_before_accept(chat_channel: ChatChannel, origin: str | None) -> None:
    socket = visitor_socket(origin=origin)
    connected, code = await socket.connect()
    assert (connected, code) == (False, 4403)


async def test_an_unknown_or_disabled_channel_is_refused(chat_channel: ChatChannel) -> None:
    connected, code = await visitor_socket("nope").connect()
    assert (connected, code) == (False, 4403)
    await ChatChannel.objects.filter(pk=chat_channel.pk).aupdate(enabled=False)
    connected, code = await visitor_socket().connect()
    assert (connected, code) == (False, 4403)


async def test_a_forged_or_other_channels_token_closes_with_4401(chat_channel: ChatChannel) -> None:
    from chat.identity import visitor_token

    socket = visitor_socket()
    welcome = await say_hello(socket)
    await socket.disconnect()
    visitor = welcome["token"].split(":")[1]
    other_channel = await sync_to_async(visitor_token)("other", visitor)
    tampered = welcome["token"][:-3] + "abc"
    for token in (other_channel, tampered, "help:not-a-token"):
        refused = visitor_socket()
        assert (await refused.connect())[0]
        await refused.send_json_to({"type": "hello", "token": token})
        error = await refused.receive_json_from()
        assert error["type"] == "error" and error["code"] == "bad_token"
        closed = await refused.receive_output()
        assert closed == {"type": "websocket.close", "code": 4401}


async def test_an_expired_token_closes_with_4401(chat_channel: ChatChannel, settings: Any) -> None:
    import time_machine

    socket = visitor_socket()
    with time_machine.travel(time.time() - 31 * 86_400, tick=False):
        welcome = await say_hello(socket)
    await socket.disconnect()
    refused = visitor_socket()
    await refused.connect()
    await refused.send_json_to({"type": "hello", "token": welcome["token"]})
    assert (await refused.receive_json_from())["code"] == "bad_token"
    assert (await refused.receive_output())["code"] == 4401


async def test_a_verified_identity_is_verified_and_a_replayed_or_made_up_one_is_not(
    chat_channel: ChatChannel, available_agent: Any
) -> None:
    now = int(time.time())
    fresh = {
        "id": "42",
        "name": "Dana",
        "email": "dana@example.org",
        "timestamp": now,
        "signature": signature("42", now),
    }
    old = now - 3600
    replayed = fresh | {"timestamp": old, "signature": signature("42", old)}
    made_up = fresh | {"signature": "f" * 64}
    expected = {"fresh": True, "replayed": False, "made_up": False}
    for name, identity in (("fresh", fresh), ("replayed", replayed), ("made_up", made_up)):
        socket = visitor_socket()
        welcome = await say_hello(socket, identity=identity)
        assert welcome["visitor"] == {"name": "Dana", "verified": expected[name]}, name
        await send_message(socket, f"hello from {name}")
        await socket.disconnect()
        message = await Message.objects.select_related("author_identity").aget(text=f"hello from {name}")
        assert message.author_identity is not None
        if expected[name]:
            assert message.author_identity.external_id == "user:42"
            assert message.raw["chat"]["identity"] == "verified"
        else:
            assert message.author_identity.external_id.startswith("visitor:")
            assert message.raw["chat"]["identity"] == "unverified"
    visitors = await sync_to_async(list)(Visitor.objects.values_list("verified_id", flat=True))
    assert sorted(visitors) == ["", "", "42"]


async def test_a_1_mb_frame_is_refused_and_nothing_is_stored(chat_channel: ChatChannel, available_agent: Any) -> None:
    socket = visitor_socket()
    await say_hello(socket)
    client_id = new_id()
    await socket.send_json_to({"type": "message", "client_id": client_id, "text": "x" * 1_000_000})
    error = await socket.receive_json_from()
    assert error["type"] == "error" and error["code"] == "too_big"
    long = "y" * 2_001  # under the frame limit, over the message limit
    await socket.send_json_to({"type": "message", "client_id": client_id, "text": long})
    error = await socket.receive_json_from()
    assert (error["code"], error["client_id"]) == ("too_long", client_id)
    assert "2,000" in error["message"]
    assert not await Message.objects.filter(external_id=f"chat:{client_id}").aexists()
    ack = await send_message(socket, "Still here, and shorter", client_id)  # the socket is still open
    assert ack["client_id"] == client_id
    await socket.disconnect()


async def test_bad_frames_get_an_error_frame(chat_channel: ChatChannel) -> None:
    socket = visitor_socket()
    await socket.connect()
    await socket.send_to(text_data="not json")
    assert (await socket.receive_json_from())["code"] == "bad_frame"
    await socket.send_json_to({"type": "message", "client_id": new_id(), "text": "before hello"})
    assert (await socket.receive_json_from())["code"] == "hello_first"
    await socket.send_to(bytes_data=b"\x00")
    assert (await socket.receive_json_from())["code"] == "bad_frame"
    await socket.disconnect()


async def test_a_flood_is_rate_limited(chat_channel: ChatChannel, available_agent: Any, settings: Any) -> None:
    settings.CHAT_MESSAGES_PER_MINUTE = 5
    socket = visitor_socket()
    await say_hello(socket)
    for n in range(5):
        await send_message(socket, f"message {n}")
    await socket.send_json_to({"type": "message", "client_id": new_id(), "text": "one too many"})
    error = await receive_until(socket, "error")
    assert error["code"] == "rate_limited" and 0 < error["retry_after"] <= 60
    assert not await Message.objects.filter(text="one too many").aexists()
    await socket.disconnect()

    # A new visitor from the same address is limited too.
    other = visitor_socket()
    await say_hello(other)
    await other.send_json_to({"type": "message", "client_id": new_id(), "text": "from the same address"})
    assert (await receive_until(other, "error"))["code"] == "rate_limited"
    await other.disconnect()


async def test_offline_without_agents_says_so_and_refuses_a_chat_message(chat_channel: ChatChannel) -> None:
    socket = visitor_socket()
    welcome = await say_hello(socket)
    assert welcome["online"] is False
    await socket.send_json_to({"type": "message", "client_id": new_id(), "text": "anyone?"})
    assert (await receive_until(socket, "error"))["code"] == "offline"
    await socket.disconnect()


async def test_the_visitor_ending_an_unanswered_chat_is_an_abandon(
    chat_channel: ChatChannel, available_agent: Any
) -> None:
    from core.models import Event, EventKind

    socket = visitor_socket()
    welcome = await say_hello(socket)
    await send_message(socket, "Never mind")
    await socket.send_json_to({"type": "end"})
    assert (await receive_until(socket, "ended"))["type"] == "ended"
    conversation = await sync_to_async(conversation_of)(visitor_id_of(welcome["token"]))
    assert conversation.state == ConversationState.CLOSED
    assert await Event.objects.filter(conversation=conversation, kind=EventKind.ABANDONED).aexists()
    await send_message(socket, "Actually, one more thing")  # a new chat
    count = await Conversation.objects.filter(
        thread_key__startswith=f"chat:{visitor_id_of(welcome['token'])}:"
    ).acount()
    assert count == 2
    await socket.disconnect()


async def test_a_visitor_gone_before_an_answer_is_abandoned_by_the_periodic_task(
    chat_channel: ChatChannel, available_agent: Any, settings: Any
) -> None:
    import time_machine

    from chat.tasks import abandon_gone_visitors
    from contactcenter.celery import BEAT_SCHEDULE
    from core.models import Event, EventKind

    assert BEAT_SCHEDULE["abandon-gone-chat-visitors"]["task"] == "chat.tasks.abandon_gone_visitors"
    answered = visitor_socket()
    answered_welcome = await say_hello(answered)
    await send_message(answered, "I will be answered")
    answered_conversation = await sync_to_async(conversation_of)(visitor_id_of(answered_welcome["token"]))
    await sync_to_async(do_send_reply)(answered_conversation, available_agent, "Here you are.")
    await answered.disconnect()

    socket = visitor_socket()
    welcome = await say_hello(socket)
    await send_message(socket, "Hello?")
    await socket.disconnect()
    conversation = await sync_to_async(conversation_of)(visitor_id_of(welcome["token"]))

    assert await sync_to_async(abandon_gone_visitors)() == 0  # not gone long enough yet
    with time_machine.travel(time.time() + settings.CHAT_ABANDON_AFTER_SECONDS + 5, tick=False):
        assert await sync_to_async(abandon_gone_visitors)() == 1
    await conversation.arefresh_from_db()
    assert conversation.state == ConversationState.CLOSED
    event = await Event.objects.aget(conversation=conversation, kind=EventKind.ABANDONED)
    assert event.data["reason"] == "visitor_left"
    await answered_conversation.arefresh_from_db()
    assert answered_conversation.state != ConversationState.CLOSED


async def test_an_assigned_chat_stays_online_for_its_visitor(chat_channel: ChatChannel, available_agent: Any) -> None:
    from agents.actions import do_set_presence

    socket = visitor_socket()
    welcome = await say_hello(socket)
    await send_message(socket, "Hi")
    await socket.disconnect()
    conversation = await sync_to_async(conversation_of)(visitor_id_of(welcome["token"]))
    assert conversation.assigned_agent_id == available_agent.pk
    profile = await sync_to_async(lambda: available_agent.agent_profile)()
    await sync_to_async(do_set_presence)(profile, "busy")
    again = visitor_socket()
    assert (await say_hello(again, token=welcome["token"]))["online"] is True
    await again.disconnect()
    newcomer = visitor_socket()
    assert (await say_hello(newcomer))["online"] is False
    await newcomer.disconnect()


async def test_an_open_socket_is_told_when_the_chat_goes_offline(
    chat_channel: ChatChannel, available_agent: Any, monkeypatch: Any
) -> None:
    from agents.actions import do_set_presence
    from chat import consumers

    monkeypatch.setattr(consumers, "STATUS_EVERY_SECONDS", 0.2)
    socket = visitor_socket()
    assert (await say_hello(socket))["online"] is True
    profile = await sync_to_async(lambda: available_agent.agent_profile)()
    await sync_to_async(do_set_presence)(profile, "busy")
    assert await receive_until(socket, "status") == {"type": "status", "online": False}
    await socket.disconnect()


async def test_a_visitor_who_comes_back_in_time_is_not_abandoned(
    chat_channel: ChatChannel, available_agent: Any, settings: Any
) -> None:
    import time_machine

    from chat.tasks import abandon_gone_visitors

    socket = visitor_socket()
    welcome = await say_hello(socket)
    await send_message(socket, "Reloading the page")
    await socket.disconnect()
    back = visitor_socket()
    await say_hello(back, token=welcome["token"])
    with time_machine.travel(time.time() + settings.CHAT_ABANDON_AFTER_SECONDS + 5, tick=False):
        assert await sync_to_async(abandon_gone_visitors)() == 0
    conversation = await sync_to_async(conversation_of)(visitor_id_of(welcome["token"]))
    assert conversation.state != ConversationState.CLOSED
    await back.disconnect()
