"""Capture is exactly-once under any interleaving of polls, webhooks and re-deliveries.

Polls and webhooks both end in :func:`monitoring.pipeline.ingest`, so a
delivery is modelled as one call to it: a batch drawn from a fixed set of
posts, with repeats, in any order, split into batches of any size. Whatever
the sequence, each post is stored once, in the conversation of its thread,
with one ledger row saying so and one identity per author.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import Channel, Contact, Conversation, Event, EventKind, Identity, Message
from core.posts import Author, InboundPost
from monitoring.pipeline import ingest
from routing.models import Queue, SLAPolicy

CHANNELS = [Channel.X_PUBLIC, Channel.X_DM, Channel.FACEBOOK_PUBLIC]
# Few thread keys and ids, so the same key shows up on two channels and the
# same external id on two platforms: neither may merge what is distinct.
THREAD_KEYS = ["7001", "7002", "7003"]
AUTHOR_IDS = ["3301001", "3301002", "3301003"]
FIRST_SENT_AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Delivery:
    posts: list[InboundPost]
    batch_size: int


@st.composite
def post_sets(draw: st.DrawFn) -> list[InboundPost]:
    """Distinct posts in a few threads; each reply answers an earlier post of its thread and is sent after it."""
    threads = draw(
        st.lists(
            st.tuples(st.sampled_from(CHANNELS), st.sampled_from(THREAD_KEYS)), min_size=1, max_size=4, unique=True
        )
    )
    ids_by_platform: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(8000))
    clock = itertools.count()
    posts = []
    for channel, thread_key in threads:
        platform = Channel.platform_of(channel)
        thread: list[InboundPost] = []
        for _ in range(draw(st.integers(1, 4))):
            author_id = draw(st.sampled_from(AUTHOR_IDS))
            parent = draw(st.sampled_from(thread)) if thread else None
            external_id = str(next(ids_by_platform[platform]))
            thread.append(
                InboundPost(
                    platform=platform,
                    channel=channel,
                    external_id=external_id,
                    thread_key=thread_key,
                    author=Author(platform=platform, external_id=author_id, handle=f"user{author_id}"),
                    text=f"Post {external_id}: my order still has not arrived",
                    sent_at=FIRST_SENT_AT + timedelta(seconds=next(clock)),
                    in_reply_to_external_id=parent.external_id if parent else "",
                    raw={"id": external_id},
                )
            )
        posts += thread
    return posts


def deliveries_of(posts: list[InboundPost], *, max_deliveries: int = 5) -> st.SearchStrategy[list[Delivery]]:
    delivery = st.builds(Delivery, st.lists(st.sampled_from(posts), max_size=8), st.integers(1, 5))
    return st.lists(delivery, max_size=max_deliveries)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[InboundPost], list[Delivery]]:
    """Posts, then deliveries ending with one of everything, so each post arrives at least once."""
    posts = draw(post_sets())
    deliveries = draw(deliveries_of(posts))
    everything = Delivery(draw(st.permutations(posts)), draw(st.integers(1, 5)))
    return posts, [*deliveries, everything]


def default_queue() -> Queue:
    sla = SLAPolicy.objects.create(name="Standard", first_response_seconds=3600, next_response_seconds=1800)
    return Queue.objects.create(name="General", is_default=True, sla_policy=sla)


def deliver(deliveries: Sequence[Delivery]) -> None:
    for delivery in deliveries:
        ingest(delivery.posts, batch_size=delivery.batch_size)


def assert_captured_exactly_once(posts: Sequence[InboundPost]) -> None:
    """Each post once, in its thread's conversation; one ledger row per fact; one identity per author."""
    expected = {(post.platform, post.external_id): post for post in posts}
    stored = Counter(Message.objects.values_list("platform", "external_id"))
    assert stored == Counter(expected.keys()), "each post is stored exactly once"

    conversation_of = {
        (platform, external_id): conversation_id
        for platform, external_id, conversation_id in Message.objects.values_list(
            "platform", "external_id", "conversation_id"
        )
    }
    conversations_of_thread: dict[tuple[str, str], set[int]] = defaultdict(set)
    for key, post in expected.items():
        conversations_of_thread[(post.channel, post.thread_key)].add(conversation_of[key])
    assert all(len(ids) == 1 for ids in conversations_of_thread.values()), "one conversation per thread"
    thread_of = {ids.pop(): thread for thread, ids in conversations_of_thread.items()}
    conversations = {
        pk: (channel, key) for pk, channel, key in Conversation.objects.values_list("pk", "channel", "thread_key")
    }
    assert conversations == thread_of, "no other conversations, each under its thread's channel and key"

    messages_in = Counter(conversation_of.values())
    events = Counter(Event.objects.values_list("conversation_id", "kind"))
    for conversation_id, count in messages_in.items():
        assert events[(conversation_id, EventKind.CAPTURED)] == 1
        assert events[(conversation_id, EventKind.QUEUED)] == 1
        assert events[(conversation_id, EventKind.CUSTOMER_REPLY)] == count - 1

    authors = {(post.author.platform, post.author.external_id) for post in posts}
    assert Counter(Identity.objects.values_list("platform", "external_id")) == Counter(authors)
    assert Contact.objects.count() == len(authors), "no contact is left over from a lost race"


def snapshot() -> dict[str, Any]:
    """Everything capture writes, to compare before and after a re-delivery."""
    return {
        "messages": set(Message.objects.values_list("pk", "platform", "external_id", "conversation_id", "text")),
        "conversations": set(
            Conversation.objects.values_list(
                "pk", "state", "priority", "waiting_since", "last_inbound_at", "queue_id", "updated_at"
            )
        ),
        "events": set(Event.objects.values_list("pk", "kind", "conversation_id")),
        "identities": set(Identity.objects.values_list("pk", "contact_id", "handle", "followers_count")),
        "contacts": set(Contact.objects.values_list("pk", flat=True)),
    }


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_any_interleaving_of_deliveries_captures_each_post_exactly_once(
    scenario: tuple[list[InboundPost], list[Delivery]],
) -> None:
    posts, deliveries = scenario
    with transaction.atomic():
        default_queue()
        deliver(deliveries)
        assert_captured_exactly_once(posts)
        transaction.set_rollback(True)  # the next example starts from an empty database


@st.composite
def repeated_batches(draw: st.DrawFn) -> tuple[list[Delivery], Delivery, int]:
    """Some history, then a batch that is delivered twice (the second time in batches of any size)."""
    posts = draw(post_sets())
    history = draw(deliveries_of(posts, max_deliveries=3))
    batch = Delivery(draw(st.lists(st.sampled_from(posts), min_size=1, max_size=8)), draw(st.integers(1, 5)))
    return history, batch, draw(st.integers(1, 5))


@pytest.mark.django_db
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=repeated_batches())
def test_delivering_the_same_batch_again_changes_nothing(scenario: tuple[list[Delivery], Delivery, int]) -> None:
    history, batch, batch_size_again = scenario
    with transaction.atomic():
        default_queue()
        deliver([*history, batch])
        before = snapshot()
        stats = ingest(batch.posts, batch_size=batch_size_again)
        assert snapshot() == before
        assert (stats.duplicates, stats.stored, stats.new_conversations) == (len(batch.posts), 0, 0)
        transaction.set_rollback(True)


def concurrent_round(round_number: int) -> list[InboundPost]:
    """Three threads of four posts (one per channel), by two authors new in this round."""
    posts = []
    for thread_number, channel in enumerate([Channel.X_PUBLIC, Channel.X_DM, Channel.FACEBOOK_PUBLIC]):
        platform = Channel.platform_of(channel)
        thread_key = f"{round_number}{thread_number:02d}"
        for position in range(4):
            external_id = f"{thread_key}{position:02d}"
            author_id = f"{round_number}{position % 2}"
            posts.append(
                InboundPost(
                    platform=platform,
                    channel=channel,
                    external_id=external_id,
                    thread_key=thread_key,
                    author=Author(platform=platform, external_id=author_id, handle=f"user{author_id}"),
                    text=f"Post {external_id}: still waiting for a refund",
                    sent_at=FIRST_SENT_AT + timedelta(seconds=position),
                    in_reply_to_external_id=f"{thread_key}{position - 1:02d}" if position else "",
                )
            )
    return posts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_ingesting_the_same_posts_at_once_capture_each_exactly_once() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to lose")
    default_queue()
    rounds = [concurrent_round(number) for number in range(1, 9)]
    errors: list[BaseException] = []

    def worker(batches: list[list[InboundPost]], batch_size: int, barrier: threading.Barrier) -> None:
        try:
            barrier.wait(timeout=10)
            for batch in batches:
                ingest(batch, batch_size=batch_size)
        except BaseException as error:  # noqa: BLE001 - re-raised by the test thread below
            errors.append(error)
        finally:
            connection.close()  # this thread's own connection

    for posts in rounds:
        barrier = threading.Barrier(2)
        # Overlapping, in different orders and cut differently: one worker
        # sees the whole round forwards, the other most of it backwards.
        workers = [
            threading.Thread(target=worker, args=([posts], 4, barrier)),
            threading.Thread(target=worker, args=([posts[::-1][:9], posts[2:6]], 3, barrier)),
        ]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in workers), "a worker is stuck"
        if errors:
            raise errors[0]

    assert_captured_exactly_once([post for posts in rounds for post in posts])
