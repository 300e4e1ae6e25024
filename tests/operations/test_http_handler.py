"""HTTP through the ASGI application (contactcenter/http.py): each request whole in one worker thread."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from channels.testing import HttpCommunicator
from django.core import signals

from contactcenter.asgi import application

STATIC = Path(__file__).resolve().parents[2] / "contactcenter" / "static" / "switchboard"


async def fetch(method: str, path: str, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    communicator = HttpCommunicator(application, method, path, body=body, headers=headers or [])
    communicator.scope["client"] = ("127.0.0.1", 50000)
    communicator.scope["server"] = ("127.0.0.1", 8000)
    return await communicator.get_response(timeout=10)


def header(response: dict[str, Any], name: bytes) -> bytes | None:
    return next((value for key, value in response["headers"] if key.lower() == name), None)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_request_runs_from_started_to_finished_in_one_worker_thread() -> None:
    threads: dict[str, str] = {}

    def started(**kwargs: Any) -> None:
        threads["started"] = threading.current_thread().name

    def finished(**kwargs: Any) -> None:
        threads["finished"] = threading.current_thread().name

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        response = await fetch("GET", "/healthz")
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)

    assert response["status"] == 200 and json.loads(response["body"]) == {"status": "ok"}
    # request_finished closes the database connection of the thread it runs in: it must be the view's.
    assert threads["started"] == threads["finished"] and threads["started"].startswith("http")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_request_body_reaches_the_view_and_a_bad_one_gets_a_clear_error(settings: Any) -> None:
    settings.FACEBOOK_APP_SECRET = "app-secret"
    response = await fetch(
        "POST",
        "/webhooks/facebook/",
        body=b'{"object": "page", "entry": []}',
        headers=[(b"content-type", b"application/json"), (b"x-hub-signature-256", b"sha256=" + b"0" * 64)],
    )

    assert response["status"] == 403
    assert "signature" in json.loads(response["body"])["message"].lower()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_static_file_is_sent_whole() -> None:
    expected = (STATIC / "app.css").read_bytes()

    response = await fetch("GET", "/static/switchboard/app.css")

    assert response["status"] == 200
    assert response["body"] == expected
    assert header(response, b"content-length") == str(len(expected)).encode()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_page_that_needs_a_login_redirects_as_it_does_under_any_server() -> None:
    response = await fetch("GET", "/inbox/")

    assert response["status"] == 302
    assert b"login" in (header(response, b"location") or b"")
