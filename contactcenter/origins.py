"""Which origins may open a websocket: exactly those Django's CSRF check accepts for a POST.

A browser sends ``Origin`` with every websocket handshake, and a socket carries
the session cookie like a form post does, so the rule is the same one: the
server's own origin (scheme, host *and port*, the host allowed by
``ALLOWED_HOSTS``) or one of ``CSRF_TRUSTED_ORIGINS``. Rather than a second
copy of that rule (channels' ``AllowedHostsOriginValidator`` compares host
names only, so another port on the same host passed), the handshake is
checked by Django's own code: the websocket scope becomes the request Django
would have built for a POST to the same URL, and ``CsrfViewMiddleware``
checks its origin. ``tests/test_probe_ws_origin.py`` drives a socket and a
POST with the same origins and asserts they agree.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from channels.security.websocket import WebsocketDenier
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

logger = logging.getLogger(__name__)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin1")
    return None


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether a websocket handshake's ``Origin`` is one a POST to this server could come from."""
    if _header(scope, b"origin") is None:
        return False  # browsers always send it; without it there is nothing to check
    secure = scope.get("scheme", "ws") in ("wss", "https")
    # The request Django builds for HTTP (ASGIRequest, as contactcenter.http does): the
    # same Host, forwarded headers and scheme, so is_secure() and get_host() agree.
    request = ASGIRequest(
        {**scope, "type": "http", "method": "POST", "scheme": "https" if secure else "http"}, io.BytesIO()
    )
    try:
        request.get_host()
    except DisallowedHost:
        return False  # HTTP answers 400 to a Host outside ALLOWED_HOSTS
    middleware: Any = CsrfViewMiddleware(lambda request: HttpResponse())
    # The origin step of CsrfViewMiddleware.process_view, which a POST passes
    # before its token is checked (a socket has no token to check). A private
    # method, so tests/test_probe_ws_origin.py pins it to what a real POST gets.
    return bool(middleware._origin_verified(request))


class CsrfOriginValidator:
    """ASGI middleware: refuse the handshake (HTTP 403) unless :func:`origin_allowed`."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError(f"CsrfOriginValidator guards websockets, not {scope['type']}.")
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        origin, host = _header(scope, b"origin"), _header(scope, b"host")
        logger.warning("websocket refused: origin %r not allowed for host %r", origin, host)
        return await WebsocketDenier()(scope, receive, send)
