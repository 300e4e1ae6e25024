"""Offline, a message left in the widget becomes an email conversation; a transcript is mailed on request."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chat.models import ChatChannel
from core.models import Channel, Conversation, Message
from monitoring.credentials import encrypt
from monitoring.models import Mailbox, SocialAccount
from tests.chat.conftest import new_id, receive_until, say_hello, visitor_socket
from tests.mail import SMTPServer, smtp_server  # noqa: F401

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ADDRESS = "help@agency.example"


def make_mailbox(smtp: SMTPServer) -> Mailbox:
    account = SocialAccount.objects.create(
        platform="email",
        external_id=ADDRESS,
        handle=ADDRESS,
        name="help",
        credentials_encrypted=encrypt({"smtp_password": smtp.password}),
    )
    return Mailbox.objects.create(
        account=account,
        address=ADDRESS,
        from_name="Agency Help",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_security="none",
        smtp_user="switchboard",
        sent_folder="",
    )


@pytest.fixture
def with_mailbox(chat_channel: ChatChannel, smtp_server: SMTPServer) -> Mailbox:  # noqa: F811
    mailbox = make_mailbox(smtp_server)
    ChatChannel.objects.filter(pk=chat_channel.pk).update(mailbox=mailbox)
    return mailbox


async def test_a_message_left_offline_is_an_email_conversation_of_the_mailbox(with_mailbox: Mailbox) -> None:
    socket = visitor_socket()
    welcome = await say_hello(socket)
    assert welcome["online"] is False  # no agent available
    await socket.send_json_to(
        {"type": "leave_message", "name": "Dana", "email": "Dana@Example.org", "text": "Please call me back."}
    )
    left = await receive_until(socket, "left")
    await socket.disconnect()

    message = await Message.objects.select_related("conversation", "author_identity").aget(pk=left["id"])
    assert message.text == "Please call me back." and message.platform == "email"
    assert message.conversation is not None and message.conversation.channel == Channel.EMAIL
    assert message.account_id == with_mailbox.account_id
    assert message.author_identity is not None
    assert (message.author_identity.external_id, message.author_identity.display_name) == ("dana@example.org", "Dana")
    assert "web chat" in message.conversation.subject.lower()


async def test_leaving_a_message_needs_an_email_address(with_mailbox: Mailbox) -> None:
    socket = visitor_socket()
    await say_hello(socket)
    await socket.send_json_to({"type": "leave_message", "name": "Dana", "email": "not an address", "text": "Hi"})
    assert (await receive_until(socket, "error"))["code"] == "bad_email"
    assert not await Conversation.objects.aexists()
    await socket.disconnect()


async def test_without_a_mailbox_leaving_a_message_is_refused_clearly(chat_channel: ChatChannel) -> None:
    socket = visitor_socket()
    await say_hello(socket)
    await socket.send_json_to({"type": "leave_message", "name": "Dana", "email": "dana@example.org", "text": "Hi"})
    error = await receive_until(socket, "error")
    assert error["code"] == "no_mailbox" and "no mailbox" in error["message"]
    assert not await Conversation.objects.aexists()
    await socket.disconnect()


async def test_a_transcript_is_mailed_as_an_automatic_message_and_rate_limited(
    with_mailbox: Mailbox,
    available_agent: Any,
    smtp_server: SMTPServer,  # noqa: F811
    settings: Any,
) -> None:
    settings.CHAT_TRANSCRIPTS_PER_HOUR = 2
    socket = visitor_socket()
    await say_hello(socket, prechat={"name": "Dana", "email": "dana@example.org"})
    await socket.send_json_to({"type": "message", "client_id": new_id(), "text": "Where is my passport?"})
    await receive_until(socket, "ack")
    await socket.send_json_to({"type": "transcript", "email": "dana@example.org"})
    await receive_until(socket, "transcript_sent")

    assert len(smtp_server.received) == 1
    mail = smtp_server.received[0]
    assert mail.rcpt_tos == ("dana@example.org",)
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert ADDRESS in mail.message["From"]
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None and "Where is my passport?" in body.get_content()

    await socket.send_json_to({"type": "transcript", "email": "dana@example.org"})
    await receive_until(socket, "transcript_sent")
    await socket.send_json_to({"type": "transcript", "email": "dana@example.org"})
    assert (await receive_until(socket, "error"))["code"] == "rate_limited"
    assert len(smtp_server.received) == 2
    await socket.disconnect()


async def test_no_transcript_before_any_message(with_mailbox: Mailbox, smtp_server: SMTPServer) -> None:  # noqa: F811
    socket = visitor_socket()
    await say_hello(socket)
    await socket.send_json_to({"type": "transcript", "email": "dana@example.org"})
    assert (await receive_until(socket, "error"))["code"] == "no_chat"
    assert smtp_server.received == []
    await socket.disconnect()


async def test_the_left_message_is_answered_by_email_through_the_outbox(
    with_mailbox: Mailbox,
    agent: Any,
    smtp_server: SMTPServer,  # noqa: F811
    eager_tasks: None,
) -> None:
    socket = visitor_socket()
    await say_hello(socket)
    await socket.send_json_to({"type": "leave_message", "name": "Dana", "email": "dana@example.org", "text": "Call?"})
    left = await receive_until(socket, "left")
    await socket.disconnect()
    await sync_to_async(answer_by_mail)(left["id"], agent)
    assert [mail.rcpt_tos for mail in smtp_server.received] == [("dana@example.org",)]
    body = smtp_server.received[0].message.get_body(preferencelist=("plain",))
    assert body is not None and "We will call you tomorrow." in body.get_content()


def answer_by_mail(message_id: int, agent: Any) -> None:
    from core.actions import do_assign_conversation
    from responses.actions import do_send_reply

    conversation = Message.objects.get(pk=message_id).conversation
    assert conversation is not None
    conversation = do_assign_conversation(conversation, agent)
    reply = do_send_reply(conversation, agent, "We will call you tomorrow.")
    reply.refresh_from_db()
    assert reply.delivery == "sent", reply.delivery_error
