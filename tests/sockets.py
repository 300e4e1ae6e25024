"""Sockets as a browser opens them: through the whole ASGI stack, with a session cookie, a Host and an Origin."""

from __future__ import annotations

from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from contactcenter.asgi import application

HOST = "127.0.0.1:8000"
ORIGIN = f"http://{HOST}"


def signed_in(user: Any) -> Client:
    """A browser session of ``user`` (the test client, logged in)."""
    client = Client()
    client.force_login(user)
    return client


def session_key(client: Client) -> str:
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


def browser_socket(
    session: str | None, *, origin: str | None = ORIGIN, host: str = HOST, scheme: str = "ws"
) -> WebsocketCommunicator:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if session is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()))
    socket = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    socket.scope["scheme"] = scheme
    return socket


async def open_socket(session: str) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A connected socket of this session, and its hello."""
    socket = browser_socket(session)
    connected, code = await socket.connect()
    assert connected, f"refused with {code}"
    hello = await socket.receive_json_from()
    assert hello["type"] == "hello"
    return socket, hello


async def closed_with(socket: WebsocketCommunicator, timeout: float = 3) -> int | None:
    """The code the server closed ``socket`` with (the next thing it sends must be the close)."""
    output = await socket.receive_output(timeout)
    assert output["type"] == "websocket.close", f"expected the socket to close, got {output}"
    await socket.disconnect()
    return output.get("code")
