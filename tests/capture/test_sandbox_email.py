"""The sandbox's email: realistic RFC 5322 mail, repeatable by seed, delivered through the pipe command's path.

Requirements (issue 19): display names, Subject, Message-ID, Date; some HTML-only and some multipart/alternative
mail; now and then a small attachment; now and then an out-of-office (``Auto-Submitted: auto-replied``); customers
answering our sent replies with In-Reply-To/References naming our reply's Message-ID, a few with only the
``[#id]`` token; all of it parsed and threaded by the production code (``do_receive_email``).
"""

from __future__ import annotations

import email
import re
from collections import Counter
from datetime import timedelta
from email import policy
from typing import Any

import pytest
from django.utils import timezone

from core.actions import do_assign_conversation
from core.models import Channel, Conversation, Message
from core.models import ConversationState as S
from monitoring.demo import DEMO_ADDRESS, seed_demo_mailbox
from monitoring.models import Mailbox, SocialAccount
from monitoring.platforms.base import ReplyRequest
from monitoring.platforms.email.connector import EmailConnector
from monitoring.platforms.email.parsing import AutoKind, parse_email
from monitoring.platforms.email.receive import do_receive_email
from monitoring.platforms.sandbox import deliver_sandbox_mail
from monitoring.polling import do_poll_account
from monitoring.queries import open_email_threads
from monitoring.sandbox_email import EmailThread, SandboxMail
from responses.actions import do_send_reply
from responses.outbox import do_post_reply
from routing.models import Queue

TOKEN = re.compile(r"\[#(\d+)\]")


def write(count: int, seed: int = 1, threads: tuple[EmailThread, ...] = ()) -> list[bytes]:
    return SandboxMail(seed).messages(
        count, now=timezone.now(), to_address=DEMO_ADDRESS, to_name="Northwind Help", open_threads=threads
    )


def thread(conversation_id: int = 41, *, answered: bool = True) -> EmailThread:
    return EmailThread(
        conversation_id=conversation_id,
        customer_address="dana.white@example.com",
        customer_name="Dana White",
        subject="No internet since this morning",
        message_ids=("first.1@mail.example.com", *(["sb.reply-1@northwind.example"] if answered else [])),
        customer_message_id="first.1@mail.example.com",
        reply_id="sb.reply-1@northwind.example" if answered else "",
        reply_text="Hi Dana, an engineer is on the way.\n\nNorthwind Help" if answered else "",
        reply_at=timezone.now() - timedelta(minutes=5) if answered else None,
    )


def test_a_seed_makes_the_mail_repeatable() -> None:
    now, answered = timezone.now(), thread()
    first = SandboxMail(7).messages(40, now=now, to_address=DEMO_ADDRESS, open_threads=[answered])
    second = SandboxMail(7).messages(40, now=now, to_address=DEMO_ADDRESS, open_threads=[answered])
    assert first == second
    assert SandboxMail(8).messages(40, now=now, to_address=DEMO_ADDRESS) != first


def test_new_mail_looks_like_what_mail_clients_send() -> None:
    raws = write(300)
    messages = [email.message_from_bytes(raw, policy=policy.default) for raw in raws]
    parsed = [parse_email(raw) for raw in raws]
    assert all(m["Message-ID"] and m["Date"] and m["Subject"] and m["From"] for m in messages)
    assert all(p.from_name and "@" in p.from_address and p.message_id and p.date for p in parsed)
    assert all(p.to == (DEMO_ADDRESS,) for p in parsed)
    shapes = Counter(m.get_content_type() for m in messages)
    assert shapes["text/plain"] and shapes["text/html"] and shapes["multipart/alternative"]
    assert shapes["multipart/mixed"], "some carry an attachment"
    attached = [a for p in parsed for a in p.attachments if not a.inline]
    assert {a.content_type for a in attached} == {"image/png", "application/pdf"}
    assert all(0 < a.size < 10_000 for a in attached)
    assert any(a.content_id for p in parsed for a in p.attachments), "a signature logo shown by its cid"
    html_only = [p for p, m in zip(parsed, messages, strict=True) if m.get_content_type() == "text/html"]
    assert all(p.text and "<" not in p.text for p in html_only), "HTML-only mail is read as text"
    assert {"Marta Jovanović", "Lucía Fernández"} & {p.from_name for p in parsed}
    senders = Counter(p.from_address for p in parsed)
    assert senders.most_common(1)[0][1] > 1, "customers come back"
    assert not any(p.in_reply_to or p.auto is not AutoKind.HUMAN for p in parsed), "no open threads: all new"


def test_in_an_answered_thread_customers_reply_to_our_reply_by_headers_by_token_and_from_out_of_office() -> None:
    ours = thread(41)
    parsed = [parse_email(raw) for raw in write(400, threads=(ours,))]
    dana = [p for p in parsed if p.from_address == ours.customer_address]
    again = [p for p in dana if p.in_reply_to or TOKEN.search(p.subject)]
    replies = [p for p in again if p.in_reply_to == ours.reply_id and p.auto is AutoKind.HUMAN]
    assert replies and all(p.references[-1] == ours.reply_id for p in replies)
    assert all(p.references[0] == ours.customer_message_id for p in replies)
    assert any(p.subject == "Re: No internet since this morning [#41]" for p in replies)
    assert any("#41" not in p.subject for p in replies), "some change the subject and keep the headers"
    assert any(p.text.count("> Hi Dana, an engineer is on the way.") for p in replies), "our reply quoted"
    token_only = [p for p in again if not p.in_reply_to and not p.references]
    assert token_only and all("[#41]" in p.subject for p in token_only)
    out_of_office = [p for p in again if p.auto is AutoKind.AUTO_REPLY]
    assert out_of_office and all(p.in_reply_to == ours.reply_id and p.no_auto_response for p in out_of_office)


def test_in_an_unanswered_thread_customers_follow_up_on_their_own_mail() -> None:
    waiting = thread(42, answered=False)
    parsed = [parse_email(raw) for raw in write(200, threads=(waiting,))]
    again = [p for p in parsed if p.in_reply_to]
    assert again
    assert all(p.in_reply_to == waiting.customer_message_id and p.subject.startswith("Re: ") for p in again)
    assert not any(p.auto is not AutoKind.HUMAN or TOKEN.search(p.subject) for p in parsed)


# --- Through the real path ------------------------------------------------------------------------------------------


@pytest.fixture
def mailbox(queue: Queue) -> Mailbox:
    return seed_demo_mailbox(Queue.objects.create(name="Email", sla_policy=queue.sla_policy))


@pytest.fixture
def sent_by_smtp(monkeypatch: pytest.MonkeyPatch) -> None:
    """SMTP sending is the mail server's edge: our reply goes out with the Message-ID sending gives it."""

    def post_reply(self: EmailConnector, request: ReplyRequest) -> str:
        return f"sb.{request.idempotency_key}@northwind.example"

    monkeypatch.setattr(EmailConnector, "post_reply", post_reply)


def answer_all(agent: Any) -> list[Message]:
    """The agent answers every open email conversation, and each reply goes out."""
    sent = []
    for conversation in Conversation.objects.filter(channel=Channel.EMAIL, state__in=[S.QUEUED, S.ASSIGNED]):
        if conversation.state == S.QUEUED:
            do_assign_conversation(conversation, agent)
        reply = do_send_reply(conversation, agent, "Hi, an engineer is on the way.")
        do_post_reply(reply.pk)
        reply.refresh_from_db()
        sent.append(reply)
    return sent


@pytest.mark.django_db
def test_sandbox_mail_becomes_email_conversations_of_the_demo_mailbox(mailbox: Mailbox) -> None:
    stored = deliver_sandbox_mail(30, now=timezone.now(), writer=SandboxMail(3))
    assert stored == 30
    messages = Message.objects.filter(platform="email")
    assert set(messages.values_list("account_id", flat=True)) == {mailbox.account_id}
    conversations = Conversation.objects.filter(channel=Channel.EMAIL)
    assert conversations.exists()
    assert {c.queue.name for c in conversations} == {"Email"}, "the mailbox's queue rule places its mail"


@pytest.mark.django_db
def test_customers_answers_to_our_replies_continue_their_conversations_and_out_of_office_changes_nothing(
    mailbox: Mailbox, agent: Any, sent_by_smtp: None
) -> None:
    deliver_sandbox_mail(12, now=timezone.now(), writer=SandboxMail(5))
    sent = {reply.external_id: reply for reply in answer_all(agent)}
    assert sent and all(reply.external_id.startswith("sb.") for reply in sent.values())
    threads = open_email_threads(mailbox.account_id)
    assert {t.reply_id for t in threads} == set(sent)

    writer = SandboxMail(6)
    kinds: Counter[str] = Counter()
    for raw in writer.messages(120, now=timezone.now(), to_address=mailbox.address, open_threads=threads):
        parsed = parse_email(raw)
        token = TOKEN.search(parsed.subject)
        target = sent.get(parsed.in_reply_to)
        answered = target.conversation if target else None
        if answered is None and token:
            answered = Conversation.objects.get(pk=int(token.group(1)))
        before = Conversation.objects.get(pk=answered.pk) if answered else None
        do_receive_email(mailbox, raw)
        message = Message.objects.get(platform="email", external_id=parsed.message_id)
        if answered is None:
            kinds["new"] += 1
            continue
        assert message.conversation_id == answered.pk, parsed.subject
        after = Conversation.objects.get(pk=answered.pk)
        if parsed.auto is AutoKind.AUTO_REPLY:
            kinds["out of office"] += 1
            assert before is not None
            assert (after.state, after.waiting_since) == (before.state, before.waiting_since)
        else:
            kinds["by headers" if target else "by token"] += 1
            assert after.state in (S.ASSIGNED, S.QUEUED) and after.waiting_since is not None
    assert set(kinds) == {"new", "out of office", "by headers", "by token"}, kinds


@pytest.mark.django_db
def test_polling_the_sandbox_delivers_email_at_its_own_rate(settings: Any, mailbox: Mailbox) -> None:
    settings.SANDBOX_POSTS_PER_MINUTE = 0
    settings.SANDBOX_EMAILS_PER_MINUTE = 60
    sandbox = SocialAccount.objects.create(platform="sandbox", external_id="0", name="Sandbox")
    start = timezone.now()
    SocialAccount.objects.filter(pk=sandbox.pk).update(cursor={"last_at": (start - timedelta(seconds=10)).isoformat()})
    do_poll_account(sandbox.pk)
    count = Message.objects.filter(platform="email", account=mailbox.account).count()
    assert 9 <= count <= 11  # 10 s at one a second, give or take the clock
    sandbox.refresh_from_db()
    assert 0 <= sandbox.cursor["mail_carry"] < 1
    assert not Message.objects.filter(platform="sandbox").exists()


@pytest.mark.django_db
def test_without_the_demo_mailbox_the_sandbox_writes_no_mail(queue: Queue) -> None:
    assert deliver_sandbox_mail(5, now=timezone.now()) == 0
    assert not Message.objects.exists()


def test_a_customer_address_the_sandbox_cannot_write_back_is_left_alone() -> None:
    odd = EmailThread(41, "üser@exämple.example", "Ü", "Hallo", ("a.1@x.example",), "a.1@x.example")
    parsed = [parse_email(raw) for raw in write(50, threads=(odd,))]
    assert len(parsed) == 50 and not any(p.in_reply_to for p in parsed)


def test_message_ids_are_unique_and_ours_are_never_reused() -> None:
    ids = [parse_email(raw).message_id for raw in write(500, threads=(thread(),))]
    assert len(set(ids)) == len(ids)
    assert not any(i.endswith("@northwind.example") for i in ids)
