"""An email reply's subject, CC and files through every door: the composer, the REST API, and approval.

One use case (``responses.actions.do_send_reply``) behind each door: whichever door an agent uses, the reply is
stored with the same ``raw["email"]`` and the same attachment rows, a refusal is the same refusal with nothing
stored, and a reply held for a supervisor keeps its subject, CC and files through approval (HTML and API).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from agents.models import AgentProfile
from core.models import Attachment, Conversation, Delivery, Direction, Message
from core.models import ConversationState as S
from routing.models import Queue
from tests.email_threads import client_for
from tests.states import conversation_in_state

pytestmark = pytest.mark.django_db

TEXT = "We have sent the payment again.\n\n-- \nAna"


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def uploads() -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile("letter.pdf", b"%PDF-1.4 letter", content_type="application/pdf"),
        SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n", content_type="image/png"),
    ]


def html_door(user: Any, conversation: Conversation, subject: str, cc: list[str], files: list[Any]) -> Any:
    data = {"text": TEXT, "subject": subject, "cc": ", ".join(cc), "attachments": files}
    return client_for(user).post(f"/conversations/{conversation.pk}/reply/", data)


def api_door(user: Any, conversation: Conversation, subject: str, cc: list[str], files: list[Any]) -> Any:
    data = {"text": TEXT, "subject": subject, "cc": cc, "attachments": files}
    return api(user).post(f"/api/v1/conversations/{conversation.pk}/replies/", data, format="multipart")


DOORS: dict[str, Callable[..., Any]] = {"html": html_door, "api": api_door}


def reply_of(conversation: Conversation) -> Message:
    return Message.objects.get(conversation=conversation, direction=Direction.OUTBOUND)


def stored_files(message: Message) -> list[tuple[str, str, bytes]]:
    return [(a.filename, a.content_type, bytes(a.data)) for a in Attachment.objects.filter(message=message)]


EXPECTED_FILES = [
    ("letter.pdf", "application/pdf", b"%PDF-1.4 letter"),
    ("photo.png", "image/png", b"\x89PNG\r\n\x1a\n"),
]


@pytest.mark.parametrize("door", sorted(DOORS))
def test_an_email_reply_keeps_subject_cc_and_files_through_every_door(
    door: str, email_conversation: Any, agent: Any
) -> None:
    conversation = email_conversation()

    response = DOORS[door](agent, conversation, "Your payment", ["ben@example.org", "dana@example.org"], uploads())

    assert response.status_code < 400, response.content
    reply = reply_of(conversation)
    assert (reply.text, reply.delivery) == (TEXT, Delivery.QUEUED)
    assert reply.raw["email"] == {"subject": "Your payment", "cc": ["ben@example.org"]}
    assert stored_files(reply) == EXPECTED_FILES
    conversation.refresh_from_db()
    assert conversation.state == S.WAITING


@pytest.mark.parametrize("door", sorted(DOORS))
@pytest.mark.parametrize(
    ("subject", "cc", "field", "message"),
    [
        ("Refund\r\nBcc: all@example.net", [], "subject", "The subject may not contain line breaks."),
        ("Refund", ["ben@example.org\nBcc: all@example.net"], "cc", "A CC address may not contain line breaks."),
        (
            "Refund",
            ["Ben\r\nBcc: all@example.net <ben@example.org>"],
            "cc",
            "A CC address may not contain line breaks.",
        ),
    ],
)
def test_a_header_injection_is_refused_the_same_way_through_every_door_and_nothing_is_stored(
    door: str, email_conversation: Any, agent: Any, subject: str, cc: list[str], field: str, message: str
) -> None:
    conversation = email_conversation()

    response = DOORS[door](agent, conversation, subject, cc, uploads())

    assert response.status_code == 400
    if door == "api":
        assert response.json() == {"code": "invalid", "message": message, "fields": {field: [message]}}
    else:
        assert message in response.content.decode()
    assert not conversation.messages.filter(direction=Direction.OUTBOUND).exists()
    assert not Attachment.objects.filter(message__direction=Direction.OUTBOUND).exists()


@pytest.mark.parametrize("door", sorted(DOORS))
def test_files_over_the_limit_are_refused_through_every_door(
    door: str, email_conversation: Any, agent: Any, settings: Any
) -> None:
    settings.EMAIL_REPLY_ATTACHMENT_MAX_BYTES = 1024
    conversation = email_conversation()
    big = [SimpleUploadedFile("scan.pdf", b"x" * 2048, content_type="application/pdf")]

    response = DOORS[door](agent, conversation, "Scans", [], big)

    assert response.status_code == 400
    expected = "The files come to 2.0 KB; at most 1.0 KB may be attached to one reply."
    if door == "api":
        assert response.json()["fields"] == {"attachments": [expected]}
    else:
        assert expected in response.content.decode()
    assert not conversation.messages.filter(direction=Direction.OUTBOUND).exists()


def test_the_api_takes_subject_and_cc_as_json(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation()

    response = api(agent).post(
        f"/api/v1/conversations/{conversation.pk}/replies/",
        {"text": "Done.", "subject": "Your payment", "cc": ["Ben <ben@example.org>"]},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["email"]["subject"] == "Your payment" and body["email"]["cc"] == ["ben@example.org"]
    assert body["files"] == []
    assert reply_of(conversation).raw["email"] == {"subject": "Your payment", "cc": ["ben@example.org"]}


def test_the_api_lists_an_email_messages_headers_and_files(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation(
        cc="ben@example.org", files=[("photo.png", "image/png", b"\x89PNG\r\n\x1a\n", "")]
    )

    body = api(agent).get(f"/api/v1/conversations/{conversation.pk}/messages/").json()

    (inbound,) = body["results"]
    assert inbound["email"] == {
        "subject": "My benefit payment is late",
        "from_address": "dana@example.org",
        "from_name": "Dana White",
        "to": ["help@agency.example"],
        "cc": ["ben@example.org"],
        "recipient_count": 2,
        "auto": "",
    }
    (photo,) = inbound["files"]
    assert {k: photo[k] for k in ("filename", "content_type", "size", "dropped_reason")} == {
        "filename": "photo.png",
        "content_type": "image/png",
        "size": 8,
        "dropped_reason": "",
    }


def test_email_fields_on_an_x_conversation_are_refused_by_the_api(agent: Any, make_post: Any, queue: Queue) -> None:
    conversation = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)

    response = api(agent).post(
        f"/api/v1/conversations/{conversation.pk}/replies/", {"text": "Sorry!", "cc": ["a@example.org"]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["message"] == (
        "A subject, CC addresses and attachments can only be sent with an email reply."
    )
    assert not conversation.messages.filter(direction=Direction.OUTBOUND).exists()


def test_the_schema_documents_the_email_fields_and_the_multipart_files(agent: Any) -> None:
    schema = api(agent).get("/api/schema/?format=json").json()

    body = schema["paths"]["/api/v1/conversations/{conversation_id}/replies/"]["post"]["requestBody"]["content"]
    assert set(body) >= {"application/json", "multipart/form-data"}
    components = schema["components"]["schemas"]
    multipart = components[body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert multipart["properties"]["attachments"]["items"] == {"type": "string", "format": "binary"}
    json_request = components[body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"subject", "cc"} <= set(json_request["properties"])
    assert "attachments" not in json_request["properties"]


# --- Held for approval -------------------------------------------------------------------------------


@pytest.fixture
def held(email_conversation: Any, agent: Any) -> Message:
    """Ana is a trainee: her email reply, with subject, CC and files, waits for a supervisor."""
    AgentProfile.objects.filter(user=agent).update(is_trainee=True)
    conversation = email_conversation()
    response = html_door(agent, conversation, "Your payment", ["ben@example.org"], uploads())
    assert response.status_code == 302
    message = reply_of(conversation)
    assert message.delivery == Delivery.PENDING_APPROVAL
    return message


def test_a_held_reply_keeps_its_subject_cc_and_files(held: Message) -> None:
    assert held.raw["email"] == {"subject": "Your payment", "cc": ["ben@example.org"]}
    assert stored_files(held) == EXPECTED_FILES


def test_the_approvals_page_shows_what_the_email_carries(held: Message, supervisor: Any) -> None:
    content = client_for(supervisor).get("/approvals/").content.decode()

    assert "Your payment" in content and "ben@example.org" in content
    for attachment in Attachment.objects.filter(message=held):
        assert f'href="/conversations/{held.conversation_id}/attachments/{attachment.pk}/"' in content


APPROVE_DOORS: dict[str, Callable[[Any, Message], Any]] = {
    "html": lambda user, m: client_for(user).post(f"/approvals/{m.pk}/approve/", {"text": ""}),
    "api": lambda user, m: api(user).post(f"/api/v1/replies/{m.pk}/approve/", {}, format="json"),
}


@pytest.mark.parametrize("door", sorted(APPROVE_DOORS))
def test_approval_sends_the_subject_cc_and_files_it_was_held_with(door: str, held: Message, supervisor: Any) -> None:
    response = APPROVE_DOORS[door](supervisor, held)

    assert response.status_code < 400
    released = Message.objects.get(pk=held.pk)
    assert released.delivery == Delivery.QUEUED and released.idempotency_key is not None
    assert released.raw["email"] == {"subject": "Your payment", "cc": ["ben@example.org"]}
    assert stored_files(released) == EXPECTED_FILES
    assert released.text == TEXT
