"""Overflow that moves items to another queue, pull mode's presence check, next-response SLA in business hours."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from agents.models import Presence
from core.actions import do_record_reply
from core.capture import do_capture_post
from core.errors import Conflict
from core.models import ConversationState as S
from core.models import EventKind
from core.posts import Triage
from routing.actions import do_get_next, do_route_queued
from routing.models import OverflowKind, OverflowStep, Queue, QueueSkill, RoutingMode, Skill, SLAPolicy
from tests.routing.test_router_overflow_and_sticky import make_agent

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_an_item_moves_to_the_overflow_queue_after_waiting_and_is_served_there(
    clock: time_machine.Traveller, make_post: Any, sla: SLAPolicy
) -> None:
    spanish = Skill.objects.create(name="spanish")
    specialist = Queue.objects.create(name="Spanish desk", sla_policy=sla)
    QueueSkill.objects.create(queue=specialist, skill=spanish, min_level=8)
    general = Queue.objects.create(name="General", sla_policy=sla)
    OverflowStep.objects.create(queue=specialist, after_seconds=300, kind=OverflowKind.MOVE_QUEUE, target_queue=general)
    anyone = make_agent("anyone")  # no Spanish at all
    conversation = do_capture_post(make_post(), Triage(queue_id=specialist.pk)).conversation
    assert conversation is not None

    do_route_queued()
    conversation.refresh_from_db()
    assert conversation.state == S.QUEUED and conversation.queue == specialist

    clock.shift(timedelta(seconds=301))
    do_route_queued()
    conversation.refresh_from_db()
    transfer = conversation.events.get(kind=EventKind.TRANSFERRED)
    assert transfer.data["reason"] == "overflow: waited too long" and transfer.data["to_queue_id"] == general.pk
    do_route_queued()
    conversation.refresh_from_db()
    assert conversation.queue == general and conversation.assigned_agent == anyone


def test_overflow_moves_even_when_every_agent_is_full(
    clock: time_machine.Traveller, make_post: Any, sla: SLAPolicy
) -> None:
    first = Queue.objects.create(name="First", sla_policy=sla)
    second = Queue.objects.create(name="Second", sla_policy=sla)
    OverflowStep.objects.create(queue=first, after_seconds=60, kind=OverflowKind.MOVE_QUEUE, target_queue=second)
    conversation = do_capture_post(make_post(), Triage(queue_id=first.pk)).conversation
    assert conversation is not None
    clock.shift(timedelta(seconds=61))
    stats = do_route_queued()  # no agent at all: no room anywhere
    conversation.refresh_from_db()
    assert stats.moved == 1 and conversation.queue == second


def test_get_next_needs_an_agent_who_is_working(make_post: Any, sla: SLAPolicy) -> None:
    pull = Queue.objects.create(name="Pull", sla_policy=sla, mode=RoutingMode.PULL)
    do_capture_post(make_post(), Triage(queue_id=pull.pk))
    away = make_agent("away", presence=Presence.AWAY)
    with pytest.raises(Conflict, match="available"):
        do_get_next(away.pk)
    busy = make_agent("busy", presence=Presence.BUSY)
    assert do_get_next(busy.pk) is not None


def test_get_next_leaves_an_item_waiting_for_its_previous_agent(clock: time_machine.Traveller, make_post: Any) -> None:
    pull = Queue.objects.create(name="Pull", mode=RoutingMode.PULL, sticky_wait_seconds=120)
    regular = make_agent("regular", presence=Presence.OFFLINE)
    other = make_agent("other")
    conversation = do_capture_post(make_post(), Triage(queue_id=pull.pk, preferred_agent_id=regular.pk)).conversation
    assert conversation is not None
    assert do_get_next(other.pk) is None
    clock.shift(timedelta(seconds=121))
    assert do_get_next(other.pk) == conversation.pk


def test_the_next_response_deadline_counts_business_hours(
    clock: time_machine.Traveller, make_post: Any, settings: Any
) -> None:
    settings.TIME_ZONE = "UTC"
    policy = SLAPolicy.objects.create(
        name="Office",
        first_response_seconds=3600,
        next_response_seconds=3600,
        business_hours={day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    )
    queue = Queue.objects.create(name="Office hours", sla_policy=policy)
    agent = make_agent("daytime")
    root = make_post(external_id="700", sent_at=NOW - timedelta(minutes=1))
    conversation = do_capture_post(root, Triage(queue_id=queue.pk)).conversation
    assert conversation is not None
    do_route_queued()
    conversation.refresh_from_db()
    do_record_reply(conversation, agent, "On it")
    clock.move_to(datetime(2026, 3, 10, 16, 30, tzinfo=UTC))
    do_capture_post(make_post(external_id="701", thread_key="700", sent_at=datetime(2026, 3, 10, 16, 30, tzinfo=UTC)))
    conversation.refresh_from_db()
    # Thirty minutes left today, thirty more from nine tomorrow.
    assert conversation.next_response_due == datetime(2026, 3, 11, 9, 30, tzinfo=UTC)
