"""ASGI entry point: HTTP to Django (``contactcenter.http``), websockets to the events consumer, lifespan to the
embedded scheduler."""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")
django.setup(set_prefix=False)

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up first
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from contactcenter.consumers import EventsConsumer  # noqa: E402
from contactcenter.embedded import Lifespan  # noqa: E402
from contactcenter.http import ThreadedHTTPHandler  # noqa: E402
from contactcenter.origins import CsrfOriginValidator  # noqa: E402

websocket_urlpatterns = [path("ws/events/", EventsConsumer.as_asgi())]

application = ProtocolTypeRouter(
    {
        "http": ThreadedHTTPHandler(threads=settings.WEB_THREADS),
        "websocket": CsrfOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        "lifespan": Lifespan(),
    }
)
