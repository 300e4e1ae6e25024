"""Email on the conversation page, as an agent reads it: headers, folded history, files as downloads, bounces.

Mail comes in through the pipe command (as a mail server delivers it) and the page is read over HTTP. The
expectations are the issue's: subject, From (name and address), To, CC with "and N more"; quoted history and
signatures folded behind a toggle with the stored text whole; files as download links, never inline (cid:
images listed as files); a dropped file says why; an out-of-office is marked; a bounced reply says why.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from core.bounces import do_record_bounce
from core.models import Attachment, Conversation, Delivery, Direction, Message
from responses.actions import do_send_reply
from tests.email_threads import CUSTOMER, client_for, letter
from tests.emails import deliver

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PAGE_SCRIPT = b"<html><body><script>alert(document.cookie)</script></body></html>"


def page(user: Any, conversation: Conversation) -> str:
    response = client_for(user).get(f"/conversations/{conversation.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def article(content: str, message: Message) -> str:
    match = re.search(rf'<article [^>]*id="m{message.pk}">(.*?)</article>', content, re.S)
    assert match, f"message {message.pk} is on the page"
    return match.group(1)


def test_an_email_shows_its_subject_sender_and_recipients(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation(cc="Ben Ortiz <ben@example.org>, Carla <carla@example.org>")
    inbound = conversation.messages.get()

    shown = text_of(article(page(agent, conversation), inbound))

    assert "Subject My benefit payment is late" in shown
    assert "From Dana White <dana@example.org>" in shown
    assert "To help@agency.example" in shown
    assert "CC ben@example.org, carla@example.org" in shown
    assert "more recipient" not in shown


def test_recipients_beyond_those_listed_are_counted(email_conversation: Any, agent: Any) -> None:
    cc = ", ".join(f"person{n}@example.org" for n in range(30))
    conversation = email_conversation(cc=cc)

    shown = text_of(article(page(agent, conversation), conversation.messages.get()))

    # 31 recipients (the mailbox and 30 copies); the page lists the To and 20 CC addresses.
    assert "person19@example.org" in shown and "person20@example.org" not in shown
    assert "and 10 more recipients" in shown


def test_quoted_history_and_signature_are_folded_and_the_stored_text_is_whole(
    email_conversation: Any, agent: Any
) -> None:
    body = (
        "It still has not arrived.\n"
        "\n"
        "On Mon, 30 Nov 2026 at 09:12, Help <help@agency.example> wrote:\n"
        "> We are looking into it.\n"
        "> Kind regards\n"
    )
    conversation = email_conversation(body=body)
    inbound = conversation.messages.get()

    shown = article(page(agent, conversation), inbound)

    folded = re.search(r"<details[^>]*data-email-folded>(.*?)</details>", shown, re.S)
    assert folded is not None
    assert "We are looking into it." in text_of(folded.group(1))
    outside = shown.replace(folded.group(0), "")
    assert "It still has not arrived." in text_of(outside)
    assert "We are looking into it." not in text_of(outside)
    assert "We are looking into it." in inbound.text, "only the display is folded"


def test_files_are_download_links_never_shown_inline(email_conversation: Any, agent: Any, settings: Any) -> None:
    settings.EMAIL_ATTACHMENT_MAX_BYTES = 2048
    conversation = email_conversation(
        files=[
            ("invoice.html", "text/html", PAGE_SCRIPT, ""),
            ("photo.png", "image/png", PNG, "photo1@mail.example.org"),
            ("scan.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 4000, ""),
        ]
    )
    inbound = conversation.messages.get()
    files = {f.filename: f for f in Attachment.objects.filter(message=inbound)}

    shown = article(page(agent, conversation), inbound)

    assert "<img" not in shown and "<iframe" not in shown and "<script" not in shown
    for name in ("invoice.html", "photo.png"):
        link = f'href="/conversations/{conversation.pk}/attachments/{files[name].pk}/"'
        assert link in shown, f"{name} is a download link"
    listed = text_of(re.search(r"<ul[^>]*data-email-files>(.*?)</ul>", shown, re.S).group(1))  # type: ignore[union-attr]
    assert "photo.png" in listed and "inline image" in listed, "a cid: image is listed as a file"
    assert f"/attachments/{files['scan.pdf'].pk}/" not in shown, "a file that was not stored has no link"
    assert "scan.pdf" in listed and f"not stored: {files['scan.pdf'].dropped_reason}" in listed


def test_an_out_of_office_is_marked_automatic(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation()
    first = conversation.messages.get()
    raw, _ = letter(
        subject="Out of office: My benefit payment is late",
        body="I am away until Monday.",
        in_reply_to=str(first.external_id),
        headers={"Auto-Submitted": "auto-replied"},
    )
    deliver(raw)
    away = conversation.messages.exclude(pk=first.pk).get()

    content = page(agent, conversation)

    assert "automatic reply" in text_of(article(content, away))
    assert "automatic" not in text_of(article(content, first))


def test_a_bounced_reply_tells_the_agent_why(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation()
    reply = do_send_reply(conversation, agent, "We have sent the payment again.")
    # As the outbox leaves a sent reply: its Message-ID is its external id.
    Message.objects.filter(pk=reply.pk).update(delivery=Delivery.SENT, external_id="sb.1@agency.example")
    do_record_bounce("email", "sb.1@agency.example", status="5.1.1", reason="User unknown", permanent=True)

    shown = text_of(article(page(agent, conversation), reply))

    assert "Not delivered: Returned undelivered (5.1.1): User unknown" in shown


def test_a_delivery_report_through_the_pipe_fails_the_reply_and_is_shown_as_a_bounce(
    email_conversation: Any, agent: Any
) -> None:
    conversation = email_conversation()
    reply = do_send_reply(conversation, agent, "Your parcel is on its way.")
    # The report returns our Message-ID <reply-46@switchboard.example>: as the outbox leaves a sent reply.
    Message.objects.filter(pk=reply.pk).update(delivery=Delivery.SENT, external_id="reply-46@switchboard.example")

    deliver((Path(__file__).parent.parent / "fixtures" / "email" / "bounce_dsn.eml").read_bytes())

    report = conversation.messages.get(
        direction=Direction.INBOUND, author_identity__handle__istartswith="mailer-daemon@"
    )
    content = page(agent, conversation)
    assert "Not delivered: Returned undelivered (5.1.1)" in text_of(article(content, reply))
    shown = text_of(article(content, report))
    assert "delivery report (bounce)" in shown and "5.1.1 for old.customer@example.net" in shown
    to = re.search(r"<input [^>]*data-email-to-field[^>]*>", content)
    assert to is not None and f'value="{CUSTOMER}"' in to.group(0), "a mailer-daemon is not the customer"


def test_our_reply_shows_its_subject_to_and_cc(email_conversation: Any, agent: Any) -> None:
    from core.email_options import EmailReplyOptions

    conversation = email_conversation()
    options = EmailReplyOptions(subject="Your payment", cc=("ben@example.org",))
    reply = do_send_reply(conversation, agent, "Sent again today.", email=options)

    shown = text_of(article(page(agent, conversation), reply))

    assert reply.direction == Direction.OUTBOUND
    assert "Subject Your payment" in shown
    assert f"To {CUSTOMER}" in shown and "CC ben@example.org" in shown


def test_header_values_are_shown_as_text(email_conversation: Any, agent: Any) -> None:
    conversation = email_conversation(
        subject="<img src=x onerror=alert(1)> refund", sender='"<b>Dana</b>" <dana@x.org>'
    )

    content = page(agent, conversation)

    assert "<img src=x" not in content and "<b>Dana</b>" not in content
    assert "&lt;img src=x onerror=alert(1)&gt; refund" in content
