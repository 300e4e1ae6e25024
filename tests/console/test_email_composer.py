"""The composer on an email conversation, driven over HTTP as an agent uses it.

The issue's composer for email: the subject (prefilled "Re: <subject>", never "Re: Re:"), To (the customer, not
editable), CC (checked addresses, at most 50, without duplicates or the customer), no 280-character counter (X keeps
its counter), a signature at the end of the text (the agent's, else the queue's, else the mailbox's), templates,
and files from the agent (at most 10, 10 MB together by default). Bad input gets a clear refusal and loses nothing:
the typed text comes back. A subject or address with a line break is a header injection and is refused.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import Attachment, Conversation, Direction, Message
from core.models import ConversationState as S
from monitoring.models import Mailbox
from responses.models import ResponseTemplate
from routing.models import Queue
from tests.email_threads import CUSTOMER, client_for
from tests.states import conversation_in_state

pytestmark = pytest.mark.django_db


def page(user: Any, conversation: Conversation) -> str:
    response = client_for(user).get(f"/conversations/{conversation.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def field(content: str, name: str) -> str:
    match = re.search(rf'<input type="text" name="{name}" value="([^"]*)"', content)
    assert match, f"the composer has a {name} field"
    return html.unescape(match.group(1))


def textarea(content: str) -> str:
    match = re.search(r'<textarea name="text"[^>]*>(.*?)</textarea>', content, re.S)
    assert match
    # The HTML parser drops one newline right after the tag, as browsers do.
    return html.unescape(match.group(1)).removeprefix("\n")


def replies(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.filter(direction=Direction.OUTBOUND))


def send(user: Any, conversation: Conversation, **data: Any) -> Any:
    return client_for(user).post(f"/conversations/{conversation.pk}/reply/", data)


# --- What the composer shows ------------------------------------------------------------------------


def test_the_subject_is_re_the_customers_subject(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation(subject="My benefit payment is late")

    assert field(page(agent, conversation), "subject") == "Re: My benefit payment is late"


@pytest.mark.parametrize(
    "subject",
    ["Re: My benefit payment is late", "RE: Re: My benefit payment is late [#42]", "AW: re:My benefit payment is late"],
)
def test_a_subject_that_is_already_a_reply_gets_no_second_re(email_conversation: Any, agent: Any, subject: str) -> None:
    conversation = email_conversation(subject=subject)

    assert field(page(agent, conversation), "subject") == "Re: My benefit payment is late"


def test_to_is_the_customer_and_cannot_be_edited(email_conversation: Any, agent: Any) -> None:
    content = page(agent, email_conversation())

    to = re.search(r"<input [^>]*data-email-to-field[^>]*>", content)
    assert to is not None
    assert f'value="{CUSTOMER}"' in to.group(0) and "readonly" in to.group(0)
    assert "name=" not in to.group(0), "To is not sent: it is always the customer"


def test_to_is_the_reply_to_address_when_the_customers_mail_names_one(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation(headers={"Reply-To": "Dana at home <dana.home@example.net>"})

    content = page(agent, conversation)
    send(agent, conversation, text="Done.", subject="", cc="dana.home@example.net, ben@example.org")

    assert 'value="dana.home@example.net" readonly' in content
    assert replies(conversation)[0].raw["email"]["cc"] == ["ben@example.org"], "the To is not copied"


def test_email_has_no_character_counter_and_x_keeps_its_own(
    email_conversation: Any, agent: Any, make_post: Any, queue: Queue
) -> None:
    email = page(agent, email_conversation())
    x = page(agent, conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent))

    assert "data-counter" not in email and "/ 100000" not in email
    assert re.search(r"<span data-counter[^>]*>0 / 280</span>", x)
    assert 'name="subject"' not in x and 'name="cc"' not in x and 'name="attachments"' not in x


def test_the_agents_signature_ends_the_text(email_conversation: Any, agent: Any, queue: Queue) -> None:
    agent.agent_profile.email_signature = "Ana Lima\r\nBenefits team"
    agent.agent_profile.save()
    Queue.objects.filter(pk=queue.pk).update(email_signature="The General queue")

    content = page(agent, email_conversation())

    assert textarea(content) == "\n\n-- \nAna Lima\nBenefits team"


def test_without_an_agents_signature_the_queues_is_used(email_conversation: Any, agent: Any, queue: Queue) -> None:
    Queue.objects.filter(pk=queue.pk).update(email_signature="-- \nThe benefits helpline")
    Mailbox.objects.update(signature="The agency")

    assert textarea(page(agent, email_conversation())) == "\n\n-- \nThe benefits helpline"


def test_without_an_agents_or_queues_signature_the_mailboxs_is_used(email_conversation: Any, agent: Any) -> None:
    Mailbox.objects.update(signature="The agency\nhelp@agency.example")

    assert textarea(page(agent, email_conversation())) == "\n\n-- \nThe agency\nhelp@agency.example"


def test_without_any_signature_the_text_starts_empty(email_conversation: Any, agent: Any) -> None:
    assert textarea(page(agent, email_conversation())) == ""


def test_templates_are_offered_on_an_email_conversation(email_conversation: Any, agent: Any) -> None:
    ResponseTemplate.objects.create(name="Payment", shortcut="payment", body="Dear {customer_name}, it is on its way.")
    conversation = email_conversation()

    response = client_for(agent).get(f"/conversations/{conversation.pk}/templates/", {"q": "/pay"})

    assert response.json()["templates"] == [
        {"shortcut": "payment", "name": "Payment", "text": "Dear Dana White, it is on its way."}
    ]


# --- Sending ------------------------------------------------------------------------------------------


def test_a_reply_keeps_its_subject_cc_and_files(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation()
    files = [
        SimpleUploadedFile("letter.pdf", b"%PDF-1.4 letter", content_type="application/pdf"),
        SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n", content_type="image/png"),
    ]

    response = send(
        agent,
        conversation,
        text="We have sent the payment again.\n\n-- \nAna",
        subject="Re: My benefit payment is late",
        cc="Ben Ortiz <ben@example.org>, carla@example.org, BEN@example.org, dana@example.org",
        attachments=files,
    )

    assert response.status_code == 302
    (reply,) = replies(conversation)
    assert reply.text == "We have sent the payment again.\n\n-- \nAna"
    assert reply.raw["email"] == {
        "subject": "Re: My benefit payment is late",
        "cc": ["ben@example.org", "carla@example.org"],  # the duplicate and the customer (To) removed
    }
    stored = [(a.filename, a.content_type, a.size, bytes(a.data)) for a in Attachment.objects.filter(message=reply)]
    assert stored == [
        ("letter.pdf", "application/pdf", 15, b"%PDF-1.4 letter"),
        ("photo.png", "image/png", 8, b"\x89PNG\r\n\x1a\n"),
    ]


def test_a_blank_subject_leaves_the_default_to_the_sending_side(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation()

    send(agent, conversation, text="Done.", subject="  ", cc="")

    assert replies(conversation)[0].raw["email"] == {"cc": []}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"subject": "Refund\r\nBcc: everyone@example.net"}, "The subject may not contain line breaks."),
        ({"subject": "Refund\nBcc: everyone@example.net"}, "The subject may not contain line breaks."),
        ({"subject": "Refund\x00"}, "The subject may not contain control characters (such as tabs or NUL)."),
        ({"cc": "ben@example.org\r\nBcc: everyone@example.net"}, "A CC address may not contain line breaks."),
        ({"cc": "Ben\r\nBcc: everyone@example.net <ben@example.org>"}, "A CC address may not contain line breaks."),
        ({"cc": "ben@example.org, not-an-address"}, "'not-an-address' is not an email address."),
        ({"subject": "x" * 201}, "The subject is 201 characters; at most 200 are allowed."),
        (
            {"cc": ", ".join(f"p{n}@example.org" for n in range(51))},
            "That is 51 CC addresses; at most 50 are allowed.",
        ),
    ],
)
def test_a_bad_subject_or_address_is_refused_with_the_text_kept_and_nothing_stored(
    email_conversation: Any, agent: Any, data: dict[str, str], message: str
) -> None:
    conversation = email_conversation()
    draft = "We have sent the payment again.\n\n-- \nAna"
    upload = SimpleUploadedFile("letter.pdf", b"%PDF-1.4", content_type="application/pdf")

    response = send(agent, conversation, text=draft, attachments=[upload], **({"subject": "Re: late", "cc": ""} | data))

    assert response.status_code == 400
    content = response.content.decode()
    assert html.escape(message) in content
    assert textarea(content).replace("\r\n", "\n") == draft
    assert "Choose the files again" in content
    assert replies(conversation) == [] and not Attachment.objects.filter(message__direction="out").exists()
    conversation.refresh_from_db()
    assert conversation.state == S.ASSIGNED


def test_fifty_cc_addresses_after_removing_duplicates_are_allowed(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation()
    cc = [f"p{n}@example.org" for n in range(50)] + ["P0@example.org", CUSTOMER]

    send(agent, conversation, text="Copying everyone.", subject="", cc=", ".join(cc))

    assert len(replies(conversation)[0].raw["email"]["cc"]) == 50


def test_files_over_the_size_limit_are_refused_and_the_reply_not_stored(
    email_conversation: Any, agent: Any, settings: Any
) -> None:
    settings.EMAIL_REPLY_ATTACHMENT_MAX_BYTES = 1024 * 1024
    conversation = email_conversation()
    files = [SimpleUploadedFile(f"scan{n}.pdf", b"x" * 600 * 1024, content_type="application/pdf") for n in range(2)]

    response = send(agent, conversation, text="Here are the scans.", subject="Scans", cc="", attachments=files)

    assert response.status_code == 400
    content = response.content.decode()
    assert "The files come to 1.2 MB; at most 1.0 MB may be attached to one reply." in content
    assert textarea(content) == "Here are the scans."
    assert field(content, "subject") == "Scans"
    assert replies(conversation) == [] and not Attachment.objects.filter(message__direction="out").exists()


def test_more_than_ten_files_are_refused(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation()
    files = [SimpleUploadedFile(f"f{n}.txt", b"x", content_type="text/plain") for n in range(11)]

    response = send(agent, conversation, text="Files.", subject="", cc="", attachments=files)

    assert response.status_code == 400
    assert "That is 11 files; at most 10 may be attached to one reply." in response.content.decode()
    assert replies(conversation) == []


def test_ten_files_at_the_size_limit_are_sent(email_conversation: Any, agent: Any, settings: Any) -> None:
    settings.EMAIL_REPLY_ATTACHMENT_MAX_BYTES = 10 * 1024
    conversation = email_conversation()
    files = [SimpleUploadedFile(f"f{n}.txt", b"x" * 1024, content_type="text/plain") for n in range(10)]

    assert send(agent, conversation, text="Files.", subject="", cc="", attachments=files).status_code == 302
    assert Attachment.objects.filter(message__in=replies(conversation)).count() == 10


def test_a_files_path_and_unknown_type_are_not_kept(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation()
    upload = SimpleUploadedFile("C:\\Users\\ana\\notes.txt", b"notes", content_type="not a type")

    send(agent, conversation, text="Notes.", subject="", cc="", attachments=[upload])

    attachment = Attachment.objects.get(message__in=replies(conversation))
    assert (attachment.filename, attachment.content_type) == ("notes.txt", "application/octet-stream")


def test_email_fields_on_another_channel_are_refused(agent: Any, make_post: Any, queue: Queue) -> None:
    conversation = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)

    response = send(agent, conversation, text="Sorry!", subject="Re: router")

    assert response.status_code == 400
    assert "can only be sent with an email reply" in html.unescape(response.content.decode())
    assert replies(conversation) == []


def test_a_reply_on_x_is_unchanged(agent: Any, make_post: Any, queue: Queue) -> None:
    conversation = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)

    assert send(agent, conversation, text="Sorry!").status_code == 302
    assert replies(conversation)[0].raw == {}


# --- Where signatures are set -------------------------------------------------------------------------


def test_an_admin_sets_a_queues_signature_through_the_api_and_the_composer_uses_it(
    email_conversation: Any, agent: Any, admin_user: Any, queue: Queue
) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.patch(f"/api/v1/queues/{queue.pk}/", {"email_signature": "The benefits helpline"}, format="json")

    assert response.status_code == 200 and response.json()["email_signature"] == "The benefits helpline"
    assert textarea(page(agent, email_conversation())) == "\n\n-- \nThe benefits helpline"


def test_the_admin_edits_an_agents_and_a_queues_signature(admin_user: Any, agent: Any, queue: Queue) -> None:
    client = client_for(admin_user)

    agent_page = client.get(f"/admin/agents/agentprofile/{agent.agent_profile.pk}/change/").content.decode()
    queue_page = client.get(f"/admin/routing/queue/{queue.pk}/change/").content.decode()

    assert 'name="email_signature"' in agent_page
    assert 'name="email_signature"' in queue_page
