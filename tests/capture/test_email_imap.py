"""Mailboxes polled over IMAP, against a real Dovecot: every message stored once, whatever happens in between.

The requirement (issue 19): IMAP polling on the beat schedule with the social polls' lease and back-off; the
cursor is UID + UIDVALIDITY, so no message is lost or taken twice across restarts, UIDVALIDITY changes or two
workers; mail goes through the same capture pipeline (triage, routing rules on channel ``email``); the same
message delivered twice (IMAP and the pipe) is stored once; bad input is refused clearly and loses nothing.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from agents.actions import do_create_user
from core.models import Channel, Conversation, Identity, Message
from core.models import ConversationState as S
from core.roles import ADMIN
from monitoring import polling
from monitoring.credentials import encrypt
from monitoring.demo import seed_triage_rules
from monitoring.models import Mailbox, SocialAccount
from monitoring.pipeline import IngestStats
from monitoring.platforms.email import connection, imap
from monitoring.polling import LEASE, account_ref, claim_due, do_poll_account
from routing.models import Queue, RoutingRule, SLAPolicy
from tests.mail import MailServer, MailUser, mail_server, mailbox_user  # noqa: F401 - fixtures
from tests.processes import free_port

ADDRESS = "help@northwind.example"


def eml(
    number: int,
    *,
    sender: str = "Carla Ruiz <carla@customer.example>",
    subject: str = "",
    body: str = "",
    message_id: str = "",
    extra: str = "",
) -> bytes:
    """A plain RFC 5322 message from a customer to the mailbox; ``number`` makes its id and text its own."""
    message_id = message_id or f"<m{number}.{id(object())}@customer.example>"
    return (
        f"From: {sender}\r\n"
        f"To: Northwind Help <{ADDRESS}>\r\n"
        f"Subject: {subject or f'Question {number}'}\r\n"
        f"Date: Fri, 20 Nov 2026 10:{number % 60:02d}:00 +0000\r\n"
        f"Message-ID: {message_id}\r\n"
        f"{extra}"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body or f'Hello, this is message number {number}.'}\r\n"
    ).encode()


def reload(account: SocialAccount) -> SocialAccount:
    account.refresh_from_db()
    return account


def stored_subjects() -> Counter[str]:
    return Counter(Message.objects.filter(conversation__isnull=False).values_list("conversation__subject", flat=True))


def stored_ids() -> Counter[str]:
    return Counter(Message.objects.values_list("external_id", flat=True))


@pytest.fixture
def queue(db: None) -> Queue:
    policy = SLAPolicy.objects.create(name="Standard", first_response_seconds=3600, next_response_seconds=1800)
    return Queue.objects.create(name="General", is_default=True, sla_policy=policy)


@pytest.fixture
def make_mailbox(db: None, mail_server: MailServer) -> Callable[..., SocialAccount]:  # noqa: F811
    def make(user: MailUser, *, password: str = "", port: int = 0, folder: str = "INBOX") -> SocialAccount:
        account = SocialAccount.objects.create(
            platform="email",
            external_id=f"{ADDRESS}-{user.name}",
            name="Northwind Help",
            handle=ADDRESS,
            credentials_encrypted=encrypt({"imap_password": password or user.password}),
        )
        Mailbox.objects.create(
            account=account,
            address=f"help+{user.name.partition('@')[0]}@northwind.example",
            imap_host=mail_server.host,
            imap_port=port or mail_server.port,
            imap_security="none",
            imap_user=user.name,
            imap_folder=folder,
            sent_folder="Sent",
        )
        return account

    return make


@pytest.fixture
def mailbox(make_mailbox: Callable[..., SocialAccount], mailbox_user: MailUser) -> SocialAccount:  # noqa: F811
    return make_mailbox(mailbox_user)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        yield traveller


# --- A poll through the whole pipeline ----------------------------------------------------------------------


def test_a_poll_stores_each_mail_as_an_email_conversation_of_the_sender_triaged_and_routed_by_email_rules(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    queue: Queue,
) -> None:
    seed_triage_rules()
    email_desk = Queue.objects.create(name="Email desk", sla_policy=queue.sla_policy)
    RoutingRule.objects.create(name="Mail to the email desk", channel=Channel.EMAIL, queue=email_desk)
    mail_server.append_many(
        mailbox_user,
        [
            eml(1, subject="Internet down since this morning", body="My internet is down, total outage here."),
            eml(2, sender="Dan Moss <dan@other.example>", subject="Invoice copy", body="Please send my invoice."),
        ],
    )

    stats = do_poll_account(mailbox.pk)

    assert stats is not None and stats.stored == 2 and stats.new_conversations == 2
    conversations = {c.subject: c for c in Conversation.objects.all()}
    outage = conversations["Internet down since this morning"]
    assert outage.channel == Channel.EMAIL
    assert outage.state == S.QUEUED and outage.queue == email_desk
    assert outage.category  # the outage classification rule matched the subject and text
    assert conversations["Invoice copy"].queue == email_desk
    carla = Identity.objects.get(platform="email", external_id="carla@customer.example")
    assert outage.contact_id == carla.contact_id
    assert set(Message.objects.values_list("account_id", flat=True)) == {mailbox.pk}
    account = reload(mailbox)
    assert account.cursor == {"uidvalidity": mail_server.uidvalidity(mailbox_user), "uid": 2}
    assert account.enabled and account.last_error == "" and account.consecutive_failures == 0
    # Read-only: the mail is left unread in the mailbox for people who use it too.
    with mail_server.imap(mailbox_user) as session:
        session.select("INBOX", readonly=True)
        assert session.uid("SEARCH", None, "UNSEEN")[1] == [b"1 2"]


def test_the_next_poll_takes_only_mail_appended_since_and_an_empty_poll_takes_nothing(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    queue: Queue,
) -> None:
    mail_server.append_many(mailbox_user, [eml(1), eml(2)])
    do_poll_account(mailbox.pk)

    # "UID SEARCH UID 3:*" answers UID 2 too (the highest): nothing of it may be taken again.
    empty = do_poll_account(mailbox.pk)
    mail_server.append(mailbox_user, eml(3, subject="A new one"))
    later = do_poll_account(mailbox.pk)

    assert empty is not None and empty.received == 0
    assert later is not None and later.received == 1 and later.stored == 1
    assert stored_subjects() == Counter({"Question 1": 1, "Question 2": 1, "A new one": 1})
    assert reload(mailbox).cursor["uid"] == 3


# --- Never lost, never twice --------------------------------------------------------------------------------


def test_a_crash_before_the_cursor_is_saved_rereads_the_same_mail_without_storing_it_twice(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    queue: Queue,
    monkeypatch: pytest.MonkeyPatch,
    clock: time_machine.Traveller,
) -> None:
    mail_server.append_many(mailbox_user, [eml(n) for n in range(1, 4)])
    real_ingest = polling.ingest

    def ingest_then_die(*args: Any, **kwargs: Any) -> IngestStats:
        real_ingest(*args, **kwargs)
        raise SystemExit("worker killed between storing the mail and saving the cursor")

    monkeypatch.setattr(polling, "ingest", ingest_then_die)
    assert claim_due(SocialAccount) == [mailbox.pk]
    with pytest.raises(SystemExit):
        do_poll_account(mailbox.pk)
    assert reload(mailbox).cursor == {}
    monkeypatch.setattr(polling, "ingest", real_ingest)
    mail_server.append(mailbox_user, eml(4))
    # The dead worker's lease holds the mailbox until it expires; then another worker takes it.
    assert claim_due(SocialAccount) == []
    clock.shift(LEASE + timedelta(seconds=1))
    assert claim_due(SocialAccount) == [mailbox.pk]

    stats = do_poll_account(mailbox.pk)

    assert stats is not None and stats.duplicates == 3 and stats.stored == 1
    assert stored_subjects() == Counter({f"Question {n}": 1 for n in range(1, 5)})
    assert reload(mailbox).cursor["uid"] == 4


def test_a_backlog_is_read_a_bounded_poll_at_a_time_each_due_again_at_once(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    queue: Queue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(imap, "POLL_MESSAGES", 2)
    mail_server.append_many(mailbox_user, [eml(n) for n in range(1, 6)])

    received = []
    for _ in range(3):
        stats = do_poll_account(mailbox.pk)
        assert stats is not None
        received.append(stats.stored)
        account = reload(mailbox)
        if account.cursor["uid"] < 5:
            assert account.next_poll_at <= timezone.now()  # more waiting: due again at once
    account = reload(mailbox)

    assert received == [2, 2, 1]
    assert account.next_poll_at > timezone.now() + timedelta(seconds=account.poll_interval_seconds - 5)
    assert stored_subjects() == Counter({f"Question {n}": 1 for n in range(1, 6)})


def test_two_workers_never_poll_a_mailbox_at_once_and_each_message_is_stored_once(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    queue: Queue,
    clock: time_machine.Traveller,
) -> None:
    mail_server.append_many(mailbox_user, [eml(1), eml(2)])

    first_worker = claim_due(SocialAccount)
    second_worker = claim_due(SocialAccount)
    assert (first_worker, second_worker) == ([mailbox.pk], [])
    do_poll_account(mailbox.pk)
    mail_server.append(mailbox_user, eml(3))
    clock.shift(timedelta(seconds=reload(mailbox).poll_interval_seconds + 1))
    assert claim_due(SocialAccount) == [mailbox.pk]
    do_poll_account(mailbox.pk)

    assert stored_subjects() == Counter({"Question 1": 1, "Question 2": 1, "Question 3": 1})


def test_a_new_uidvalidity_rereads_the_folder_missing_nothing_renumbered_and_storing_nothing_twice(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    queue: Queue,
) -> None:
    mail_server.append_many(mailbox_user, [eml(n) for n in range(1, 6)])
    do_poll_account(mailbox.pk)
    old_validity = reload(mailbox).cursor["uidvalidity"]
    # Two messages are deleted by a person, then the server renumbers: the three left become UIDs 1-3, and
    # the next message gets UID 4, below the cursor's UID 5 of the old numbering.
    with mail_server.imap(mailbox_user) as session:
        session.select("INBOX")
        session.uid("STORE", "1:2", "+FLAGS.SILENT", r"(\Deleted)")
        session.expunge()
    new_validity = mail_server.renumber(mailbox_user)
    assert mail_server.append(mailbox_user, eml(6, subject="After the migration")) == 4

    stats = do_poll_account(mailbox.pk)

    assert new_validity != old_validity
    assert stats is not None and stats.received == 4 and stats.duplicates == 3 and stats.stored == 1
    assert stored_subjects() == Counter({**{f"Question {n}": 1 for n in range(1, 6)}, "After the migration": 1})
    assert reload(mailbox).cursor == {"uidvalidity": new_validity, "uid": 4}


def test_the_same_mail_delivered_by_imap_and_by_the_pipe_command_is_stored_once(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    queue: Queue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = eml(1, subject="Delivered twice", message_id="<twice.1@customer.example>")
    address = Mailbox.objects.get(account=mailbox).address
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    call_command("receive_email", address, stdout=io.StringIO())
    mail_server.append(mailbox_user, raw)

    stats = do_poll_account(mailbox.pk)

    assert stats is not None and stats.duplicates == 1 and stats.stored == 0
    assert stored_subjects() == Counter({"Delivered twice": 1})
    assert Conversation.objects.count() == 1


# --- Failures -----------------------------------------------------------------------------------------------


def test_a_refused_password_disables_the_mailbox_and_tells_the_admins(
    make_mailbox: Callable[..., SocialAccount],
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    do_create_user("root", "pw-root-12345", role=ADMIN, email="root@northwind.example")
    account = make_mailbox(mailbox_user, password="not-the-password")
    mail_server.append(mailbox_user, eml(1))

    with django_capture_on_commit_callbacks(execute=True):
        assert do_poll_account(account.pk) is None

    account = reload(account)
    assert not account.enabled
    assert "refused the login" in account.disabled_reason and "AUTHENTICATIONFAILED" in account.last_error
    (mail,) = mailoutbox
    assert mail.to == ["root@northwind.example"] and "refused the login" in mail.body
    assert Message.objects.count() == 0 and account.cursor == {}


def test_an_unreachable_server_is_retried_with_back_off_and_nothing_is_lost(
    make_mailbox: Callable[..., SocialAccount],
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    queue: Queue,
    clock: time_machine.Traveller,
) -> None:
    account = make_mailbox(mailbox_user, port=free_port())  # nothing listens there
    mail_server.append(mailbox_user, eml(1))

    failed_at = timezone.now()
    assert do_poll_account(account.pk) is None

    account = reload(account)
    assert account.enabled and account.consecutive_failures == 1
    assert "Cannot reach the IMAP server" in account.last_error
    interval = timedelta(seconds=account.poll_interval_seconds)
    assert failed_at + interval * 2 * 0.8 <= account.next_poll_at <= timezone.now() + interval * 2 * 1.2
    # The server is back (the mailbox points at it again): the waiting message is read.
    Mailbox.objects.filter(account=account).update(imap_port=mail_server.port)
    clock.move_to(account.next_poll_at)
    assert claim_due(SocialAccount) == [account.pk]
    stats = do_poll_account(account.pk)
    assert stats is not None and stats.stored == 1
    assert reload(account).consecutive_failures == 0


def test_a_missing_folder_disables_the_mailbox_with_its_name(
    make_mailbox: Callable[..., SocialAccount],
    mailbox_user: MailUser,  # noqa: F811
) -> None:
    account = make_mailbox(mailbox_user, folder="Support")

    do_poll_account(account.pk)

    account = reload(account)
    assert not account.enabled and "'Support' does not exist" in account.disabled_reason


# --- Bad input ----------------------------------------------------------------------------------------------


def test_a_message_over_the_size_limit_is_skipped_left_in_the_mailbox_and_reported(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    queue: Queue,
    settings: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.EMAIL_MAX_MESSAGE_BYTES = 65_536
    do_create_user("root", "pw-root-12345", role=ADMIN, email="root@northwind.example")
    huge = eml(2, subject="Scan of everything", body="x" * 100 + "\r\n" + ("y" * 76 + "\r\n") * 1_000)
    mail_server.append_many(mailbox_user, [eml(1), huge, eml(3)])

    with django_capture_on_commit_callbacks(execute=True):
        stats = do_poll_account(mailbox.pk)

    assert stats is not None and stats.stored == 2
    assert stored_subjects() == Counter({"Question 1": 1, "Question 3": 1})
    account = reload(mailbox)
    assert account.cursor["uid"] == 3 and account.enabled
    assert "UID 2" in account.last_error and "Scan of everything" in account.last_error
    assert "65,536-byte limit" in account.last_error and "left in the mailbox" in account.last_error
    (mail,) = mailoutbox
    assert "Scan of everything" in mail.body
    with mail_server.imap(mailbox_user) as session:
        session.select("INBOX", readonly=True)
        assert session.uid("SEARCH", None, "ALL")[1] == [b"1 2 3"]


def test_a_message_that_cannot_be_parsed_is_skipped_reported_and_the_rest_stored(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
    queue: Queue,
) -> None:
    mail_server.append_many(mailbox_user, [eml(1), UNPARSEABLE, eml(3)])

    stats = do_poll_account(mailbox.pk)

    assert stats is not None and stats.stored == 2
    assert stored_subjects() == Counter({"Question 1": 1, "Question 3": 1})
    account = reload(mailbox)
    assert account.cursor["uid"] == 3
    assert "UID 2" in account.last_error and "cannot be parsed" in account.last_error


UNPARSEABLE = b"This is no message at all: no header, no blank line, nothing to read.\r\n"


# --- The admin's connection test ----------------------------------------------------------------------------


def test_the_connection_test_finds_nothing_wrong_with_a_working_mailbox(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
) -> None:
    mail_server.append(mailbox_user, eml(1), folder="Sent")

    assert connection.test_connection(account_ref(mailbox)) == []


def test_the_connection_test_names_a_refused_login_a_missing_folder_and_an_unreachable_server(
    make_mailbox: Callable[..., SocialAccount],
    mail_server: MailServer,  # noqa: F811
) -> None:
    wrong = make_mailbox(mail_server.add_user(), password="wrong")
    no_folders = make_mailbox(mail_server.add_user(), folder="Support")
    down = make_mailbox(mail_server.add_user(), port=free_port())

    (login,) = connection.test_connection(account_ref(wrong))
    folder, sent = connection.test_connection(account_ref(no_folders))
    (unreachable,) = connection.test_connection(account_ref(down))

    assert "refused the login" in login
    assert "'Support' does not exist" in folder and "'Sent' does not exist" in sent
    assert "Cannot reach the IMAP server" in unreachable


# --- Our replies in the Sent folder -------------------------------------------------------------------------


def test_a_message_id_is_found_in_the_sent_folder_only_when_that_exact_id_is_there(
    mailbox: SocialAccount,
    mailbox_user: MailUser,  # noqa: F811
    mail_server: MailServer,  # noqa: F811
) -> None:
    mail_server.append(mailbox_user, eml(1, message_id="<reply.abc123@northwind.example>"), folder="Sent")
    ref = account_ref(mailbox)
    since = timezone.now() - timedelta(minutes=5)

    found = imap.find_message_id(ref, "Sent", "<reply.abc123@northwind.example>", since, timeout=10)
    bare = imap.find_message_id(ref, "Sent", "reply.abc123@northwind.example", since, timeout=10)
    prefix = imap.find_message_id(ref, "Sent", "<reply.abc12@northwind.example>", since, timeout=10)
    other = imap.find_message_id(ref, "Sent", "<reply.zzz@northwind.example>", since, timeout=10)

    assert (found, bare, prefix, other) == (True, True, False, False)
