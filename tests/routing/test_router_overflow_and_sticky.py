"""Overflow relaxes a queue's requirements as an item waits; sticky routing sends customers back to their agent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from agents.actions import do_create_user, do_set_agent_skill, do_set_presence
from agents.models import Presence
from core.actions import do_record_reply, do_resolve_conversation
from core.capture import do_capture_post
from core.models import Conversation, Event, EventKind
from core.models import ConversationState as S
from core.posts import InboundPost, Triage
from core.roles import AGENT
from monitoring.pipeline import ingest
from routing import engine
from routing.actions import do_route_queued
from routing.models import OverflowKind, OverflowStep, Queue, QueueSkill, Skill

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def inline_tasks(settings: Any) -> None:
    """Routing requested after a commit runs at once, also when a Redis broker is configured."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


def make_agent(username: str, *, skills: dict[Skill, int] | None = None, presence: str = Presence.AVAILABLE) -> Any:
    user = do_create_user(username, f"pw-{username}-12345", role=AGENT)
    for skill, level in (skills or {}).items():
        do_set_agent_skill(user.agent_profile, skill.pk, level)
    if presence != Presence.OFFLINE:
        do_set_presence(user.agent_profile, presence, reason="break" if presence == Presence.AWAY else "")
    return user


def queued_in(queue: Queue, post: InboundPost) -> Conversation:
    conversation = do_capture_post(post, Triage(queue_id=queue.pk)).conversation
    assert conversation is not None and conversation.state == S.QUEUED
    return conversation


def holder(conversation: Conversation) -> Any:
    conversation.refresh_from_db()
    return conversation.assigned_agent


def last_assignment(conversation: Conversation) -> Event:
    return Event.objects.filter(conversation=conversation, kind=EventKind.ASSIGNED).latest("id")


def only_conversation_of_thread(thread_key: str) -> Conversation:
    return Conversation.objects.get(thread_key=thread_key)


# --- Overflow ---------------------------------------------------------------------------------


@pytest.fixture
def billing(db: None) -> Skill:
    return Skill.objects.create(name="billing")


@pytest.fixture
def experts(db: None, billing: Skill) -> Queue:
    queue = Queue.objects.create(name="Billing experts")
    QueueSkill.objects.create(queue=queue, skill=billing, min_level=8)
    return queue


def test_lower_level_overflow_lets_less_skilled_agents_in_once_the_item_has_waited(
    make_post: Callable[..., InboundPost], experts: Queue, billing: Skill, clock: time_machine.Traveller
) -> None:
    OverflowStep.objects.create(queue=experts, after_seconds=60, kind=OverflowKind.LOWER_LEVEL, level_drop=2)
    junior = make_agent("junior", skills={billing: 6})
    conversation = queued_in(experts, make_post())

    clock.shift(59)
    assert engine.route().no_eligible_agent == 1
    assert holder(conversation) is None

    clock.shift(1)
    assert engine.route().assigned == 1
    assert holder(conversation) == junior
    reason = last_assignment(conversation).data["reason"]
    assert reason["requirements"] == {str(billing.pk): 6}
    assert reason["overflow"] == ["levels -2 after 60s"]


def test_overflow_steps_add_up_in_order(
    make_post: Callable[..., InboundPost], experts: Queue, billing: Skill, clock: time_machine.Traveller
) -> None:
    OverflowStep.objects.create(queue=experts, after_seconds=120, kind=OverflowKind.LOWER_LEVEL, level_drop=1)
    OverflowStep.objects.create(queue=experts, after_seconds=60, kind=OverflowKind.LOWER_LEVEL, level_drop=1)
    junior = make_agent("junior", skills={billing: 6})
    conversation = queued_in(experts, make_post())

    clock.shift(60)
    engine.route()
    assert holder(conversation) is None, "billing ≥ 7 after the first step: still too high"

    clock.shift(60)
    engine.route()
    assert holder(conversation) == junior
    assert last_assignment(conversation).data["reason"]["overflow"] == ["levels -1 after 60s", "levels -1 after 120s"]


def test_add_skill_overflow_also_accepts_agents_with_the_alternative_skill(
    make_post: Callable[..., InboundPost], experts: Queue, billing: Skill, clock: time_machine.Traveller
) -> None:
    sales = Skill.objects.create(name="sales")
    OverflowStep.objects.create(
        queue=experts, after_seconds=120, kind=OverflowKind.ADD_SKILL, skill=sales, skill_level=7
    )
    make_agent("sales_novice", skills={sales: 6})
    seller = make_agent("seller", skills={sales: 7})
    conversation = queued_in(experts, make_post())

    clock.shift(119)
    engine.route()
    assert holder(conversation) is None

    clock.shift(1)
    engine.route()
    assert holder(conversation) == seller
    reason = last_assignment(conversation).data["reason"]
    assert reason["eligible"] == 1
    assert reason["overflow"] == [f"skill {sales.pk} ≥ 7 also serves after 120s"]


# --- Sticky: a reopened conversation -------------------------------------------------------------


@pytest.fixture
def handled_by_ben(
    clock: time_machine.Traveller, make_post: Callable[..., InboundPost], queue: Queue, agent: Any, other_agent: Any
) -> Conversation:
    """A customer's thread that Ben answered and resolved; Ana (a lower id, never assigned) is available too."""
    ingest([make_post(external_id="5001", thread_key="5001")])
    do_set_presence(other_agent.agent_profile, Presence.AVAILABLE)
    do_route_queued()
    conversation = only_conversation_of_thread("5001")
    assert conversation.assigned_agent == other_agent
    do_record_reply(conversation, other_agent, "Restarting it should help.")
    do_resolve_conversation(conversation, actor=other_agent, disposition="answered")
    do_set_presence(agent.agent_profile, Presence.AVAILABLE)
    return conversation


def test_a_reopened_conversation_goes_back_to_its_previous_agent(
    make_post: Callable[..., InboundPost], handled_by_ben: Conversation, other_agent: Any
) -> None:
    ingest([make_post(external_id="5002", thread_key="5001", text="It is down again")])
    handled_by_ben.refresh_from_db()
    assert handled_by_ben.state == S.QUEUED and handled_by_ben.preferred_agent == other_agent

    do_route_queued()

    assert holder(handled_by_ben) == other_agent
    assert last_assignment(handled_by_ben).data["reason"]["why"] == "sticky: back to the previous agent"


def test_a_reopened_conversation_waits_for_its_absent_agent_then_goes_to_someone_else(
    make_post: Callable[..., InboundPost],
    handled_by_ben: Conversation,
    agent: Any,
    other_agent: Any,
    queue: Queue,
    clock: time_machine.Traveller,
) -> None:
    do_set_presence(other_agent.agent_profile, Presence.AWAY, reason="lunch")
    ingest([make_post(external_id="5002", thread_key="5001", text="It is down again")])

    assert do_route_queued().waiting_for_agent == 1
    clock.shift(queue.sticky_wait_seconds - 1)
    assert do_route_queued().waiting_for_agent == 1
    assert holder(handled_by_ben) is None

    clock.shift(1)
    assert do_route_queued().assigned == 1
    assert holder(handled_by_ben) == agent
    assert last_assignment(handled_by_ben).data["reason"]["sticky_expired"] is True


# --- Sticky: a returning contact ------------------------------------------------------------------


def test_a_contact_writing_again_within_the_sticky_window_goes_to_their_previous_agent(
    make_post: Callable[..., InboundPost], handled_by_ben: Conversation, other_agent: Any, clock: time_machine.Traveller
) -> None:
    clock.shift(timedelta(hours=71))  # the queue's window is 72 hours
    ingest([make_post(external_id="6001", thread_key="6001", text="A new question about my plan")])
    returning = only_conversation_of_thread("6001")
    assert returning.preferred_agent == other_agent
    queued_event = Event.objects.get(conversation=returning, kind=EventKind.QUEUED)
    assert queued_event.data["preferred_agent_id"] == other_agent.pk

    do_route_queued()

    assert holder(returning) == other_agent
    assert last_assignment(returning).data["reason"]["why"] == "sticky: back to the previous agent"


def test_a_contact_writing_again_after_the_sticky_window_goes_to_whoever_is_best(
    make_post: Callable[..., InboundPost],
    handled_by_ben: Conversation,
    agent: Any,
    queue: Queue,
    clock: time_machine.Traveller,
) -> None:
    Queue.objects.filter(pk=queue.pk).update(sticky_window_hours=2)
    clock.shift(timedelta(hours=2, minutes=1))
    ingest([make_post(external_id="6001", thread_key="6001", text="A new question about my plan")])
    returning = only_conversation_of_thread("6001")
    assert returning.preferred_agent is None

    do_route_queued()

    assert holder(returning) == agent


# --- An open conversation keeps its agent -----------------------------------------------------------


def test_a_new_message_in_an_assigned_conversation_stays_with_its_agent(
    make_post: Callable[..., InboundPost],
    queue: Queue,
    agent: Any,
    other_agent: Any,
    inline_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    do_set_presence(other_agent.agent_profile, Presence.AVAILABLE)
    with django_capture_on_commit_callbacks(execute=True):
        ingest([make_post(external_id="7001", thread_key="7001")])
    conversation = only_conversation_of_thread("7001")
    assert conversation.assigned_agent == other_agent
    do_set_presence(agent.agent_profile, Presence.AVAILABLE)

    with django_capture_on_commit_callbacks(execute=True):
        ingest([make_post(external_id="7002", thread_key="7001", text="Any news?")])

    assert holder(conversation) == other_agent and conversation.state == S.ASSIGNED
    assert conversation.messages.count() == 2
    kinds = list(conversation.events.order_by("id").values_list("kind", flat=True))
    assert kinds == [EventKind.CAPTURED, EventKind.QUEUED, EventKind.ASSIGNED, EventKind.CUSTOMER_REPLY]


def test_a_customer_answering_our_reply_goes_back_to_the_same_agent(
    make_post: Callable[..., InboundPost],
    queue: Queue,
    agent: Any,
    other_agent: Any,
    inline_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    do_set_presence(other_agent.agent_profile, Presence.AVAILABLE)
    with django_capture_on_commit_callbacks(execute=True):
        ingest([make_post(external_id="7001", thread_key="7001")])
    conversation = only_conversation_of_thread("7001")
    do_record_reply(conversation, other_agent, "Could you send your account number?")
    do_set_presence(agent.agent_profile, Presence.AVAILABLE)

    with django_capture_on_commit_callbacks(execute=True):
        ingest([make_post(external_id="7002", thread_key="7001", text="It is 12345")])

    assert holder(conversation) == other_agent and conversation.state == S.ASSIGNED
    assert conversation.events.filter(kind=EventKind.ASSIGNED).count() == 1
