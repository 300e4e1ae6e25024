"""Django's HTTP under ASGI, each request run whole by the synchronous handler in one of a fixed set of threads.

Why not Django's ``ASGIHandler`` as it is: every view and middleware here is
synchronous, and under it a request gets a new thread of its own
(``ThreadSensitiveContext``) and crosses between that thread and the event
loop at each async-capable middleware, each view middleware, each signal and
the view itself. Under ``bench load`` that bookkeeping, not the views, was
most of a request's CPU. Here a request crosses to a worker thread once,
and runs there what a WSGI server would run: ``request_started``, the
middleware chain, the view, and ``response.close()`` with
``request_finished``. So the database connection a request used goes back to
the pool from the thread that took it, and the threads live as long as the
process. Websockets and the lifespan stay on the event loop (``asgi.py``).

What the event loop keeps: reading the body, and sending the response once it
is complete. Switchboard streams nothing; a streaming response (WhiteNoise's
static files) is read whole in the worker thread first.

Request bodies are bounded here, before Django sees them, with one limit per
kind of route (:func:`body_limit`): a declared ``Content-Length`` over it is
answered 413 without reading a byte of the body, and a body of undeclared
length (chunked) is counted as it arrives and cut off with 413 the moment it
passes the limit. So nothing past the limit is ever buffered, in memory or in
the spooled temporary file Django's ``read_body`` would otherwise fill.
"""

from __future__ import annotations

import json
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import HttpResponse, HttpResponseBase
from django.urls import set_script_prefix


class ThreadedHTTPHandler(ASGIHandler):
    def __init__(self, threads: int) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP here, not {scope['type']}.")
        kind, limit = body_limit(scope)
        if declared_length(scope) > limit:
            await _send_too_large(send, kind, limit)
            return
        try:
            body = await read_body_within(receive, limit)
        except RequestAborted:
            return
        if body is None:
            await _send_too_large(send, kind, limit)
            return
        respond = sync_to_async(self.respond, thread_sensitive=False, executor=self.executor)
        response = await respond(scope, body)
        await self.send_response(response, send)

    def respond(self, scope: dict[str, Any], body: Any) -> HttpResponseBase:
        """The whole synchronous request, in a worker thread: the complete response, already closed."""
        try:
            set_script_prefix(get_script_prefix(scope))
            signals.request_started.send(sender=self.__class__, scope=scope)
            request, error_response = self.create_request(scope, body)
            response = cast(HttpResponseBase, error_response if request is None else self.get_response(request))
            complete = _read_whole(response) if response.streaming else response
            response.close()  # request_finished: this thread's connection goes back to the pool
            return complete
        finally:
            body.close()


_REPLY_ROUTES = re.compile(r"/conversations/[0-9]+/reply/|/api/v1/conversations/[0-9]+/replies/")
"""The routes that take uploads (contactcenter.urls ``reply``, contactcenter.api.urls ``api-conversation-replies``)."""


def body_limit(scope: dict[str, Any]) -> tuple[str, int]:
    """The kind of route a request is for and the most bytes its body may have (settings ``MAX_BODY_BYTES_*``).

    Webhooks carry the platforms' payloads; the API, JSON from integrations and the
    console's scripts; everything else is a form (pages, the admin, logging in).
    The two reply routes (the composer's form, the API's replies) also carry an email
    reply's files: they take twice ``EMAIL_REPLY_ATTACHMENT_MAX_BYTES`` more, so files
    somewhat over that limit still reach the reply's own check, which refuses them
    with the agent's text kept, rather than a bare 413.
    """
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    if _REPLY_ROUTES.fullmatch(path):
        base = settings.MAX_BODY_BYTES_API if path.startswith("/api/") else settings.MAX_BODY_BYTES_FORMS
        return "replies", base + 2 * settings.EMAIL_REPLY_ATTACHMENT_MAX_BYTES
    if path.startswith("/webhooks/"):
        return "webhooks", settings.MAX_BODY_BYTES_WEBHOOKS
    if path.startswith("/api/"):
        return "api", settings.MAX_BODY_BYTES_API
    return "forms", settings.MAX_BODY_BYTES_FORMS


_MAX_LENGTH_DIGITS = 19
"""Longer Content-Length values are over any limit (and int() refuses the longest of them)."""


def declared_length(scope: dict[str, Any]) -> int:
    """The request's Content-Length, 0 when it has none (or none that is a number: then its length is counted)."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            if not value.isdigit():  # bytes.isdigit() is ASCII only
                return 0
            return int(value) if len(value) <= _MAX_LENGTH_DIGITS else 10**_MAX_LENGTH_DIGITS
    return 0


async def read_body_within(receive: Any, limit: int) -> IO[bytes] | None:
    """The request body, or None as soon as more than ``limit`` bytes have arrived (the rest is never read).

    A chunk that takes the body over the limit is dropped, not written: the file never
    holds more than ``limit`` bytes. Raises RequestAborted when the client goes away.
    """
    body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            body.close()
            raise RequestAborted()
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            body.close()
            return None
        body.write(chunk)
        if not message.get("more_body", False):
            break
    body.seek(0)
    return cast(IO[bytes], body)


async def _send_too_large(send: Any, kind: str, limit: int) -> None:
    """413 in the API's error shape, and the connection closed: the rest of the body is not waited for."""
    payload = json.dumps(
        {"code": "too_large", "message": f"Request body over {limit} bytes (the limit for {kind}).", "fields": {}}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _read_whole(response: HttpResponseBase) -> HttpResponse:
    complete = HttpResponse(b"".join(response), status=response.status_code)
    for header, value in response.items():
        complete[header] = value
    complete.cookies = response.cookies
    return complete
