"""Mail through the pipe command: one conversation per person and thread, whatever the clients do.

Each case is one a peer got wrong (Chatwoot #3868, #8572, #10791, #10750, PR #13502, #15869): the expectation is
the requirement's, written before the code: a reply to our reply continues the customer's conversation; other
people replying to the same mail do not join it; a changed subject under the same headers stays; a token in the
subject threads mail whose client dropped the headers; a forward is the forwarder's new conversation; the same
mail delivered twice is stored once; an out-of-office changes nothing.
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import Any

import pytest
from django.utils import timezone

from core.models import Attachment, Channel, Conversation, ConversationState, Delivery, Direction, Event, EventKind
from core.models import Message as StoredMessage
from monitoring.models import Mailbox, SocialAccount
from tests.emails import ADDRESS, call_command_in_process, deliver, mail


@pytest.fixture
def mailbox(db: None, queue: Any) -> Mailbox:
    account = SocialAccount.objects.create(platform="email", external_id=ADDRESS, handle=ADDRESS, name="help")
    return Mailbox.objects.create(account=account, address=ADDRESS, smtp_host="127.0.0.1")


def conversation_of(message_id: str) -> Conversation:
    message = StoredMessage.objects.select_related("conversation").get(platform="email", external_id=message_id)
    assert message.conversation is not None
    return message.conversation


def our_reply(conversation: Conversation) -> str:
    """A reply of ours as the outbox leaves it once sent: its Message-ID is its external id."""
    message_id = f"sb.{uuid.uuid4()}@agency.example"
    StoredMessage.objects.create(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        platform="email",
        external_id=message_id,
        text="We are looking into it.",
        is_public=False,
        sent_at=timezone.now(),
        delivery=Delivery.SENT,
        idempotency_key=uuid.uuid4(),
    )
    return message_id


@pytest.mark.django_db
def test_a_new_mail_opens_an_email_conversation_with_its_subject(mailbox: Mailbox) -> None:
    raw, message_id = mail()
    assert "Stored" in deliver(raw)
    conversation = conversation_of(message_id)
    assert conversation.channel == Channel.EMAIL
    assert conversation.subject == "My benefit payment is late"
    assert conversation.state == ConversationState.QUEUED
    identity = StoredMessage.objects.get(external_id=message_id).author_identity
    assert identity is not None and identity.external_id == "dana@example.org"
    assert identity.display_name == "Dana White"


@pytest.mark.django_db
def test_the_same_mail_delivered_twice_is_stored_once(mailbox: Mailbox) -> None:
    raw, message_id = mail()
    deliver(raw)
    assert "Already stored" in deliver(raw)
    assert StoredMessage.objects.filter(external_id=message_id).count() == 1
    assert Conversation.objects.count() == 1


@pytest.mark.django_db
def test_a_reply_to_our_reply_continues_the_customers_conversation(mailbox: Mailbox) -> None:
    raw, first = mail()
    deliver(raw)
    conversation = conversation_of(first)
    ours = our_reply(conversation)
    reply, reply_id = mail(subject="Re: My benefit payment is late", in_reply_to=ours, references=f"<{first}> <{ours}>")
    deliver(reply)
    assert conversation_of(reply_id).pk == conversation.pk
    assert Conversation.objects.count() == 1


@pytest.mark.django_db
def test_a_reply_with_a_new_subject_under_the_same_headers_stays_in_its_conversation(mailbox: Mailbox) -> None:
    raw, first = mail()
    deliver(raw)
    conversation = conversation_of(first)
    ours = our_reply(conversation)
    reply, reply_id = mail(subject="Also: my address changed", in_reply_to=ours, references=f"<{first}> <{ours}>")
    deliver(reply)
    assert conversation_of(reply_id).pk == conversation.pk


@pytest.mark.django_db
def test_other_people_replying_to_the_same_mail_get_conversations_of_their_own(mailbox: Mailbox) -> None:
    raw, first = mail(cc="Sam Reed <sam@example.net>, lee@example.com")
    deliver(raw)
    dana = conversation_of(first)
    ours = our_reply(dana)
    sam, sam_id = mail("Sam Reed <sam@example.net>", "Re: My benefit payment is late", "Mine too!", in_reply_to=first)
    lee, lee_id = mail(
        "lee@example.com",
        "Re: My benefit payment is late",
        "Same here",
        in_reply_to=ours,
        references=f"<{first}> <{ours}>",
    )
    deliver(sam)
    deliver(lee)
    assert len({dana.pk, conversation_of(sam_id).pk, conversation_of(lee_id).pk}) == 3
    assert conversation_of(sam_id).contact_id != dana.contact_id


@pytest.mark.django_db
def test_the_subject_token_threads_mail_whose_client_dropped_the_headers(mailbox: Mailbox) -> None:
    raw, first = mail()
    deliver(raw)
    conversation = conversation_of(first)
    again, again_id = mail(subject=f"Re: My benefit payment is late [#{conversation.pk}]", body="Any news?")
    deliver(again)
    assert conversation_of(again_id).pk == conversation.pk


@pytest.mark.django_db
def test_a_token_naming_someone_elses_conversation_opens_a_new_one(mailbox: Mailbox) -> None:
    raw, first = mail()
    deliver(raw)
    dana = conversation_of(first)
    other, other_id = mail("eve@example.com", f"Re: [#{dana.pk}]", "Show me their case")
    deliver(other)
    assert conversation_of(other_id).pk != dana.pk


@pytest.mark.django_db
def test_a_forwarded_mail_is_the_forwarders_new_conversation(mailbox: Mailbox) -> None:
    raw, first = mail()
    deliver(raw)
    forward, forward_id = mail(
        "Kim Lo <kim@example.com>",
        "Fwd: My benefit payment is late",
        "See below, my neighbour has the same problem.\n\n---------- Forwarded message ---------\n"
        "From: Dana White <dana@example.org>\nHello, my payment has not arrived this month.",
        references=f"<{first}>",
    )
    deliver(forward)
    conversation = conversation_of(forward_id)
    assert conversation.pk != conversation_of(first).pk
    assert conversation.subject == "Fwd: My benefit payment is late"


@pytest.mark.django_db
def test_an_out_of_office_is_kept_on_the_conversation_and_changes_nothing(mailbox: Mailbox) -> None:
    raw, first = mail()
    deliver(raw)
    conversation = conversation_of(first)
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.WAITING)
    ours = our_reply(conversation)
    events_before = Event.objects.count()
    ooo, ooo_id = mail(
        subject="Automatic reply: My benefit payment is late",
        body="I am out of the office until Monday.",
        in_reply_to=ours,
        headers={"Auto-Submitted": "auto-replied"},
    )
    deliver(ooo)
    assert conversation_of(ooo_id).pk == conversation.pk
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.WAITING
    assert not Event.objects.filter(kind__in=[EventKind.CUSTOMER_REPLY, EventKind.REOPENED]).exists()
    assert Event.objects.count() == events_before


@pytest.mark.django_db
def test_an_out_of_office_outside_any_conversation_is_kept_and_filtered(mailbox: Mailbox) -> None:
    ooo, ooo_id = mail(subject="Out of office", body="Away.", headers={"Auto-Submitted": "auto-replied"})
    deliver(ooo)
    stored = StoredMessage.objects.get(external_id=ooo_id)
    assert stored.conversation is None and stored.filtered_reason
    assert not Conversation.objects.exists()
    assert Event.objects.filter(kind=EventKind.FILTERED).count() == 1


@pytest.mark.django_db
def test_attachments_are_stored_and_one_over_the_limit_is_noted_not_kept(mailbox: Mailbox, settings: Any) -> None:
    settings.EMAIL_ATTACHMENT_MAX_BYTES = 2048
    message = EmailMessage()
    message["From"] = "dana@example.org"
    message["To"] = ADDRESS
    message["Subject"] = "My letter"
    message["Message-ID"] = "<with-files@example.org>"
    message.set_content("The letter is attached.")
    message.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf", filename="letter.pdf")
    message.add_attachment(b"x" * 5000, maintype="image", subtype="png", filename="scan.png")
    deliver(bytes(message))
    files = {item.filename: item for item in Attachment.objects.filter(message__external_id="with-files@example.org")}
    assert bytes(files["letter.pdf"].data) == b"%PDF-1.4 small"
    assert files["scan.png"].size == 5000 and bytes(files["scan.png"].data) == b""
    assert files["scan.png"].dropped_reason


# transaction=True: the command, as manage.py runs it, closes the database connection when it ends.
@pytest.mark.django_db(transaction=True)
def test_a_mail_that_is_no_message_is_refused_with_exit_65_and_stores_nothing(mailbox: Mailbox) -> None:
    with pytest.raises(SystemExit) as exit_info:
        call_command_in_process(b"")
    assert exit_info.value.code == 65
    assert not StoredMessage.objects.exists()


# transaction=True: the command, as manage.py runs it, closes the database connection when it ends.
@pytest.mark.django_db(transaction=True)
def test_an_unknown_mailbox_is_refused_with_exit_67(mailbox: Mailbox) -> None:
    raw, _ = mail()
    with pytest.raises(SystemExit) as exit_info:
        call_command_in_process(raw, "nobody@agency.example")
    assert exit_info.value.code == 67
    assert not StoredMessage.objects.exists()
