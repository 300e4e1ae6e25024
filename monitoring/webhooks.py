"""Webhook endpoints for X Account Activity and Facebook Page/Messenger events.

Each POST is checked in this order, so a bad request costs us nothing:
size (413), signature over the raw bytes (403), JSON and shape (400). A
valid delivery is stored through the same pipeline as polling *before* 200
is returned; a repeated delivery is a no-op. A delivery for an account that is
disabled is held, whole, until an admin processes it (``monitoring.actions``);
one for an account we do not know is acknowledged and dropped (with a log
line), since the platform would otherwise retry it for days.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from monitoring.actions import do_receive_delivery, parse_delivery
from monitoring.platforms import MalformedPayload
from monitoring.platforms import facebook as facebook_platform
from monitoring.platforms import x as x_platform

logger = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "fields": {}}, status=status)


def _receive(
    request: HttpRequest,
    platform: str,
    secret: str | None,
    signature_header: str,
    signature_valid: Callable[[str, bytes, str | None], bool],
) -> HttpResponse:
    # Under the ASGI server a body over the limit never gets here (contactcenter/http.py refuses it
    # unread); this check keeps the limit under any other server (WSGI) and Django's test client.
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        # isdigit() passes "²" and 5000-digit numbers, which int() refuses. Django reads such a
        # body as empty, and the bounded read below enforces the limit whatever was declared.
        declared = 0
    if declared > settings.MAX_BODY_BYTES_WEBHOOKS:
        return _error(413, "too_large", f"Body over {settings.MAX_BODY_BYTES_WEBHOOKS} bytes.")
    body = request.read(settings.MAX_BODY_BYTES_WEBHOOKS + 1)
    if len(body) > settings.MAX_BODY_BYTES_WEBHOOKS:
        return _error(413, "too_large", f"Body over {settings.MAX_BODY_BYTES_WEBHOOKS} bytes.")
    if not secret:
        logger.warning("%s webhook refused: its secret is not configured", platform)
        return _error(403, "not_configured", "Webhook secret not configured.")
    if not signature_valid(secret, body, request.headers.get(signature_header)):
        return _error(403, "bad_signature", "Signature missing or invalid.")
    try:
        events = parse_delivery(platform, body)
    except MalformedPayload as error:
        return _error(400, "malformed", str(error))
    stats = do_receive_delivery(platform, body, events)
    return JsonResponse({"status": "ok", "stored": stats.stored, "duplicates": stats.duplicates, "held": stats.held})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def facebook_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        token = settings.FACEBOOK_VERIFY_TOKEN
        challenge = facebook_platform.handshake_response(request.GET, token) if token else None
        if challenge is None:
            return _error(403, "bad_verify_token", "Verification failed.")
        return HttpResponse(challenge, content_type="text/plain")
    return _receive(
        request,
        "facebook",
        settings.FACEBOOK_APP_SECRET,
        "X-Hub-Signature-256",
        facebook_platform.signature_valid,
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def x_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        crc_token = request.GET.get("crc_token", "")
        if not crc_token:
            return _error(400, "missing_crc_token", "crc_token is required.")
        if not settings.X_CONSUMER_SECRET:
            return _error(403, "not_configured", "X_CONSUMER_SECRET is not configured.")
        return JsonResponse({"response_token": x_platform.crc_response_token(settings.X_CONSUMER_SECRET, crc_token)})
    return _receive(
        request,
        "x",
        settings.X_CONSUMER_SECRET,
        "x-twitter-webhooks-signature",
        x_platform.signature_valid,
    )
