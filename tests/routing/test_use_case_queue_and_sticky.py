"""Queueing has one deadline, and a timed-out agent's work waits for them even when routing runs at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from agents.actions import do_heartbeat, do_set_presence, do_time_out_silent_agents
from agents.models import Presence
from core.actions import do_queue_conversations
from core.models import Conversation
from core.models import ConversationState as S
from core.posts import InboundPost
from monitoring.pipeline import ingest
from routing.actions import do_route_queued
from routing.models import Queue, SLAPolicy

pytestmark = pytest.mark.django_db

OFFICE_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
FRIDAY_4_30_PM = datetime(2026, 3, 13, 16, 30, tzinfo=UTC)
MONDAY_9_30_AM = datetime(2026, 3, 16, 9, 30, tzinfo=UTC)
"""One hour of office time after Friday 16:30: half an hour on Friday, half an hour on Monday morning."""


@pytest.fixture
def friday() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(FRIDAY_4_30_PM, tick=False) as traveller:
        yield traveller


@pytest.fixture
def office_queue(db: None, settings: Any) -> Queue:
    settings.TIME_ZONE = "UTC"
    policy = SLAPolicy.objects.create(
        name="Office", first_response_seconds=3600, next_response_seconds=1800, business_hours=OFFICE_HOURS
    )
    return Queue.objects.create(name="Citizens", sla_policy=policy, is_default=True)


def test_capture_gives_the_first_response_deadline_in_business_hours(
    friday: Any, office_queue: Queue, make_post: Callable[..., InboundPost]
) -> None:
    post = make_post(sent_at=FRIDAY_4_30_PM)

    ingest([post])

    conversation = Conversation.objects.get(thread_key=post.thread_key)
    assert conversation.state == S.QUEUED
    assert conversation.first_response_due == MONDAY_9_30_AM


def test_queueing_later_gives_the_same_deadline_as_capture(
    friday: Any, office_queue: Queue, make_post: Callable[..., InboundPost]
) -> None:
    """A conversation capture could not place (no default queue then) is queued with the same formula."""
    Queue.objects.filter(pk=office_queue.pk).update(is_default=False)
    post = make_post(sent_at=FRIDAY_4_30_PM)
    ingest([post])
    conversation = Conversation.objects.get(thread_key=post.thread_key)
    assert conversation.state == S.NEW

    assert do_queue_conversations([conversation.pk], office_queue) == [conversation.pk]

    conversation.refresh_from_db()
    assert (conversation.state, conversation.queue) == (S.QUEUED, office_queue)
    assert conversation.first_response_due == MONDAY_9_30_AM


@pytest.fixture
def eager_routing(settings: Any) -> None:
    """Every requested routing pass runs at once, after its commit: the tightest interleaving production has."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.mark.django_db(transaction=True)  # real commits: each on-commit pass runs the moment its transaction ends
def test_a_timed_out_agents_work_waits_for_them_though_a_routing_pass_runs_at_once(
    eager_routing: None,
    queue: Queue,
    agent: Any,
    other_agent: Any,
    make_post: Callable[..., InboundPost],
    settings: Any,
) -> None:
    Queue.objects.filter(pk=queue.pk).update(requeue_on_agent_timeout=True, sticky_wait_seconds=300)
    with time_machine.travel(datetime(2026, 3, 10, 12, 0, tzinfo=UTC), tick=False) as clock:
        do_set_presence(agent.agent_profile, Presence.AVAILABLE)
        do_heartbeat(agent.agent_profile)
        post = replace(make_post(), sent_at=datetime(2026, 3, 10, 11, 59, tzinfo=UTC))
        ingest([post])
        do_route_queued()
        conversation = Conversation.objects.get(thread_key=post.thread_key)
        assert conversation.assigned_agent == agent
        # Ben is free and able: any routing pass that ran before the sticky wait was written would give it to him.
        do_set_presence(other_agent.agent_profile, Presence.AVAILABLE)
        clock.shift(settings.AGENT_HEARTBEAT_TIMEOUT_SECONDS + 1)

        assert do_time_out_silent_agents() == [agent.pk]

    conversation.refresh_from_db()
    assert (conversation.state, conversation.assigned_agent, conversation.preferred_agent) == (S.QUEUED, None, agent)
