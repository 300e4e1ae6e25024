"""The router's choice: who may take an item (eligibility), who is best (score), which item goes first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model

from agents.actions import do_create_user, do_set_agent_skill, do_set_presence
from agents.models import Presence
from core.actions import do_assign_conversation, do_resolve_conversation
from core.capture import do_capture_post
from core.models import Channel, Conversation, Event, EventKind
from core.models import ConversationState as S
from core.posts import InboundPost, Triage
from core.roles import AGENT
from routing import engine
from routing.models import ChannelWeight, Queue, QueueSkill, Skill

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def billing(db: None) -> Skill:
    return Skill.objects.create(name="billing")


@pytest.fixture
def spanish(db: None) -> Skill:
    return Skill.objects.create(name="spanish")


def make_agent(
    username: str, *, skills: dict[Skill, int] | None = None, capacity: int = 10, presence: str = Presence.AVAILABLE
) -> Any:
    user = do_create_user(username, f"pw-{username}-12345", role=AGENT, capacity=capacity)
    for skill, level in (skills or {}).items():
        do_set_agent_skill(user.agent_profile, skill.pk, level)
    if presence != Presence.OFFLINE:
        do_set_presence(user.agent_profile, presence, reason="break" if presence == Presence.AWAY else "")
    return user


def queued(
    post: InboundPost,
    queue: Queue,
    *,
    priority: int = 50,
    skills: dict[Skill, int] | None = None,
    due: datetime | None = None,
    at: datetime | None = None,
) -> Conversation:
    """A captured post placed straight in ``queue``, as the pipeline places it."""
    triage = Triage(
        priority=priority,
        queue_id=queue.pk,
        skills=tuple((skill.pk, level) for skill, level in (skills or {}).items()),
        first_response_due=due,
    )
    conversation = do_capture_post(post, triage, at=at).conversation
    assert conversation is not None and conversation.state == S.QUEUED
    return conversation


def holder(conversation: Conversation) -> Any:
    conversation.refresh_from_db()
    return conversation.assigned_agent


def reason_for(conversation: Conversation) -> dict[str, Any]:
    return Event.objects.get(conversation=conversation, kind=EventKind.ASSIGNED).data["reason"]


def test_busy_away_and_offline_agents_never_get_work(make_post: Callable[..., InboundPost], queue: Queue) -> None:
    make_agent("busy", presence=Presence.BUSY)
    make_agent("away", presence=Presence.AWAY)
    make_agent("offline", presence=Presence.OFFLINE)
    gone = make_agent("gone")
    get_user_model().objects.filter(pk=gone.pk).update(is_active=False)  # deactivated, still marked available
    conversation = queued(make_post(), queue)

    stats = engine.route()

    assert stats.assigned == 0 and stats.no_room  # none of them counts as room
    assert holder(conversation) is None and conversation.state == S.QUEUED

    ready = make_agent("ready")
    assert engine.route().assigned == 1
    assert holder(conversation) == ready


def test_an_agent_needs_every_required_skill_at_or_above_its_level(
    make_post: Callable[..., InboundPost], queue: Queue, billing: Skill, spanish: Skill
) -> None:
    make_agent("too_junior", skills={billing: 4, spanish: 9})
    make_agent("no_spanish", skills={billing: 9})
    exact = make_agent("exact", skills={billing: 5, spanish: 3})
    conversation = queued(make_post(), queue, skills={billing: 5, spanish: 3})

    engine.route()

    assert holder(conversation) == exact
    assert reason_for(conversation)["eligible"] == 1


def test_an_agent_needs_capacity_left_for_the_channel_weight(
    make_post: Callable[..., InboundPost], queue: Queue
) -> None:
    ChannelWeight.objects.create(channel=Channel.X_DM, weight=3)
    small = make_agent("small", capacity=2)
    big = make_agent("big", capacity=3)
    direct_message = queued(make_post(channel=Channel.X_DM), queue, priority=90)
    public_reply = queued(make_post(), queue, priority=10)

    engine.route()

    assert holder(direct_message) == big and direct_message.weight == 3
    assert reason_for(direct_message)["eligible"] == 1, "the small agent has no room for a weight of 3"
    assert holder(public_reply) == small, "the big agent is full after the DM"
    assert public_reply.weight == 1


def test_queue_skills_and_the_conversations_own_skills_are_both_required(
    make_post: Callable[..., InboundPost], queue: Queue, billing: Skill, spanish: Skill
) -> None:
    QueueSkill.objects.create(queue=queue, skill=spanish, min_level=3)
    QueueSkill.objects.create(queue=queue, skill=billing, min_level=2)
    make_agent("queue_skill_only", skills={spanish: 9})
    make_agent("own_skill_only", skills={billing: 9})
    make_agent("billing_too_low", skills={spanish: 9, billing: 5})
    both = make_agent("both", skills={spanish: 3, billing: 6})
    conversation = queued(make_post(), queue, skills={billing: 6})

    engine.route()

    assert holder(conversation) == both
    assert reason_for(conversation)["requirements"] == {str(billing.pk): 6, str(spanish.pk): 3}, (
        "the higher of the queue's and the conversation's levels counts"
    )


def test_the_higher_skill_match_wins_even_over_a_less_occupied_agent(
    make_post: Callable[..., InboundPost], queue: Queue, billing: Skill
) -> None:
    expert = make_agent("expert", skills={billing: 9})
    make_agent("novice", skills={billing: 5})
    do_assign_conversation(queued(make_post(), queue), expert)
    conversation = queued(make_post(), queue, skills={billing: 1})

    engine.route()

    assert holder(conversation) == expert
    top = reason_for(conversation)["top"]
    assert [(c["skill_match"], c["occupancy"]) for c in top] == [(9, 0.1), (5, 0.0)]


def test_among_equal_skill_matches_the_least_occupied_agent_wins(
    make_post: Callable[..., InboundPost], queue: Queue
) -> None:
    roomy = make_agent("roomy", capacity=10)
    small = make_agent("small", capacity=4)
    tiny = make_agent("tiny", capacity=2)
    for owner, count in ((roomy, 2), (small, 1), (tiny, 1)):
        for _ in range(count):
            do_assign_conversation(queued(make_post(), queue), owner)
    conversation = queued(make_post(), queue)

    engine.route()

    assert holder(conversation) == roomy, "2 of 10 is less occupied than 1 of 4 or 1 of 2"
    assert [c["agent_id"] for c in reason_for(conversation)["top"]] == [roomy.pk, small.pk, tiny.pk]


def test_then_the_longest_idle_agent_wins_and_the_never_assigned_come_first(
    make_post: Callable[..., InboundPost], queue: Queue, clock: time_machine.Traveller
) -> None:
    first, second, third = make_agent("first"), make_agent("second"), make_agent("third")
    order = []
    for _ in range(4):
        conversation = queued(make_post(), queue)
        engine.route()
        owner = holder(conversation)
        order.append(owner)
        do_resolve_conversation(conversation, actor=owner, disposition="answered")
        clock.shift(timedelta(minutes=5))

    # Nobody holds anything between rounds, so only idleness (then id) decides.
    assert order == [first, second, third, first]


def test_ties_go_to_the_lowest_id_on_every_run(make_post: Callable[..., InboundPost], queue: Queue) -> None:
    agents = [make_agent(name) for name in ("zoe", "yan", "xia", "wes")]
    conversation = queued(make_post(), queue)
    item = engine.Item(
        id=conversation.pk,
        queue_id=queue.pk,
        channel=conversation.channel,
        priority=conversation.priority,
        queued_at=conversation.queued_at,
        preferred_agent_id=None,
    )

    decisions = []
    for _ in range(5):
        chosen, reason = engine.decide(item, engine.Snapshot.load(), engine.QueueRules.load(), NOW)
        assert chosen is not None
        decisions.append((chosen.user_id, [c["agent_id"] for c in reason["top"]]))

    assert decisions == [(agents[0].pk, [a.pk for a in agents[:3]])] * 5


def test_items_go_out_by_priority_then_due_time_then_age(
    make_post: Callable[..., InboundPost], queue: Queue, clock: time_machine.Traveller
) -> None:
    make_agent("solo", capacity=1)
    start = NOW - timedelta(hours=1)
    by_name = {
        "normal, due last": queued(make_post(), queue, priority=50, due=NOW + timedelta(hours=3), at=start),
        "urgent": queued(
            make_post(), queue, priority=80, due=NOW + timedelta(hours=3), at=start + timedelta(minutes=30)
        ),
        "normal, due first": queued(
            make_post(), queue, priority=50, due=NOW + timedelta(hours=1), at=start + timedelta(minutes=20)
        ),
        "normal, due second, older": queued(
            make_post(), queue, priority=50, due=NOW + timedelta(hours=2), at=start + timedelta(minutes=10)
        ),
        "normal, due second, newer": queued(
            make_post(), queue, priority=50, due=NOW + timedelta(hours=2), at=start + timedelta(minutes=40)
        ),
    }
    names = {conversation.pk: name for name, conversation in by_name.items()}

    served = []
    for _ in by_name:
        assert engine.route().assigned == 1, "one at a time: the agent has room for one"
        conversation = Conversation.objects.get(state=S.ASSIGNED)
        served.append(names[conversation.pk])
        do_resolve_conversation(conversation, actor=conversation.assigned_agent, disposition="answered")

    assert served == [
        "urgent",
        "normal, due first",
        "normal, due second, older",
        "normal, due second, newer",
        "normal, due last",
    ]


def test_the_assigned_ledger_row_says_why(
    make_post: Callable[..., InboundPost], queue: Queue, billing: Skill, clock: time_machine.Traveller
) -> None:
    make_agent("untrained")
    strong = make_agent("strong", skills={billing: 8})
    medium = make_agent("medium", skills={billing: 6})
    weak = make_agent("weak", skills={billing: 3})
    make_agent("weakest", skills={billing: 2})
    conversation = queued(make_post(), queue, skills={billing: 2}, at=NOW - timedelta(seconds=90))

    engine.route()

    event = Event.objects.get(conversation=conversation, kind=EventKind.ASSIGNED)
    assert event.agent == strong and event.value_seconds == 90, "the wait in queue"
    reason = event.data["reason"]
    assert reason["eligible"] == 4, "everyone but the untrained agent"
    assert reason["why"] == "best skill match, then least occupied, then longest idle"
    assert reason["requirements"] == {str(billing.pk): 2} and reason["weight"] == 1 and reason["overflow"] == []
    assert reason["top"] == [
        {"agent_id": strong.pk, "skill_match": 8, "occupancy": 0.0},
        {"agent_id": medium.pk, "skill_match": 6, "occupancy": 0.0},
        {"agent_id": weak.pk, "skill_match": 3, "occupancy": 0.0},
    ]
