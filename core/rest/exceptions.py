"""The API's one exception handler: every error leaves as ``{"code", "message", "fields"}``.

``code`` is a stable machine-readable string, ``message`` a sentence for people,
``fields`` maps an input's name to its problems (empty when the error is not
about one input). Domain errors keep their own code and status; DRF's errors
are mapped below; anything else is a bug, logged with its traceback and
answered with a 500 that reveals nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from core.errors import ContactCenterError

logger = logging.getLogger(__name__)

SERVER_ERROR_MESSAGE = "Something went wrong on our side; the error has been logged."


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "fields": fields or {}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """REST framework's EXCEPTION_HANDLER (see settings); never returns None, so DRF never re-raises."""
    # A failed request must not leave half its writes behind (ATOMIC_REQUESTS).
    set_rollback()
    if isinstance(exc, ContactCenterError):
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return Response(_validation_body(exc.detail), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.APIException):
        return _api_exception_response(exc)

    view = context.get("view")
    logger.exception("Unhandled error in API view %s", type(view).__name__ if view else "?", exc_info=exc)
    return Response(error_body("server_error", SERVER_ERROR_MESSAGE), status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def _api_exception_response(exc: exceptions.APIException) -> Response:
    headers: dict[str, str] = {}
    # APIView.handle_exception sets auth_header for 401s (else it turns them into 403s).
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)  # set by Throttled
    if wait is not None:
        headers["Retry-After"] = str(int(wait))
    detail = exc.detail
    code = getattr(detail, "code", None) or exc.default_code
    return Response(error_body(str(code), str(detail)), status=exc.status_code, headers=headers)


def _validation_body(detail: Any) -> dict[str, Any]:
    """One flat ``fields`` map (nested inputs as dotted paths); errors about no one field go in the message."""
    fields: dict[str, list[str]] = {}
    general: list[str] = []
    _collect(detail, "", fields, general)
    general += fields.pop(api_settings.NON_FIELD_ERRORS_KEY, [])
    parts = general + [f"{name}: {' '.join(messages)}" for name, messages in fields.items()]
    message = " ".join(parts) if general else "Invalid input. " + " ".join(parts)
    return error_body("invalid", message.strip(), fields)


def _collect(detail: Any, path: str, fields: dict[str, list[str]], general: list[str]) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            _collect(value, f"{path}.{key}" if path else str(key), fields, general)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                _collect(value, f"{path}.{index}" if path else str(index), fields, general)
            elif path:
                fields.setdefault(path, []).append(str(value))
            else:
                general.append(str(value))
    elif path:
        fields.setdefault(path, []).append(str(detail))
    else:
        general.append(str(detail))
