"""Chat conversations in the console: the channel, the typing indicator's hooks, verified and unverified badges."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

import pytest
from django.test import Client

from chat.actions import do_receive_chat_message, do_visitor_hello
from chat.models import ChatChannel
from core.models import Conversation, Message
from responses.platform_rules import check_reply
from tests.chat.conftest import SECRET

pytestmark = pytest.mark.django_db


def chat_from(channel: ChatChannel, identity: dict[str, Any] | None = None) -> Conversation:
    welcome = do_visitor_hello(channel, None, identity, {"name": "Dana"})
    message = do_receive_chat_message(welcome.visitor, str(uuid.uuid4()), "Where is my <b>passport</b>?")
    assert message.conversation is not None
    return message.conversation


def page(user: Any, conversation: Conversation) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/conversations/{conversation.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_chat_shows_as_web_chat_with_the_typing_hooks_and_escaped_text(
    chat_channel: ChatChannel, available_agent: Any, supervisor: Any
) -> None:
    conversation = chat_from(chat_channel)
    html = page(supervisor, conversation)
    assert "Web chat" in html
    assert "data-chat-typing=" in html and "data-chat-read=" in html and "The customer is typing" in html
    assert "&lt;b&gt;passport&lt;/b&gt;" in html and "<b>passport</b>" not in html
    assert "verified user" not in html and "unverified" not in html  # anonymous


def test_verified_and_unverified_visitors_are_labelled(
    chat_channel: ChatChannel, available_agent: Any, supervisor: Any
) -> None:
    now = int(time.time())
    good = hmac.new(SECRET.encode(), f"42:{now}".encode(), hashlib.sha256).hexdigest()
    verified = chat_from(chat_channel, {"id": "42", "name": "Dana", "timestamp": now, "signature": good})
    assert "verified user" in page(supervisor, verified)
    claimed = chat_from(chat_channel, {"id": "43", "name": "Eve", "timestamp": now, "signature": "0" * 64})
    html = page(supervisor, claimed)
    assert "unverified" in html and "verified user" not in html


def test_agent_replies_to_a_chat_allow_2000_characters_and_have_no_window(chat_channel: ChatChannel) -> None:
    from django.utils import timezone

    long_ago = timezone.now() - timezone.timedelta(days=30)
    assert check_reply("chat", "x" * 2000, last_customer_message_at=long_ago, now=timezone.now()).allowed
    verdict = check_reply("chat", "x" * 2001, last_customer_message_at=long_ago, now=timezone.now())
    assert not verdict.allowed and "2000" in " ".join(verdict.problems).replace(",", "")


def test_the_read_endpoint_refuses_a_message_of_another_conversation(
    chat_channel: ChatChannel, available_agent: Any, supervisor: Any
) -> None:
    first, second = chat_from(chat_channel), chat_from(chat_channel)
    other_message = Message.objects.filter(conversation=second).get()
    client = Client()
    client.force_login(supervisor)
    response = client.post(f"/conversations/{first.pk}/chat/read/", {"up_to": other_message.pk})
    assert response.status_code == 400
    assert client.post(f"/conversations/{first.pk}/chat/read/", {"up_to": "x"}).status_code == 400


def test_the_widget_config_says_what_the_channel_offers(chat_channel: ChatChannel, available_agent: Any) -> None:
    from django.utils import timezone

    from chat.queries import widget_config

    config = widget_config(chat_channel, timezone.now())
    assert config["colours"] == {"primary": "#0b5394", "text": "#ffffff"}
    assert config["online"] is True and config["leave_message"] is False and config["max_message_chars"] == 2000
    assert chat_channel.allows_origin("https://www.agency.example/")
    assert not chat_channel.allows_origin("https://www.agency.example.evil.example")
    assert not chat_channel.allows_origin("")
