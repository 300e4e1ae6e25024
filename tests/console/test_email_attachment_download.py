"""Downloading a message's file: only for whoever may see the conversation, and never rendered by the browser.

The requirement: files are offered as downloads (``Content-Disposition: attachment`` with the exact name in
``filename*``, RFC 6266), the browser may not sniff a type (``nosniff``), and the type sent is passive: the stored
one only for images, PDF and plain text; anything else (HTML, SVG, scripts) goes as ``application/octet-stream``.
Another agent's conversation is a 404, as the conversation page is.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core.models import Attachment, Conversation
from tests.email_threads import client_for

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
PAGE = b"<html><script>alert(document.cookie)</script></html>"


@pytest.fixture
def files(email_conversation: Any) -> tuple[Conversation, dict[str, Attachment]]:
    conversation = email_conversation(
        files=[
            ("invoice.html", "text/html", PAGE, ""),
            ("logo.svg", "image/svg+xml", SVG, ""),
            ("photo.png", "image/png", PNG, "photo1@mail.example.org"),
            ("notes.txt", "text/plain", b"line one\n", ""),
            ("Überweisung März.pdf", "application/pdf", b"%PDF-1.4 tiny", ""),
        ]
    )
    stored = {a.filename: a for a in Attachment.objects.filter(message__conversation=conversation)}
    assert len(stored) == 5
    return conversation, stored


def url(conversation: Conversation, attachment: Attachment) -> str:
    return f"/conversations/{conversation.pk}/attachments/{attachment.pk}/"


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("invoice.html", "application/octet-stream"),
        ("logo.svg", "application/octet-stream"),
        ("photo.png", "image/png"),
        ("notes.txt", "text/plain"),
    ],
)
def test_a_file_downloads_as_an_attachment_with_a_passive_type(
    files: Any, agent: Any, filename: str, content_type: str
) -> None:
    conversation, stored = files

    response = client_for(agent).get(url(conversation, stored[filename]))

    assert response.status_code == 200
    assert response.content == bytes(stored[filename].data)
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{filename}" in disposition
    assert "sandbox" in response["Content-Security-Policy"]


def test_a_name_outside_ascii_is_exact_in_filename_star_with_an_ascii_fallback(files: Any, agent: Any) -> None:
    conversation, stored = files

    response = client_for(agent).get(url(conversation, stored["Überweisung März.pdf"]))

    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"_berweisung M_rz.pdf\"; filename*=UTF-8''%C3%9Cberweisung%20M%C3%A4rz.pdf"
    )


def test_another_agents_conversation_is_not_found(files: Any, other_agent: Any) -> None:
    conversation, stored = files

    response = client_for(other_agent).get(url(conversation, stored["photo.png"]))

    assert response.status_code == 404
    assert PNG not in response.content


def test_a_file_of_another_conversation_is_not_found_through_one_the_agent_may_see(
    files: Any, email_conversation: Any, agent: Any, other_agent: Any
) -> None:
    theirs, stored = files
    from core.actions import do_transfer_to_agent

    do_transfer_to_agent(theirs, other_agent, actor=None)
    mine = email_conversation(subject="Another question", sender="Eve <eve@example.org>")

    response = client_for(agent).get(url(mine, stored["photo.png"]))

    assert response.status_code == 404


def test_a_supervisor_downloads_from_any_conversation(files: Any, supervisor: Any) -> None:
    conversation, stored = files

    assert client_for(supervisor).get(url(conversation, stored["photo.png"])).status_code == 200


def test_without_a_login_there_is_no_file(files: Any) -> None:
    conversation, stored = files

    response = Client().get(url(conversation, stored["photo.png"]))

    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_file_that_was_not_stored_is_not_found(email_conversation: Any, agent: Any, settings: Any) -> None:
    settings.EMAIL_ATTACHMENT_MAX_BYTES = 1024
    conversation = email_conversation(files=[("big.pdf", "application/pdf", b"x" * 5000, "")])
    dropped = Attachment.objects.get(message__conversation=conversation)
    assert dropped.dropped_reason

    response = client_for(agent).get(url(conversation, dropped))

    assert response.status_code == 404
    assert "was not stored" in response.content.decode()
