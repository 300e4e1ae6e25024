"""No agent ever holds more than their capacity: weights, freed capacity, pull mode, and routers racing."""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models import Count, Sum

from agents.actions import do_create_user, do_set_agent_skill, do_set_presence
from agents.models import AgentProfile, Presence
from core.actions import do_resolve_conversation
from core.capture import do_capture_post, do_capture_posts
from core.models import Channel, Conversation, Event, EventKind
from core.models import ConversationState as S
from core.posts import InboundPost, Triage
from core.roles import AGENT
from routing import engine
from routing.actions import do_get_next, do_route_queued
from routing.models import ChannelWeight, Queue, RoutingMode, Skill


def make_agent(username: str, *, capacity: int = 10, skills: dict[Skill, int] | None = None) -> Any:
    user = do_create_user(username, f"pw-{username}-12345", role=AGENT, capacity=capacity)
    for skill, level in (skills or {}).items():
        do_set_agent_skill(user.agent_profile, skill.pk, level)
    do_set_presence(user.agent_profile, Presence.AVAILABLE)
    return user


def queued_in(
    queue: Queue, post: InboundPost, *, priority: int = 50, skills: dict[Skill, int] | None = None
) -> Conversation:
    triage = Triage(
        priority=priority, queue_id=queue.pk, skills=tuple((s.pk, level) for s, level in (skills or {}).items())
    )
    conversation = do_capture_post(post, triage).conversation
    assert conversation is not None and conversation.state == S.QUEUED
    return conversation


def load_of(user: Any) -> int:
    held = Conversation.objects.filter(assigned_agent=user, state__in=(S.ASSIGNED, S.WAITING))
    return held.aggregate(load=Sum("weight"))["load"] or 0


@pytest.mark.django_db
def test_items_beyond_an_agents_capacity_stay_queued(make_post: Callable[..., InboundPost], queue: Queue) -> None:
    ana = make_agent("ana", capacity=3)
    for _ in range(5):
        queued_in(queue, make_post())

    assert engine.route().assigned == 3
    again = engine.route()

    assert again.assigned == 0
    assert load_of(ana) == 3
    assert Conversation.objects.filter(state=S.QUEUED).count() == 2


@pytest.mark.django_db
def test_a_pass_with_nobody_to_take_work_leaves_the_queue_untouched(
    make_post: Callable[..., InboundPost], queue: Queue
) -> None:
    make_agent("ana", capacity=1)
    for _ in range(3):
        queued_in(queue, make_post())
    assert engine.route().assigned == 1

    full = engine.route()

    # Nothing examined, nothing locked: under a surge this pass runs each time a slot opens.
    assert full.no_room and full.examined == 0 and full.last_key is None
    assert Conversation.objects.filter(state=S.QUEUED).count() == 2


@pytest.mark.django_db
def test_resolving_frees_capacity_for_the_next_pass(make_post: Callable[..., InboundPost], queue: Queue) -> None:
    ana = make_agent("ana", capacity=2)
    for _ in range(3):
        queued_in(queue, make_post())
    assert do_route_queued().assigned == 2
    waiting = Conversation.objects.get(state=S.QUEUED)

    held = Conversation.objects.filter(state=S.ASSIGNED).first()
    assert held is not None
    do_resolve_conversation(held, actor=ana, disposition="answered")
    assert do_route_queued().assigned == 1

    waiting.refresh_from_db()
    assert waiting.assigned_agent == ana and load_of(ana) == 2


@pytest.mark.django_db
def test_a_direct_message_takes_its_channel_weight_of_capacity(
    make_post: Callable[..., InboundPost], queue: Queue
) -> None:
    ChannelWeight.objects.create(channel=Channel.X_DM, weight=2)
    ana = make_agent("ana", capacity=3)
    first_dm = queued_in(queue, make_post(channel=Channel.X_DM), priority=90)
    second_dm = queued_in(queue, make_post(channel=Channel.X_DM), priority=80)
    public = queued_in(queue, make_post(), priority=10)

    do_route_queued()

    first_dm.refresh_from_db()
    second_dm.refresh_from_db()
    public.refresh_from_db()
    assert first_dm.assigned_agent == ana and first_dm.weight == 2
    assert second_dm.state == S.QUEUED, "2 + 2 would go over a capacity of 3"
    assert public.assigned_agent == ana and public.weight == 1
    assert load_of(ana) == 3


@pytest.fixture
def pull_queue(db: None) -> Queue:
    return Queue.objects.create(name="Self-service", mode=RoutingMode.PULL)


@pytest.mark.django_db
def test_items_in_a_pull_queue_are_never_pushed(
    make_post: Callable[..., InboundPost], queue: Queue, pull_queue: Queue
) -> None:
    make_agent("ana")
    for _ in range(3):
        queued_in(pull_queue, make_post())

    assert do_route_queued().assigned == 0
    assert Conversation.objects.filter(state=S.QUEUED, queue=pull_queue).count() == 3


@pytest.mark.django_db
def test_get_next_hands_the_agent_the_most_urgent_item_they_may_take(
    make_post: Callable[..., InboundPost], queue: Queue, pull_queue: Queue
) -> None:
    legal = Skill.objects.create(name="legal")
    ana = make_agent("ana", capacity=2)
    lawyer = make_agent("lawyer", skills={legal: 5})
    needs_legal = queued_in(pull_queue, make_post(), priority=90, skills={legal: 5})
    urgent = queued_in(pull_queue, make_post(), priority=70)
    normal = queued_in(pull_queue, make_post(), priority=50)
    low = queued_in(pull_queue, make_post(), priority=10)
    queued_in(queue, make_post(), priority=100)  # a push queue's item is the router's, not pulled

    assert do_get_next(ana.pk) == urgent.pk, "the legal item needs a skill Ana lacks"
    assert do_get_next(ana.pk) == normal.pk
    assert do_get_next(ana.pk) is None, "Ana is at her capacity of 2"
    assert do_get_next(lawyer.pk) == needs_legal.pk

    urgent.refresh_from_db()
    assert urgent.state == S.ASSIGNED and urgent.assigned_agent == ana
    reason = Event.objects.get(conversation=urgent, kind=EventKind.ASSIGNED).data["reason"]
    assert reason["why"] == "pulled by the agent (get next)"
    low.refresh_from_db()
    assert low.state == S.QUEUED


@pytest.mark.django_db
def test_get_next_counts_the_channel_weight(
    make_post: Callable[..., InboundPost], queue: Queue, pull_queue: Queue
) -> None:
    ChannelWeight.objects.create(channel=Channel.X_DM, weight=2)
    ana = make_agent("ana", capacity=1)
    queued_in(pull_queue, make_post(channel=Channel.X_DM), priority=90)
    public = queued_in(pull_queue, make_post(), priority=10)

    assert do_get_next(ana.pk) == public.pk, "the DM weighs 2, more than Ana's capacity"
    assert do_get_next(ana.pk) is None


# --- Routers racing (PostgreSQL) ----------------------------------------------------------------

ROUTERS = 4
ITEMS = 300
AGENTS = 20
CAPACITY = 10


def _route_until_nothing_moves(barrier: Any, results: Any) -> None:
    """One router process: passes of 50 until a pass neither assigns nor loses anything to a rival."""
    connections.close_all()  # never share the parent's socket
    try:
        barrier.wait(timeout=30)
        assigned = 0
        for _ in range(200):
            stats = engine.route(limit=50)
            assigned += stats.assigned
            if stats.assigned == 0 and stats.dropped_at_commit == 0:
                break
        results.put(("ok", assigned))
    except BaseException:  # noqa: BLE001 - reported to the test process
        results.put(("error", traceback.format_exc()))
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_routers_running_at_once_never_assign_twice_or_overfill_an_agent(
    settings: Any, make_post: Callable[..., InboundPost], queue: Queue
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so routers cannot race")
    settings.CELERY_TASK_ALWAYS_EAGER = True  # presence changes request a pass in this process, before any item
    ChannelWeight.objects.create(channel=Channel.X_DM, weight=2)
    agents = [make_agent(f"agent{number:02d}", capacity=CAPACITY) for number in range(AGENTS)]
    do_capture_posts(
        [
            (
                make_post(channel=Channel.X_DM if number % 3 == 0 else Channel.X_PUBLIC, author_id=f"c{number}"),
                Triage(priority=(number * 37) % 100, queue_id=queue.pk),
            )
            for number in range(ITEMS)
        ]
    )
    assert Conversation.objects.filter(state=S.QUEUED).count() == ITEMS

    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(ROUTERS), context.Queue()
    connections.close_all()  # each child opens its own connection
    routers = [context.Process(target=_route_until_nothing_moves, args=(barrier, results)) for _ in range(ROUTERS)]
    for router in routers:
        router.start()
    outcomes = [results.get(timeout=60) for _ in routers]
    for router in routers:
        router.join(timeout=10)
    assert [router.exitcode for router in routers] == [0] * ROUTERS
    errors = [detail for status, detail in outcomes if status == "error"]
    assert not errors, errors[0]
    assigned_by_routers = sum(count for _, count in outcomes)
    assert assigned_by_routers == Conversation.objects.filter(state=S.ASSIGNED).count() > 0

    do_route_queued()  # a last sweep fills whatever room a router gave up on

    twice = Event.objects.filter(kind=EventKind.ASSIGNED).values("conversation").annotate(n=Count("id")).filter(n__gt=1)
    assert not twice.exists(), "a conversation was assigned more than once"
    assigned = {
        event.conversation_id: event.agent_id
        for event in Event.objects.filter(kind=EventKind.ASSIGNED).only("conversation_id", "agent_id")
    }
    holding = dict(Conversation.objects.filter(state=S.ASSIGNED).values_list("pk", "assigned_agent_id"))
    assert holding == assigned, "every assignment in the ledger matches the conversation's own state"
    loads = dict(
        Conversation.objects.filter(state__in=(S.ASSIGNED, S.WAITING))
        .values("assigned_agent")
        .annotate(load=Sum("weight"))
        .values_list("assigned_agent", "load")
    )
    capacities = dict(AgentProfile.objects.values_list("user_id", "capacity"))
    assert all(load <= capacities[agent_id] for agent_id, load in loads.items()), loads
    # Public items (weight 1) are still waiting, so every agent must be full to the last unit.
    assert Conversation.objects.filter(state=S.QUEUED, channel=Channel.X_PUBLIC).exists()
    assert [loads.get(user.pk) for user in agents] == [CAPACITY] * AGENTS
