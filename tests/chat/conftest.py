"""Chat fixtures: a chat channel saved through its admin form, an available agent, and visitor sockets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from chat.admin import ChatChannelForm
from chat.models import ChatChannel
from contactcenter.asgi import application

SITE = "https://www.agency.example"
SECRET = "s3cret-shared-with-the-host-site"


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def save_channel(data: dict[str, Any], instance: ChatChannel | None = None) -> ChatChannel:
    fields = {
        "key": "help",
        "name": "Agency help",
        "enabled": "on",
        "allowed_origins": SITE,
        "greeting": "Hello!",
        "offline_text": "Leave a message.",
        "primary_colour": "#0b5394",
        "text_colour": "#ffffff",
        "prechat_name": "optional",
        "prechat_email": "optional",
        "prechat_topic": "off",
        "max_wait_seconds": "300",
    }
    form = ChatChannelForm(data=fields | data, instance=instance)
    assert form.is_valid(), form.errors
    return form.save()


@pytest.fixture
def chat_channel(queue: Any) -> ChatChannel:
    return save_channel({"identity_secret": SECRET, "queue": str(queue.pk)})


@pytest.fixture
def available_agent(agent: Any) -> Any:
    from agents.actions import do_set_presence

    do_set_presence(agent.agent_profile, "available")
    return agent


def visitor_socket(
    key: str = "help", *, origin: str | None = SITE, client: str = "203.0.113.7"
) -> WebsocketCommunicator:
    headers = [(b"host", b"chat.switchboard.example")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    socket = WebsocketCommunicator(application, f"/ws/chat/{key}/", headers=headers)
    socket.scope["client"] = (client, 50_000)
    return socket


async def say_hello(socket: WebsocketCommunicator, **hello: Any) -> dict[str, Any]:
    connected, code = await socket.connect()
    assert connected, f"refused with {code}"
    await socket.send_json_to({"type": "hello", "token": None, "identity": None, "prechat": None, "lang": "en"} | hello)
    welcome = await socket.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome", welcome
    return dict(welcome)


async def receive_until(socket: WebsocketCommunicator, kind: str, timeout: float = 5) -> dict[str, Any]:
    """The next frame of type ``kind``, skipping others (the echo of the visitor's own message, say)."""
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        if frame["type"] == kind:
            return dict(frame)


def new_id() -> str:
    return str(uuid.uuid4())
