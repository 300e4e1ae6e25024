"""The state machine: every transition from every state, allowed or refused, and its ledger row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from core.actions import (
    check_reopen_conversation,
    do_abandon_conversation,
    do_assign_conversation,
    do_close_conversation,
    do_queue_conversation,
    do_record_reply,
    do_resolve_conversation,
    do_transfer_to_agent,
    do_transfer_to_queue,
    do_transition,
)
from core.errors import Conflict
from core.models import Conversation, Event, EventKind, Message
from core.models import ConversationState as S
from routing.models import Queue
from tests.states import PATH, conversation_in_state


@pytest.fixture
def actions(queue: Queue, agent: Any, other_agent: Any, supervisor: Any) -> dict[str, Callable[[Conversation], Any]]:
    billing = Queue.objects.create(name="Billing", sla_policy=queue.sla_policy)
    return {
        "queue": lambda c: do_queue_conversation(c, queue),
        "assign": lambda c: do_assign_conversation(c, agent),
        "transfer_to_agent": lambda c: do_transfer_to_agent(c, other_agent, actor=supervisor, reason="billing"),
        "transfer_to_queue": lambda c: do_transfer_to_queue(c, billing, actor=agent, reason="billing question"),
        "reply": lambda c: do_record_reply(c, agent, "Sorry about that, checking now."),
        "customer_reply": lambda c: do_transition(c, "customer_reply", at=timezone.now()),
        "resolve": lambda c: do_resolve_conversation(c, actor=agent, disposition="answered"),
        "reopen": lambda c: check_reopen_conversation(supervisor, c, reason="customer called"),
        "close": lambda c: do_close_conversation(c),
        "abandon": lambda c: do_abandon_conversation(c, reason="post deleted"),
    }


# The state machine as the requirement states it, written out: each transition, the states it may
# start from, where it ends and the ledger row it writes. Every other (transition, state) pair is refused.
EDGES: dict[str, tuple[set[str], str, str]] = {
    "queue": ({S.NEW}, S.QUEUED, EventKind.QUEUED),
    "assign": ({S.QUEUED}, S.ASSIGNED, EventKind.ASSIGNED),
    "transfer_to_agent": ({S.ASSIGNED, S.WAITING}, S.ASSIGNED, EventKind.TRANSFERRED),
    "transfer_to_queue": ({S.ASSIGNED, S.WAITING, S.QUEUED}, S.QUEUED, EventKind.TRANSFERRED),
    "reply": ({S.ASSIGNED, S.WAITING}, S.WAITING, EventKind.REPLY),
    "customer_reply": ({S.WAITING}, S.ASSIGNED, EventKind.CUSTOMER_REPLY),
    "resolve": ({S.NEW, S.QUEUED, S.ASSIGNED, S.WAITING}, S.RESOLVED, EventKind.RESOLVED),
    "reopen": ({S.RESOLVED}, S.QUEUED, EventKind.REOPENED),
    "close": ({S.RESOLVED}, S.CLOSED, EventKind.CLOSED),
    "abandon": ({S.NEW, S.QUEUED, S.ASSIGNED}, S.CLOSED, EventKind.ABANDONED),
}

CASES = [(name, state) for name in EDGES for state in PATH]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "state"), CASES, ids=[f"{n}-from-{s}" for n, s in CASES])
def test_transition_is_allowed_exactly_from_its_source_states(
    name: str, state: str, actions: dict[str, Callable[[Conversation], Any]], make_post: Any, queue: Queue, agent: Any
) -> None:
    sources, target, event = EDGES[name]
    conversation = conversation_in_state(state, make_post(), queue=queue, agent=agent)
    events_before = Event.objects.count()
    messages_before = Message.objects.count()

    if state in sources:
        actions[name](conversation)
        conversation.refresh_from_db()
        assert conversation.state == target
        kinds = list(Event.objects.order_by("id").values_list("kind", flat=True)[events_before:])
        assert event in kinds
    else:
        with pytest.raises(Conflict) as refused:
            actions[name](conversation)
        assert state in refused.value.message
        conversation.refresh_from_db()
        assert conversation.state == state
        assert Event.objects.count() == events_before, "a refused transition writes no ledger row"
        assert Message.objects.count() == messages_before, "a refused reply stores no message"


@pytest.mark.django_db
def test_the_happy_path_writes_one_ledger_row_per_step(make_post: Any, queue: Queue, agent: Any) -> None:
    conversation = conversation_in_state(S.CLOSED, make_post(), queue=queue, agent=agent)
    kinds = list(conversation.events.order_by("id").values_list("kind", flat=True))
    assert kinds == [
        EventKind.CAPTURED,
        EventKind.QUEUED,
        EventKind.ASSIGNED,
        EventKind.REPLY,
        EventKind.FIRST_RESPONSE,
        EventKind.RESOLVED,
        EventKind.CLOSED,
    ]
    assert conversation.closed_at is not None and conversation.assigned_agent is None


@pytest.mark.django_db
def test_ledger_rows_carry_the_durations_they_close(make_post: Any, queue: Queue, agent: Any) -> None:
    start = timezone.now()
    post = make_post(sent_at=start - timezone.timedelta(seconds=60))
    conversation = conversation_in_state(S.NEW, post, queue=queue, agent=agent)
    do_queue_conversation(conversation, queue, at=start + timezone.timedelta(seconds=5))
    do_assign_conversation(conversation, agent, at=start + timezone.timedelta(seconds=65))
    do_record_reply(conversation, agent, "On it", at=start + timezone.timedelta(seconds=125))
    do_resolve_conversation(
        conversation, actor=agent, disposition="answered", at=start + timezone.timedelta(seconds=300)
    )

    values = dict(conversation.events.values_list("kind", "value_seconds"))
    assert values[EventKind.ASSIGNED] == pytest.approx(60)  # queued → assigned
    assert values[EventKind.REPLY] == pytest.approx(185)  # the customer's wait since posting
    assert values[EventKind.FIRST_RESPONSE] == pytest.approx(120)  # queue entry → first reply
    first = conversation.events.get(kind=EventKind.FIRST_RESPONSE)
    assert first.data["since_post_seconds"] == pytest.approx(185)
    assert first.agent == agent and first.queue == queue and first.channel == conversation.channel


@pytest.mark.django_db
def test_queueing_sets_the_first_response_due_time_from_the_queue_sla(make_post: Any, queue: Queue, agent: Any) -> None:
    sent_at = timezone.now() - timezone.timedelta(minutes=10)
    conversation = conversation_in_state(S.QUEUED, make_post(sent_at=sent_at), queue=queue, agent=agent)
    assert conversation.waiting_since == sent_at
    assert conversation.first_response_due == sent_at + timezone.timedelta(seconds=3600)


@pytest.mark.django_db
def test_first_response_is_recorded_once(make_post: Any, queue: Queue, agent: Any) -> None:
    conversation = conversation_in_state(S.WAITING, make_post(), queue=queue, agent=agent)
    first_at = conversation.first_response_at
    do_record_reply(conversation, agent, "One more thing")
    conversation.refresh_from_db()
    assert conversation.first_response_at == first_at
    assert conversation.events.filter(kind=EventKind.FIRST_RESPONSE).count() == 1
    assert conversation.events.filter(kind=EventKind.REPLY).count() == 2


@pytest.mark.django_db
def test_two_racing_assignments_give_the_item_to_one_agent(
    make_post: Any, queue: Queue, agent: Any, other_agent: Any
) -> None:
    conversation = conversation_in_state(S.QUEUED, make_post(), queue=queue, agent=agent)
    stale_copy = Conversation.objects.get(pk=conversation.pk)
    do_assign_conversation(conversation, agent)
    with pytest.raises(Conflict):
        do_assign_conversation(stale_copy, other_agent)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent
    assert conversation.events.filter(kind=EventKind.ASSIGNED).count() == 1


@pytest.mark.django_db
def test_transfer_to_the_same_agent_is_refused(make_post: Any, queue: Queue, agent: Any) -> None:
    from core.errors import Invalid

    conversation = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)
    with pytest.raises(Invalid):
        do_transfer_to_agent(conversation, agent, actor=agent)


@pytest.mark.django_db
def test_a_blank_reply_is_refused_and_nothing_is_stored(make_post: Any, queue: Queue, agent: Any) -> None:
    from core.errors import Invalid

    conversation = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)
    with pytest.raises(Invalid):
        do_record_reply(conversation, agent, "   ")
    assert conversation.messages.count() == 1
