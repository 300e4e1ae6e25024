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
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from asgiref.sync import sync_to_async
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
        try:
            body = await self.read_body(receive)
        except RequestAborted:
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


def _read_whole(response: HttpResponseBase) -> HttpResponse:
    complete = HttpResponse(b"".join(response), status=response.status_code)
    for header, value in response.items():
        complete[header] = value
    complete.cookies = response.cookies
    return complete
