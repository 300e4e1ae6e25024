"""The widget's HTTP side: its script and style sheet, a channel's public configuration, and the demo page.

The script and style sheet are served to any site (CORS ``*``: they hold nothing private); a channel's
configuration only to its allowed origins. The websocket is ``chat.consumers``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from chat.actions import open_channel
from chat.demo import DEMO_CHAT
from chat.models import ChatChannel
from chat.queries import widget_config

STATIC = Path(__file__).resolve().parent / "static" / "chat"
ASSET_MAX_AGE = 300
"""Seconds a browser may keep the widget's files: short, so a new release reaches the host sites within minutes."""


@cache
def _asset(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _serve_asset(name: str, content_type: str) -> HttpResponse:
    response = HttpResponse(_asset(name), content_type=content_type)
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}"
    response["X-Content-Type-Options"] = "nosniff"
    # Loaded by other sites: not a document, so their pages may use it (the site's own CORP would refuse them).
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@require_GET
def widget_js(request: HttpRequest) -> HttpResponse:
    return _serve_asset("widget.js", "application/javascript; charset=utf-8")


@require_GET
def widget_css(request: HttpRequest) -> HttpResponse:
    return _serve_asset("widget.css", "text/css; charset=utf-8")


def _origin(request: HttpRequest) -> str:
    return request.headers.get("Origin", "").strip().rstrip("/").lower()


@require_GET
def config(request: HttpRequest, key: str) -> HttpResponse:
    """A channel's configuration, for pages on its allowed origins (CORS for those alone).

    A browser sends ``Origin`` on the widget's cross-site fetch; one not allowed gets 403 and a sentence saying
    why. Without ``Origin`` (a same-site page, or not a browser) the answer carries no CORS header, so no other
    site's page can read it.
    """
    channel = open_channel(key)
    if channel is None:
        return JsonResponse({"error": f"There is no enabled chat channel {key[:64]!r}."}, status=404)
    origin = _origin(request)
    if origin and not channel.allows_origin(origin):
        response = JsonResponse(
            {"error": f"The chat channel {key!r} is not allowed on {origin[:100]}: add it to its allowed origins."},
            status=403,
        )
        response["Access-Control-Allow-Origin"] = origin  # so the widget can read why, and say it in the console
    else:
        response = JsonResponse(widget_config(channel, timezone.now()))
        if origin:
            response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    response["Cache-Control"] = "no-store"  # "online" changes by the minute
    return response


@require_GET
def demo(request: HttpRequest) -> HttpResponse:
    """The demo customer page: a made-up company's site with the widget, for the embedded default's ``demo`` chat."""
    channel = ChatChannel.objects.filter(key=DEMO_CHAT).first()
    return render(request, "chat/demo.html", {"channel": channel, "key": DEMO_CHAT})
