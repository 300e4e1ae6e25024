"""ASGI entry point: HTTP to Django (``contactcenter.http``), websockets to the events consumer (agents) or the
chat consumer (visitors), lifespan to the embedded scheduler."""

from __future__ import annotations

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")
django.setup(set_prefix=False)

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up first
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from chat.consumers import ChatConsumer  # noqa: E402
from contactcenter.consumers import EventsConsumer  # noqa: E402
from contactcenter.embedded import Lifespan  # noqa: E402
from contactcenter.http import ThreadedHTTPHandler  # noqa: E402
from contactcenter.origins import CsrfOriginValidator  # noqa: E402

websocket_urlpatterns = [path("ws/events/", EventsConsumer.as_asgi())]

# The visitors' socket: on the agency's own site, so checked against each chat channel's allowed origins (in the
# consumer), not the agents' same-origin rule, and with no session: a visitor is known by their token.
chat_websocket = URLRouter([path("ws/chat/<slug:key>/", ChatConsumer.as_asgi())])
agent_websocket = CsrfOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))


async def websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    app = chat_websocket if scope["path"].startswith("/ws/chat/") else agent_websocket
    await app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": ThreadedHTTPHandler(threads=settings.WEB_THREADS),
        "websocket": websocket,
        "lifespan": Lifespan(),
    }
)
