"""Agent presence (its log, heartbeats, timeouts) and the SLA watch (at risk, breached, breach steps)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from agents.actions import do_heartbeat, do_set_presence, do_time_out_silent_agents
from agents.models import AgentProfile, Presence, PresenceChange
from core.actions import (
    do_assign_conversation,
    do_record_reply,
    do_transfer_to_agent,
    do_transfer_to_queue,
)
from core.errors import Invalid
from core.models import Conversation, Event, EventKind, SLAStatus
from core.models import ConversationState as S
from core.posts import InboundPost
from monitoring.pipeline import ingest
from routing.actions import do_route_queued
from routing.models import BreachAction, Queue, RoutingRule
from routing.sla_watch import do_watch_sla

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db

MakePost = Callable[..., InboundPost]


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def inline_tasks(settings: Any) -> None:
    """Routing requested after a commit runs at once, also when a Redis broker is configured."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


def profile_of(user: Any) -> AgentProfile:
    return AgentProfile.objects.get(user=user)


def captured(make_post: MakePost, **fields: Any) -> Conversation:
    """A customer's post, captured and queued by the pipeline (the ``queue`` fixture is the default)."""
    post = make_post(**fields)
    ingest([post])
    return Conversation.objects.get(thread_key=post.thread_key)


# --- Presence -----------------------------------------------------------------------------------


def test_every_presence_change_is_logged_with_the_state_it_ends_and_how_long_it_lasted(
    clock: time_machine.Traveller, agent: Any
) -> None:
    clock.shift(100)
    do_set_presence(agent.agent_profile, Presence.AVAILABLE)
    clock.shift(250)
    do_set_presence(agent.agent_profile, Presence.AWAY, reason="lunch")
    do_set_presence(agent.agent_profile, Presence.AWAY, reason="lunch")  # no change, no row
    clock.shift(30)
    do_set_presence(agent.agent_profile, Presence.OFFLINE, cause="logout")

    changes = list(
        PresenceChange.objects.filter(agent=agent.agent_profile).values_list(
            "previous", "previous_seconds", "presence", "reason", "cause"
        )
    )
    assert changes == [
        (Presence.OFFLINE, 100.0, Presence.AVAILABLE, "", "agent"),
        (Presence.AVAILABLE, 250.0, Presence.AWAY, "lunch", "agent"),
        (Presence.AWAY, 30.0, Presence.OFFLINE, "", "logout"),
    ]
    profile = profile_of(agent)
    assert profile.presence == Presence.OFFLINE and profile.presence_since == NOW + timedelta(seconds=380)


@pytest.mark.parametrize("reason", ["", "nap"])
def test_away_needs_a_known_reason(agent: Any, reason: str) -> None:
    with pytest.raises(Invalid, match="Away needs a reason"):
        do_set_presence(agent.agent_profile, Presence.AWAY, reason=reason)

    assert profile_of(agent).presence == Presence.OFFLINE
    assert not PresenceChange.objects.exists()


def test_an_agent_becoming_available_is_routed_waiting_work(
    make_post: MakePost,
    queue: Queue,
    agent: Any,
    inline_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    conversation = captured(make_post)
    assert conversation.state == S.QUEUED

    with django_capture_on_commit_callbacks(execute=True):
        do_set_presence(agent.agent_profile, Presence.AVAILABLE)

    conversation.refresh_from_db()
    assert conversation.state == S.ASSIGNED and conversation.assigned_agent == agent


# --- Heartbeats -----------------------------------------------------------------------------------


@pytest.fixture
def ana_holds_work(
    clock: time_machine.Traveller, make_post: MakePost, queue: Queue, agent: Any
) -> tuple[Conversation, Conversation]:
    """Ana is online with one conversation assigned and one waiting on its customer."""
    do_set_presence(agent.agent_profile, Presence.AVAILABLE)
    do_heartbeat(agent.agent_profile)
    assigned, answered = captured(make_post), captured(make_post)
    do_route_queued()
    answered.refresh_from_db()
    do_record_reply(answered, agent, "Could you send a screenshot?")
    assigned.refresh_from_db()
    assert assigned.state == S.ASSIGNED and assigned.assigned_agent == agent
    return assigned, answered


def test_a_silent_agent_goes_offline_and_their_assigned_work_waits_for_them_in_the_queue(
    ana_holds_work: tuple[Conversation, Conversation],
    agent: Any,
    other_agent: Any,
    queue: Queue,
    settings: Any,
    clock: time_machine.Traveller,
) -> None:
    assigned, answered = ana_holds_work
    clock.shift(settings.AGENT_HEARTBEAT_TIMEOUT_SECONDS)
    assert do_time_out_silent_agents() == [], "silent for exactly the timeout: not yet"

    clock.shift(1)
    assert do_time_out_silent_agents() == [agent.pk]

    assert profile_of(agent).presence == Presence.OFFLINE
    change = PresenceChange.objects.filter(agent=agent.agent_profile).latest("id")
    assert (change.previous, change.presence, change.cause) == (Presence.AVAILABLE, Presence.OFFLINE, "timeout")
    assigned.refresh_from_db()
    assert assigned.state == S.QUEUED and assigned.assigned_agent is None
    assert assigned.preferred_agent == agent and assigned.last_agent == agent
    transfer = Event.objects.get(conversation=assigned, kind=EventKind.TRANSFERRED)
    assert transfer.data["from_agent_id"] == agent.pk and transfer.data["reason"] == "agent timed out"
    answered.refresh_from_db()
    assert answered.state == S.WAITING and answered.assigned_agent == agent, "only assigned work is re-routed"

    do_set_presence(other_agent.agent_profile, Presence.AVAILABLE)
    assert do_route_queued().waiting_for_agent == 1, "it waits a while in case Ana comes straight back"
    clock.shift(queue.sticky_wait_seconds)
    do_route_queued()
    assigned.refresh_from_db()
    assert assigned.assigned_agent == other_agent


def test_work_stays_with_a_timed_out_agent_when_the_queue_says_so(
    ana_holds_work: tuple[Conversation, Conversation],
    agent: Any,
    queue: Queue,
    settings: Any,
    clock: time_machine.Traveller,
) -> None:
    Queue.objects.filter(pk=queue.pk).update(requeue_on_agent_timeout=False)
    assigned, _ = ana_holds_work
    clock.shift(settings.AGENT_HEARTBEAT_TIMEOUT_SECONDS + 1)

    assert do_time_out_silent_agents() == [agent.pk]

    assigned.refresh_from_db()
    assert assigned.state == S.ASSIGNED and assigned.assigned_agent == agent


def test_agents_who_never_sent_a_heartbeat_or_sent_one_recently_are_not_timed_out(
    clock: time_machine.Traveller, agent: Any, other_agent: Any, supervisor: Any, settings: Any
) -> None:
    do_set_presence(agent.agent_profile, Presence.AVAILABLE)  # an integration: no browser, no heartbeat
    do_set_presence(other_agent.agent_profile, Presence.AVAILABLE)
    do_heartbeat(other_agent.agent_profile)
    do_heartbeat(supervisor.agent_profile)  # offline already: nothing to time out
    clock.shift(settings.AGENT_HEARTBEAT_TIMEOUT_SECONDS - 10)
    do_heartbeat(other_agent.agent_profile)
    clock.shift(20)

    assert do_time_out_silent_agents() == []
    assert profile_of(agent).presence == Presence.AVAILABLE
    assert profile_of(other_agent).presence == Presence.AVAILABLE


# --- SLA watch ------------------------------------------------------------------------------------
# The default queue's policy: first response within 3600 s, at risk from 75 % (2700 s).


def ledger(conversation: Conversation, kind: str) -> list[Event]:
    return list(Event.objects.filter(conversation=conversation, kind=kind))


def test_an_item_is_at_risk_after_the_warning_share_then_breached_after_its_due_time(
    make_post: MakePost, queue: Queue, clock: time_machine.Traveller
) -> None:
    conversation = captured(make_post, sent_at=NOW)
    assert conversation.first_response_due == NOW + timedelta(seconds=3600)
    start_priority = conversation.priority

    assert do_watch_sla(now=NOW + timedelta(seconds=2699)) == 0
    assert do_watch_sla(now=NOW + timedelta(seconds=2700)) == 1
    assert do_watch_sla(now=NOW + timedelta(seconds=2800)) == 0, "already at risk"
    conversation.refresh_from_db()
    assert conversation.sla_status == SLAStatus.AT_RISK and conversation.priority == start_priority + 10
    (at_risk,) = ledger(conversation, EventKind.SLA_AT_RISK)
    assert at_risk.value_seconds == 2700 and at_risk.data["priority"] == start_priority + 10

    assert do_watch_sla(now=NOW + timedelta(seconds=3600)) == 1
    assert do_watch_sla(now=NOW + timedelta(seconds=7200)) == 0, "a breach is marked once"
    conversation.refresh_from_db()
    assert conversation.sla_status == SLAStatus.BREACHED and conversation.priority == start_priority + 30
    (breached,) = ledger(conversation, EventKind.SLA_BREACHED)
    assert breached.data == {"due": (NOW + timedelta(seconds=3600)).isoformat(), "priority": start_priority + 30}


def test_raised_priority_stops_at_100(make_post: MakePost, queue: Queue, clock: time_machine.Traveller) -> None:
    RoutingRule.objects.create(name="Plain questions", queue=queue, priority_boost=65)
    conversation = captured(make_post, text="A question about my plan", followers=0, sent_at=NOW)
    assert conversation.priority == 95

    do_watch_sla(now=NOW + timedelta(seconds=2700))
    conversation.refresh_from_db()
    assert conversation.priority == 100
    do_watch_sla(now=NOW + timedelta(seconds=3600))
    conversation.refresh_from_db()
    assert conversation.priority == 100 and conversation.sla_status == SLAStatus.BREACHED


def test_a_breach_in_an_escalating_queue_escalates(
    make_post: MakePost, queue: Queue, clock: time_machine.Traveller
) -> None:
    assert queue.breach_action == BreachAction.ESCALATE
    conversation = captured(make_post, sent_at=NOW)

    do_watch_sla(now=NOW + timedelta(seconds=3600))

    conversation.refresh_from_db()
    assert conversation.escalated and conversation.state == S.QUEUED
    (escalated,) = ledger(conversation, EventKind.ESCALATED)
    assert escalated.data == {"reason": "SLA breached"}


def test_a_breach_in_a_moving_queue_moves_a_queued_item_to_the_breach_queue(
    make_post: MakePost, queue: Queue, agent: Any, clock: time_machine.Traveller
) -> None:
    overflow = Queue.objects.create(name="Overflow")
    Queue.objects.filter(pk=queue.pk).update(breach_action=BreachAction.MOVE, breach_queue=overflow)
    waiting = captured(make_post, sent_at=NOW)
    held = captured(make_post, sent_at=NOW)
    do_assign_conversation(held, agent)

    assert do_watch_sla(now=NOW + timedelta(seconds=3600)) == 2

    waiting.refresh_from_db()
    assert waiting.queue == overflow and waiting.state == S.QUEUED and not waiting.escalated
    (moved,) = ledger(waiting, EventKind.TRANSFERRED)
    assert (moved.data["from_queue_id"], moved.data["to_queue_id"]) == (queue.pk, overflow.pk)
    assert moved.data["reason"] == "SLA breached"
    held.refresh_from_db()
    assert held.queue == queue and held.assigned_agent == agent, "an agent already has it: it stays"
    assert held.sla_status == SLAStatus.BREACHED and not ledger(held, EventKind.TRANSFERRED)


def test_a_reply_sets_the_sla_status_back_to_ok(
    make_post: MakePost, queue: Queue, agent: Any, clock: time_machine.Traveller
) -> None:
    conversation = captured(make_post, sent_at=NOW)
    do_assign_conversation(conversation, agent)
    do_watch_sla(now=NOW + timedelta(seconds=2700))
    conversation.refresh_from_db()
    assert conversation.sla_status == SLAStatus.AT_RISK

    clock.shift(2800)
    do_record_reply(conversation, agent, "Sorry for the wait, looking now.")

    conversation.refresh_from_db()
    assert conversation.sla_status == SLAStatus.OK and conversation.waiting_since is None
    assert do_watch_sla(now=NOW + timedelta(days=1)) == 0, "nobody is waiting on us"


def test_the_next_response_is_watched_once_the_customer_writes_again(
    make_post: MakePost, queue: Queue, agent: Any, clock: time_machine.Traveller
) -> None:
    post = make_post(sent_at=NOW)
    ingest([post])
    conversation = Conversation.objects.get()
    do_assign_conversation(conversation, agent)
    do_record_reply(conversation, agent, "Which model is it?")
    clock.shift(600)
    ingest([make_post(thread_key=post.thread_key, text="The X200", sent_at=NOW + timedelta(seconds=600))])

    conversation.refresh_from_db()
    assert conversation.state == S.ASSIGNED
    assert conversation.next_response_due == NOW + timedelta(seconds=600 + 1800)
    assert do_watch_sla(now=NOW + timedelta(seconds=600 + 1349)) == 0
    assert do_watch_sla(now=NOW + timedelta(seconds=600 + 1350)) == 1, "75 % of the 1800 s next-response target"
    conversation.refresh_from_db()
    assert conversation.sla_status == SLAStatus.AT_RISK


# --- Transfers --------------------------------------------------------------------------------------


def test_transfers_write_the_ledger_with_where_from_and_where_to(
    make_post: MakePost, queue: Queue, agent: Any, other_agent: Any, supervisor: Any
) -> None:
    specialists = Queue.objects.create(name="Specialists")
    conversation = captured(make_post)
    do_assign_conversation(conversation, agent)

    do_transfer_to_agent(conversation, other_agent, actor=supervisor, reason="speaks German")
    do_transfer_to_queue(conversation, specialists, actor=other_agent, reason="needs a specialist")

    to_agent, to_queue = Event.objects.filter(conversation=conversation, kind=EventKind.TRANSFERRED).order_by("id")
    assert to_agent.agent == other_agent
    assert to_agent.data == {
        "from_agent_id": agent.pk,
        "to_agent_id": other_agent.pk,
        "actor_id": supervisor.pk,
        "reason": "speaks German",
    }
    assert to_queue.data == {
        "from_queue_id": queue.pk,
        "to_queue_id": specialists.pk,
        "from_agent_id": other_agent.pk,
        "actor_id": other_agent.pk,
        "reason": "needs a specialist",
    }
    conversation.refresh_from_db()
    assert conversation.state == S.QUEUED and conversation.queue == specialists
    assert conversation.last_agent == other_agent and conversation.assigned_agent is None
