"""Email replies through the same outbox as X and Facebook, exactly once, to a real SMTP server (aiosmtpd).

The requirement (issue 19): SMTP with a Message-ID in our domain, ``In-Reply-To``, ``References``, ``Subject:
Re: …`` with the token, text and HTML alternatives and the quoted history; before a retry whose outcome is
unknown, the outbox checks whether that Message-ID was already sent (the Sent folder over IMAP); 4xx is retried
with back-off, 5xx marks the reply failed; bounces mark our reply failed and show why; no automatic message of
ours goes to mail that asks for none (RFC 3834), and automatic messages are rate-limited per address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core import mail as django_mail
from django.utils import timezone

from core.actions import do_assign_conversation, do_resolve_conversation
from core.email_options import EmailReplyOptions, ReplyFile
from core.models import Conversation, Delivery, Direction, Disposition, EventKind, Message
from monitoring.credentials import encrypt
from monitoring.models import Mailbox, SocialAccount
from monitoring.platforms.email import connection
from monitoring.polling import account_ref
from responses import outbox
from responses.actions import do_send_reply
from responses.models import SurveyInvitation
from routing.models import Queue
from tests.console.test_outbox import WorkerDied, die_once_after_posting  # noqa: F401 - the same crash, by email
from tests.emails import ADDRESS, deliver, mail
from tests.mail import MailServer, MailUser, SMTPServer, mail_server, mailbox_user, smtp_server  # noqa: F401
from tests.processes import free_port

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"
CUSTOMER = "dana@example.org"


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        yield traveller


@pytest.fixture
def make_mailbox(db: None, queue: Queue, smtp_server: SMTPServer) -> Callable[..., Mailbox]:  # noqa: F811
    def make(**fields: Any) -> Mailbox:
        password = fields.pop("imap_password", "")
        account = SocialAccount.objects.create(
            platform="email",
            external_id=ADDRESS,
            handle=ADDRESS,
            name="help",
            credentials_encrypted=encrypt({"smtp_password": smtp_server.password, "imap_password": password}),
        )
        values: dict[str, Any] = {
            "address": ADDRESS,
            "from_name": "Agency Help",
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_security": "none",
            "smtp_user": "switchboard",
            "message_id_domain": "mail.agency.example",
            "sent_folder": "",
        }
        return Mailbox.objects.create(account=account, **(values | fields))

    return make


@pytest.fixture
def mailbox(make_mailbox: Callable[..., Mailbox]) -> Mailbox:
    return make_mailbox()


def customer_writes(subject: str = "My benefit payment is late", **kwargs: Any) -> tuple[Conversation, str]:
    raw, message_id = mail(subject=subject, **kwargs)
    deliver(raw)
    return Conversation.objects.get(messages__external_id=message_id), message_id


def reply(
    conversation: Conversation,
    agent: Any,
    text: str = "We have found your payment.",
    **options: Any,
) -> Message:
    """The agent's reply as the composer sends it (the one reply use case), with their email options if any."""
    conversation.refresh_from_db()
    if conversation.assigned_agent_id is None:
        conversation = do_assign_conversation(conversation, agent)
    return do_send_reply(conversation, agent, text, email=EmailReplyOptions(**options) if options else None)


def reload(message: Message) -> Message:
    message.refresh_from_db()
    return message


def test_a_reply_goes_out_once_by_smtp_as_a_reply_in_the_customers_thread(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
) -> None:
    conversation, customer_id = customer_writes(
        body="Hello, my payment has not arrived this month.\nCan you check?", references="<root@mail.example.org>"
    )
    message = reply(conversation, agent, "Dear Dana,\n\nWe have found your payment.\n\nAna")

    assert outbox.do_post_reply(message.pk) == "sent"

    (received,) = smtp_server.received
    assert received.mail_from == ADDRESS
    assert received.rcpt_tos == (CUSTOMER,)
    sent = received.message
    assert sent["From"] == f"Agency Help <{ADDRESS}>"
    assert sent["To"] == f"Dana White <{CUSTOMER}>"
    assert sent["Subject"] == f"Re: My benefit payment is late [#{conversation.pk}]"
    assert sent["Message-ID"] == f"<sb.{message.idempotency_key}@mail.agency.example>"
    assert sent["In-Reply-To"] == f"<{customer_id}>"
    assert sent["References"].split() == ["<root@mail.example.org>", f"<{customer_id}>"]
    assert sent["Auto-Submitted"] is None  # a person wrote it
    text = sent.get_body(preferencelist=("plain",))
    html = sent.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    plain = text.get_content().replace("\r\n", "\n")
    assert plain.startswith("Dear Dana,\n\nWe have found your payment.\n\nAna\n")
    assert "Dana White wrote:\n> Hello, my payment has not arrived this month.\n> Can you check?" in plain
    assert "<p>We have found your payment.</p>" in html.get_content()
    assert "<blockquote" in html.get_content()
    assert smtp_server.logins == ["switchboard"]
    message = reload(message)
    assert message.delivery == Delivery.SENT
    assert message.external_id == f"sb.{message.idempotency_key}@mail.agency.example"

    assert outbox.do_post_reply(message.pk) == "skipped"  # a second delivery of the task sends nothing
    assert len(smtp_server.received) == 1


def test_the_customers_answer_to_our_reply_continues_the_conversation(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
) -> None:
    conversation, _ = customer_writes()
    outbox.do_post_reply(reply(conversation, agent).pk)
    ours = smtp_server.received[0].message

    raw, answer_id = mail(
        subject=str(ours["Subject"]),
        body="Thank you, it arrived.",
        in_reply_to=str(ours["Message-ID"]).strip("<>"),
        references=f"{ours['References']} {ours['Message-ID']}",
    )
    deliver(raw)

    assert Message.objects.get(external_id=answer_id).conversation_id == conversation.pk


def test_the_subject_the_agent_chose_and_their_cc_go_out_without_a_second_re_or_token(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
) -> None:
    conversation, _ = customer_writes()
    message = reply(conversation, agent, subject="Re: RE: Your payment [#999]", cc=("caseworker@agency.example",))
    outbox.do_post_reply(message.pk)

    (received,) = smtp_server.received
    assert received.message["Subject"] == f"Re: Your payment [#{conversation.pk}]"
    assert received.message["Cc"] == "caseworker@agency.example"
    assert received.rcpt_tos == (CUSTOMER, "caseworker@agency.example")


def test_after_the_customer_changes_the_subject_our_next_reply_goes_out_under_theirs(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
) -> None:
    conversation, _ = customer_writes()
    outbox.do_post_reply(reply(conversation, agent).pk)
    ours = smtp_server.received[0].message
    raw, _ = mail(
        subject="New address for my letters",
        body="Also, I have moved.",
        in_reply_to=str(ours["Message-ID"]).strip("<>"),
    )
    deliver(raw)
    conversation.refresh_from_db()
    outbox.do_post_reply(reply(conversation, agent, "Noted, thank you.").pk)

    assert smtp_server.received[1].message["Subject"] == f"Re: New address for my letters [#{conversation.pk}]"


def test_a_header_injection_in_the_subject_stays_inside_the_subject(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
) -> None:
    conversation, _ = customer_writes()
    message = reply(conversation, agent)
    # The composer refuses such a subject (tests/domain/test_email_reply_options.py); a stored one, written by
    # anything else, must still not become a header of its own.
    Message.objects.filter(pk=message.pk).update(
        raw={"email": {"subject": "Hello\r\nBcc: victim@example.net\r\n\r\nspam"}}
    )
    outbox.do_post_reply(message.pk)

    (received,) = smtp_server.received
    assert received.rcpt_tos == (CUSTOMER,)
    assert received.message["Bcc"] is None
    assert received.message["Subject"] == f"Re: Hello Bcc: victim@example.net spam [#{conversation.pk}]"


def test_the_agents_files_are_attached(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
) -> None:
    conversation, _ = customer_writes()
    message = reply(conversation, agent, attachments=(ReplyFile("form.pdf", "application/pdf", b"%PDF-1.4"),))
    outbox.do_post_reply(message.pk)

    (attached,) = list(smtp_server.received[0].message.iter_attachments())
    assert attached.get_filename() == "form.pdf"
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_content() == b"%PDF-1.4"


def test_a_4xx_answer_is_retried_with_back_off_and_then_sent_once(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
    clock: time_machine.Traveller,
) -> None:
    conversation, _ = customer_writes()
    message = reply(conversation, agent)
    smtp_server.reply_with.append("451 4.3.0 Try again later")

    with pytest.raises(outbox.RetryLater) as retry:
        outbox.do_post_reply(message.pk)

    message = reload(message)
    assert message.delivery == Delivery.QUEUED
    assert "451" in message.delivery_error
    assert retry.value.countdown >= 10
    assert outbox.do_post_reply(message.pk) == "skipped"  # not before its time
    clock.shift(timedelta(seconds=retry.value.countdown + 1))
    assert outbox.do_post_reply(message.pk) == "sent"
    assert len(smtp_server.received) == 1


def test_a_5xx_answer_fails_the_reply_with_the_servers_words(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
) -> None:
    conversation, _ = customer_writes()
    message = reply(conversation, agent)
    smtp_server.reply_with.append("554 5.7.1 Message rejected as spam")

    assert outbox.do_post_reply(message.pk) == "failed"

    message = reload(message)
    assert message.delivery == Delivery.FAILED
    assert "554 5.7.1 Message rejected as spam" in message.delivery_error
    (failed,) = conversation.events.filter(kind=EventKind.REPLY_FAILED)
    assert failed.data == {"message_id": message.pk, "code": "refused", "status": 554}  # no words quoting anyone
    assert smtp_server.received == []


def test_refused_smtp_credentials_fail_the_reply_and_show_in_the_connection_test(
    make_mailbox: Callable[..., Mailbox],
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
) -> None:
    mailbox = make_mailbox()
    SocialAccount.objects.filter(pk=mailbox.pk).update(credentials_encrypted=encrypt({"smtp_password": "wrong"}))
    mailbox.account.refresh_from_db()

    (problem,) = connection.test_connection(account_ref(mailbox.account))
    assert problem.startswith("SMTP: The SMTP server 127.0.0.1")
    assert "refused the login of switchboard" in problem

    conversation, _ = customer_writes()
    message = reply(conversation, agent)
    assert outbox.do_post_reply(message.pk) == "failed"
    assert "refused the login" in reload(message).delivery_error


def test_an_unreachable_smtp_server_is_a_temporary_failure(
    make_mailbox: Callable[..., Mailbox],
    agent: Any,
) -> None:
    mailbox = make_mailbox(smtp_port=free_port())
    assert connection.test_connection(account_ref(mailbox.account))[0].startswith("SMTP: Cannot reach")
    conversation, _ = customer_writes()
    message = reply(conversation, agent)

    with pytest.raises(outbox.RetryLater):
        outbox.do_post_reply(message.pk)
    assert reload(message).delivery == Delivery.QUEUED


def test_a_mailbox_without_an_smtp_server_sends_through_the_sites_email_backend(
    make_mailbox: Callable[..., Mailbox],
    agent: Any,
    settings: Any,
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    make_mailbox(smtp_host="")
    conversation, _ = customer_writes()
    message = reply(conversation, agent)

    assert outbox.do_post_reply(message.pk) == "sent"

    (sent,) = django_mail.outbox
    assert sent.to == [CUSTOMER]
    built = sent.message()
    assert built["Message-ID"] == f"<sb.{message.idempotency_key}@mail.agency.example>"
    assert built["Subject"] == f"Re: My benefit payment is late [#{conversation.pk}]"


# --- Exactly once across a crash: the Sent folder --------------------------------------------------------------


@pytest.fixture
def with_sent_folder(
    make_mailbox: Callable[..., Mailbox],
    mail_server: MailServer,  # noqa: F811
    mailbox_user: MailUser,  # noqa: F811
) -> Mailbox:
    with mail_server.imap(mailbox_user) as imap:
        imap.create("Sent")
    return make_mailbox(
        imap_host=mail_server.host,
        imap_port=mail_server.port,
        imap_security="none",
        imap_user=mailbox_user.name,
        imap_password=mailbox_user.password,
        sent_folder="Sent",
    )


def test_a_reply_sent_before_the_worker_died_is_found_in_the_sent_folder_and_not_sent_again(
    with_sent_folder: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
    die_once_after_posting: list[str],  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    mailbox_user: MailUser,  # noqa: F811
    clock: time_machine.Traveller,
) -> None:
    conversation, _ = customer_writes()
    message = reply(conversation, agent)
    with pytest.raises(WorkerDied):
        outbox.do_post_reply(message.pk)
    assert reload(message).delivery == Delivery.SENDING
    with mail_server.imap(mailbox_user) as imap:
        imap.select("Sent")
        assert imap.search(None, "ALL")[1][0].split() == [b"1"]  # filed once, as sent

    clock.shift(outbox.STUCK_AFTER + timedelta(seconds=5))
    assert outbox.do_reconcile_stuck_replies() == {"found": 1, "requeued": 0, "unknown": 0, "failed": 0}

    message = reload(message)
    assert message.delivery == Delivery.SENT
    assert message.external_id == die_once_after_posting[0]
    assert len(smtp_server.received) == 1


def test_a_reply_that_never_left_is_not_in_the_sent_folder_and_is_sent_once(
    with_sent_folder: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
    clock: time_machine.Traveller,
) -> None:
    conversation, _ = customer_writes()
    message = reply(conversation, agent)
    Message.objects.filter(pk=message.pk).update(delivery=Delivery.SENDING, sending_since=timezone.now())

    clock.shift(outbox.STUCK_AFTER + timedelta(seconds=5))
    assert outbox.do_reconcile_stuck_replies()["requeued"] == 1
    assert outbox.do_post_reply(message.pk) == "sent"
    assert len(smtp_server.received) == 1


def test_without_a_sent_folder_a_stuck_reply_is_failed_for_a_person_not_sent_twice(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
    die_once_after_posting: list[str],  # noqa: F811
    clock: time_machine.Traveller,
) -> None:
    conversation, _ = customer_writes()
    message = reply(conversation, agent)
    with pytest.raises(WorkerDied):
        outbox.do_post_reply(message.pk)

    clock.shift(outbox.STUCK_AFTER + timedelta(seconds=5))
    assert outbox.do_reconcile_stuck_replies()["failed"] == 1

    message = reload(message)
    assert message.delivery == Delivery.FAILED
    assert "cannot tell whether this reply went out" in message.delivery_error
    assert len(smtp_server.received) == 1


# --- Bounces and automatic mail --------------------------------------------------------------------------------


def test_a_bounce_of_our_reply_marks_it_failed_with_the_reason_and_does_not_reopen_anything(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
) -> None:
    conversation, _ = customer_writes()
    message = reply(conversation, agent)
    outbox.do_post_reply(message.pk)
    message = reload(message)
    conversation.refresh_from_db()
    state = conversation.state
    dsn = (
        (FIXTURES / "bounce_dsn.eml")
        .read_bytes()
        .replace(b"reply-46@switchboard.example", message.external_id.encode())
    )

    deliver(dsn)

    message = reload(message)
    assert message.delivery == Delivery.FAILED
    assert "5.1.1" in message.delivery_error
    assert "User unknown" in message.delivery_error
    conversation.refresh_from_db()
    assert conversation.state == state
    assert conversation.messages.filter(direction=Direction.INBOUND).count() == 2  # the bounce is kept there


def test_an_out_of_office_is_never_the_mail_a_reply_answers(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
) -> None:
    conversation, customer_id = customer_writes()
    outbox.do_post_reply(reply(conversation, agent).pk)
    ours = smtp_server.received[0].message
    raw, _ = mail(
        subject=f"Automatic reply: {ours['Subject']}",
        body="I am away until Monday.",
        in_reply_to=str(ours["Message-ID"]).strip("<>"),
        headers={"Auto-Submitted": "auto-replied"},
    )
    deliver(raw)
    conversation.refresh_from_db()
    outbox.do_post_reply(reply(conversation, agent, "One more thing.").pk)

    second = smtp_server.received[1].message
    assert second["In-Reply-To"] == f"<{customer_id}>"
    assert second["Subject"] == f"Re: My benefit payment is late [#{conversation.pk}]"


@pytest.fixture
def resolve(eager_tasks: None, django_capture_on_commit_callbacks: Any) -> Callable[..., SurveyInvitation]:
    """Resolve as the agent does; the survey invitation, mailed (by an eager task after the commit) where allowed."""

    def resolve(conversation: Conversation, agent: Any) -> SurveyInvitation:
        conversation.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            do_resolve_conversation(conversation, actor=agent, disposition=Disposition.ANSWERED)
        return SurveyInvitation.objects.get(conversation=conversation)

    return resolve


def test_the_csat_invitation_is_mailed_as_an_automatic_message(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
    resolve: Callable[..., SurveyInvitation],
) -> None:
    conversation, _ = customer_writes()
    outbox.do_post_reply(reply(conversation, agent).pk)

    invitation = resolve(conversation, agent)

    assert invitation.sent_at is not None
    survey = smtp_server.received[-1].message
    assert survey["Auto-Submitted"] == "auto-generated"
    assert f"/csat/{invitation.token}/" in survey.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.parametrize(
    "headers",
    [
        {"Precedence": "bulk"},
        {"Precedence": "list"},
        {"List-Id": "<residents.lists.example.org>"},
        {"X-Auto-Response-Suppress": "All"},
    ],
)
def test_no_automatic_message_goes_to_mail_that_asks_for_none(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
    resolve: Callable[..., SurveyInvitation],
    headers: dict[str, str],
) -> None:
    conversation, _ = customer_writes(headers=headers)
    conversation.refresh_from_db()
    if conversation.state in ("queued", "new"):
        outbox.do_post_reply(reply(conversation, agent).pk)
    sent_before = len(smtp_server.received)

    invitation = resolve(conversation, agent)

    assert invitation.sent_at is None
    assert len(smtp_server.received) == sent_before


def test_no_automatic_message_goes_to_a_mailer_daemon(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
    resolve: Callable[..., SurveyInvitation],
) -> None:
    conversation, _ = customer_writes(sender="Mail Delivery System <MAILER-DAEMON@mx.example.org>")
    conversation.refresh_from_db()
    outbox.do_post_reply(reply(conversation, agent).pk)

    assert resolve(conversation, agent).sent_at is None
    assert len(smtp_server.received) == 1


def test_automatic_messages_to_one_address_are_limited_per_day(
    mailbox: Mailbox,
    smtp_server: SMTPServer,  # noqa: F811
    agent: Any,
    resolve: Callable[..., SurveyInvitation],
    settings: Any,
) -> None:
    settings.EMAIL_AUTO_REPLY_LIMIT_PER_DAY = 2
    invitations = []
    for number in range(3):
        conversation, _ = customer_writes(subject=f"Question {number}")
        outbox.do_post_reply(reply(conversation, agent).pk)
        invitations.append(resolve(conversation, agent))

    assert [invitation.sent_at is not None for invitation in invitations] == [True, True, False]
    surveys = [item for item in smtp_server.received if item.message["Auto-Submitted"] == "auto-generated"]
    assert len(surveys) == 2
