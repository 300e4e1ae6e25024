"""A websocket handshake is held to the rule a form POST is held to by CSRF: the server's own origin
(scheme, host and port, the host allowed by ALLOWED_HOSTS) or one of CSRF_TRUSTED_ORIGINS."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from tests.sockets import browser_socket, session_key, signed_in

pytestmark = pytest.mark.django_db(transaction=True)

CSRF_SECRET = "k" * 32  # a CSRF cookie and the same value in the header: the token check passes


async def socket_accepted(session: str, *, scheme: str, host: str, origin: str) -> bool:
    socket = browser_socket(session, scheme="wss" if scheme == "https" else "ws", host=host, origin=origin)
    connected, _ = await socket.connect()
    if connected:
        await socket.disconnect()
    return bool(connected)


def post_accepted(*, scheme: str, host: str, origin: str) -> bool:
    """A form POST with this Origin and a valid CSRF token: refused (403, or 400 for the Host) or not."""
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF_SECRET
    response = client.post(
        "/logout/",
        headers={"host": host, "origin": origin, "x-csrftoken": CSRF_SECRET},
        secure=scheme == "https",
    )
    assert response.status_code in (200, 302, 400, 403), response.status_code
    return response.status_code in (200, 302)


@pytest.mark.asyncio
async def test_a_socket_from_another_port_of_the_same_host_is_refused(agent: Any) -> None:
    session = session_key(await sync_to_async(signed_in)(agent))
    assert not await socket_accepted(session, scheme="http", host="127.0.0.1:8000", origin="http://127.0.0.1:9999")


@pytest.mark.asyncio
async def test_a_socket_from_the_servers_own_origin_is_accepted(agent: Any) -> None:
    session = session_key(await sync_to_async(signed_in)(agent))
    assert await socket_accepted(session, scheme="http", host="127.0.0.1:8000", origin="http://127.0.0.1:8000")


@pytest.mark.asyncio
async def test_a_socket_without_an_origin_is_refused(agent: Any) -> None:
    session = session_key(await sync_to_async(signed_in)(agent))
    connected, _ = await browser_socket(session, origin=None).connect()
    assert not connected


# (request scheme, Host, Origin, allowed): the server is 127.0.0.1:8000 over HTTP and
# switchboard.example.com over HTTPS; partners' sites are trusted origins.
ORIGINS = [
    ("http", "127.0.0.1:8000", "http://127.0.0.1:8000", True),  # its own origin
    ("http", "127.0.0.1:8000", "http://127.0.0.1:9999", False),  # another port
    ("http", "127.0.0.1:8000", "http://127.0.0.1", False),  # no port: port 80
    ("http", "127.0.0.1:8000", "https://127.0.0.1:8000", False),  # another scheme
    ("http", "127.0.0.1:8000", "http://localhost:8000", False),  # another allowed host, not this one
    ("http", "127.0.0.1:8000", "https://evil.example", False),
    ("http", "127.0.0.1:8000", "null", False),  # sandboxed frames, file: pages
    ("http", "127.0.0.1:8000", "https://switchboard.example.com", True),  # trusted
    ("http", "127.0.0.1:8000", "https://desk.partner.example", True),  # trusted, any subdomain
    ("http", "127.0.0.1:8000", "http://desk.partner.example", False),  # trusted only over https
    ("https", "switchboard.example.com", "https://switchboard.example.com", True),
    ("https", "switchboard.example.com", "http://switchboard.example.com", False),
    ("http", "evil.example:8000", "http://evil.example:8000", False),  # a Host outside ALLOWED_HOSTS
]


@pytest.mark.asyncio
async def test_sockets_and_posts_accept_exactly_the_same_origins(settings: Any, agent: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "switchboard.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://switchboard.example.com", "https://*.partner.example"]
    session = session_key(await sync_to_async(signed_in)(agent))

    for scheme, host, origin, allowed in ORIGINS:
        by_post = await sync_to_async(post_accepted)(scheme=scheme, host=host, origin=origin)
        by_socket = await socket_accepted(session, scheme=scheme, host=host, origin=origin)
        assert (by_post, by_socket) == (allowed, allowed), (scheme, host, origin)
