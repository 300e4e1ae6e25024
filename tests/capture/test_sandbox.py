"""The sandbox source: realistic, repeatable posts that flow through the real pipeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from core.models import Conversation, Message
from core.models import ConversationState as S
from monitoring.models import SocialAccount
from monitoring.pipeline import ingest
from monitoring.polling import do_poll_account
from monitoring.queries import open_sandbox_threads
from monitoring.sandbox import SandboxSource
from routing.models import Queue


def test_a_seed_makes_the_posts_repeatable() -> None:
    now = timezone.now()
    first = SandboxSource(7).posts(30, now=now)
    second = SandboxSource(7).posts(30, now=now)
    assert [p.text for p in first] == [p.text for p in second]
    assert [p.external_id for p in first] == [p.external_id for p in second]


def test_the_mix_has_kinds_languages_channels_and_returning_customers() -> None:
    posts = SandboxSource(1).posts(300, now=timezone.now())
    assert {p.raw["kind"] for p in posts} == {"complaint", "question", "praise", "spam"}
    assert {"en", "es", "fr", "de"} <= {p.raw["lang"] for p in posts}
    assert {p.channel for p in posts} == {"sandbox_public", "sandbox_private"}
    authors = [p.author.external_id for p in posts]
    assert len(set(authors)) < len(authors), "customers come back"
    assert all(p.sent_at <= timezone.now() for p in posts)


@pytest.mark.django_db
def test_sandbox_posts_flow_into_the_default_queue(queue: Queue) -> None:
    stats = ingest(SandboxSource(3).posts(25, now=timezone.now()))
    assert stats.stored == 25 and stats.duplicates == 0
    assert Conversation.objects.filter(state=S.QUEUED, queue=queue).count() == stats.new_conversations == 25


@pytest.mark.django_db
def test_follow_ups_land_in_open_threads(queue: Queue) -> None:
    ingest(SandboxSource(4).posts(20, now=timezone.now()))
    threads = open_sandbox_threads()
    assert len(threads) == 20
    source = SandboxSource(5)
    ingest(source.posts(100, now=timezone.now(), open_threads=threads))
    follow_ups = Message.objects.filter(raw__kind="follow_up")
    assert follow_ups.exists()
    for message in follow_ups:
        assert message.conversation.messages.count() >= 2
        assert message.author_identity.contact_id == message.conversation.contact_id


@pytest.mark.django_db
def test_polling_the_sandbox_account_produces_posts_at_the_configured_rate(settings: Any, queue: Queue) -> None:
    settings.SANDBOX_POSTS_PER_MINUTE = 120
    account = SocialAccount.objects.create(platform="sandbox", external_id="0", name="Sandbox")
    start = timezone.now()
    SocialAccount.objects.filter(pk=account.pk).update(cursor={"last_at": (start - timedelta(seconds=10)).isoformat()})
    stats = do_poll_account(account.pk)
    assert stats is not None and 19 <= stats.received <= 21  # 10 s at 2 a second, give or take the clock
    account.refresh_from_db()
    assert account.last_polled_at is not None and account.next_poll_at > start
    assert set(Message.objects.values_list("account_id", flat=True)) == {account.pk}


@pytest.mark.django_db
def test_without_a_default_queue_posts_are_kept_as_new() -> None:
    stats = ingest(SandboxSource(6).posts(3, now=timezone.now()))
    assert stats.stored == 3
    assert Conversation.objects.filter(state=S.NEW).count() == 3
