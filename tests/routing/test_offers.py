"""Offer mode: the router rings the agent it would have assigned, who accepts or declines in time.

The requirements (issue 20, "Offers"): an offer-mode queue offers instead of
assigning, with the same choice of agent; capacity is reserved while the offer
rings; one offer rings per conversation and per agent; accept assigns; decline
or timeout goes to the next agent, never back to one who refused until all
have; repeated timeouts set the agent away; every step is one ledger row.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, connections
from django.db.models import Count
from django.utils import timezone

from agents.actions import do_create_user, do_set_presence
from agents.models import AgentProfile, AwayReason, Presence, PresenceChange
from contactcenter.celery import BEAT_SCHEDULE, app
from core.actions import do_assign_conversation
from core.capture import do_capture_post, do_capture_posts
from core.errors import Conflict, PermissionDenied
from core.models import Channel, Conversation, Event, EventKind
from core.models import ConversationState as S
from core.posts import InboundPost, Triage
from core.roles import AGENT
from routing import engine
from routing.actions import do_route_queued
from routing.models import ChannelWeight, Offer, OfferOutcome, Queue, RouteMode
from routing.offers import check_accept_offer, check_decline_offer, do_expire_offers

pytestmark = pytest.mark.django_db

RING = 20


def make_agent(username: str, *, capacity: int = 10) -> Any:
    user = do_create_user(username, f"pw-{username}-12345", role=AGENT, first_name=username.title(), capacity=capacity)
    do_set_presence(user.agent_profile, Presence.AVAILABLE)
    return user


@pytest.fixture
def offering(queue: Queue) -> Queue:
    queue.route_mode = RouteMode.OFFER
    queue.offer_seconds = RING
    queue.offer_timeouts_before_away = 2
    queue.save()
    return queue


def queued_in(queue: Queue, post: InboundPost) -> Conversation:
    conversation = do_capture_post(post, Triage(priority=50, queue_id=queue.pk)).conversation
    assert conversation is not None and conversation.state == S.QUEUED
    return conversation


def ringing_offer(conversation: Conversation) -> Offer:
    return Offer.objects.get(conversation=conversation, outcome=OfferOutcome.PENDING)


def ledger(conversation: Conversation, *kinds: str) -> list[tuple[str, int | None]]:
    rows = Event.objects.filter(conversation=conversation, kind__in=kinds).order_by("id")
    return list(rows.values_list("kind", "agent_id"))


OFFER_KINDS = (EventKind.OFFERED, EventKind.OFFER_ACCEPTED, EventKind.OFFER_DECLINED, EventKind.OFFER_TIMED_OUT)


def later(seconds: float) -> Any:
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds), tick=False)


# --- Offering instead of assigning ------------------------------------------------------------------


def test_an_offer_mode_queue_offers_to_the_best_agent_and_an_assign_mode_queue_still_assigns(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    ana, ben = make_agent("ana"), make_agent("ben")
    billing = Queue.objects.create(name="Billing")  # assign mode, the default
    offered = queued_in(offering, make_post(author_id="c1"))
    assigned = queued_in(billing, make_post(author_id="c2"))

    stats = do_route_queued()

    assert (stats.offered, stats.assigned) == (1, 1)
    offered.refresh_from_db()
    assert offered.state == S.QUEUED and offered.assigned_agent is None, "an offer is not an assignment"
    offer = ringing_offer(offered)
    assert offer.agent_id in (ana.pk, ben.pk)
    assert (offer.expires_at - offer.offered_at).total_seconds() == RING
    assert ledger(offered, *OFFER_KINDS, EventKind.ASSIGNED) == [(EventKind.OFFERED, offer.agent_id)]
    assigned.refresh_from_db()
    assert assigned.state == S.ASSIGNED and not Offer.objects.filter(conversation=assigned).exists()


def test_the_offer_goes_to_the_agent_the_router_would_have_assigned(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    make_agent("ana")
    ben = make_agent("ben")
    # Ana was given work a moment ago; Ben never: the longest idle goes first.
    AgentProfile.objects.filter(user__username="ana").update(last_assigned_at=timezone.now())
    conversation = queued_in(offering, make_post(author_id="c1"))

    do_route_queued()

    assert ringing_offer(conversation).agent_id == ben.pk


def test_the_ringing_offer_reserves_its_weight_of_the_agents_capacity(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    ChannelWeight.objects.create(channel=Channel.X_DM, weight=2)
    ana = make_agent("ana", capacity=3)
    dm = queued_in(offering, make_post(author_id="c1", channel=Channel.X_DM))
    do_route_queued()
    assert ringing_offer(dm).agent_id == ana.pk and ringing_offer(dm).weight == 2
    billing = Queue.objects.create(name="Billing")
    fits = queued_in(billing, make_post(author_id="c2"))
    too_much = queued_in(billing, make_post(author_id="c3"))

    do_route_queued()

    # 2 reserved by the ringing DM + 1 assigned = her capacity of 3: the second item stays queued.
    states = dict(Conversation.objects.filter(pk__in=[fits.pk, too_much.pk]).values_list("pk", "state"))
    assert sorted(states.values()) == [S.ASSIGNED, S.QUEUED]
    assert engine.current_loads([ana.pk]) == {ana.pk: 3}


def test_one_offer_rings_per_agent_and_per_conversation(offering: Queue, make_post: Callable[..., InboundPost]) -> None:
    ana = make_agent("ana")
    first = queued_in(offering, make_post(author_id="c1"))
    second = queued_in(offering, make_post(author_id="c2"))

    do_route_queued()
    do_route_queued()

    assert list(Offer.objects.values_list("agent_id", "outcome")) == [(ana.pk, OfferOutcome.PENDING)]
    waiting = second if Offer.objects.filter(conversation=first).exists() else first
    assert not Offer.objects.filter(conversation=waiting).exists(), "Ana's second offer waits for her answer"


# --- Accept, decline, timeout ---------------------------------------------------------------------------


def test_accepting_assigns_the_conversation_to_the_agent(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    ana = make_agent("ana")
    conversation = queued_in(offering, make_post())
    do_route_queued()
    offer = ringing_offer(conversation)

    with later(5):
        result = check_accept_offer(ana, offer)

    assert result.pk == conversation.pk and result.state == S.ASSIGNED and result.assigned_agent_id == ana.pk
    offer.refresh_from_db()
    assert offer.outcome == OfferOutcome.ACCEPTED and offer.answered_at is not None
    rows = ledger(conversation, *OFFER_KINDS, EventKind.ASSIGNED)
    assert rows[0] == (EventKind.OFFERED, ana.pk)
    assert sorted(rows[1:]) == [(EventKind.ASSIGNED, ana.pk), (EventKind.OFFER_ACCEPTED, ana.pk)], "one row each"
    accepted = Event.objects.get(conversation=conversation, kind=EventKind.OFFER_ACCEPTED)
    assert accepted.value_seconds == pytest.approx(5, abs=0.5), "time to answer"
    assert accepted.data == {"offer": offer.pk}
    assert engine.current_loads([ana.pk]) == {ana.pk: 1}, "the reservation became the assignment"


def test_declining_offers_the_conversation_to_the_next_agent_and_round_again_once_all_refused(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    ana, ben = make_agent("ana"), make_agent("ben")
    conversation = queued_in(offering, make_post())
    do_route_queued()
    first = ringing_offer(conversation)
    first_agent = ana if first.agent_id == ana.pk else ben
    other = ben if first_agent == ana else ana

    check_decline_offer(first_agent, first)
    do_route_queued()

    second = ringing_offer(conversation)
    assert second.agent_id == other.pk, "never again to the one who declined"
    first.refresh_from_db()
    assert first.outcome == OfferOutcome.DECLINED
    check_decline_offer(other, second)
    do_route_queued()
    assert ringing_offer(conversation).agent_id in (ana.pk, ben.pk), "everyone declined: it goes round again"
    assert ledger(conversation, *OFFER_KINDS)[:4] == [
        (EventKind.OFFERED, first_agent.pk),
        (EventKind.OFFER_DECLINED, first_agent.pk),
        (EventKind.OFFERED, other.pk),
        (EventKind.OFFER_DECLINED, other.pk),
    ]


def test_an_offer_that_rings_out_goes_to_the_next_agent(offering: Queue, make_post: Callable[..., InboundPost]) -> None:
    ana, ben = make_agent("ana"), make_agent("ben")
    conversation = queued_in(offering, make_post())
    do_route_queued()
    first = ringing_offer(conversation)

    with later(RING - 1):
        assert do_expire_offers() == 0, "still ringing"
    with later(RING + 1):
        assert do_expire_offers() == 1
        do_route_queued()

    first.refresh_from_db()
    assert first.outcome == OfferOutcome.TIMED_OUT and first.answered_at is None
    assert ringing_offer(conversation).agent_id == ({ana.pk, ben.pk} - {first.agent_id}).pop()
    timed_out = Event.objects.get(conversation=conversation, kind=EventKind.OFFER_TIMED_OUT)
    assert (timed_out.agent_id, timed_out.value_seconds) == (first.agent_id, RING)


def test_an_agent_who_lets_offers_ring_out_in_a_row_is_set_away(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    ana = make_agent("ana")
    conversation = queued_in(offering, make_post())
    do_route_queued()
    with later(RING + 1):
        do_expire_offers()
        ana.agent_profile.refresh_from_db()
        assert ana.agent_profile.presence == Presence.AVAILABLE, "one missed offer is not yet a pattern"
        do_route_queued()  # she is the only agent: it rings for her again
        assert ringing_offer(conversation).agent_id == ana.pk
    with later(2 * RING + 2):
        do_expire_offers()

    ana.agent_profile.refresh_from_db()
    assert (ana.agent_profile.presence, ana.agent_profile.presence_reason) == (Presence.AWAY, AwayReason.MISSED_OFFERS)
    change = PresenceChange.objects.filter(agent=ana.agent_profile).last()
    assert change is not None and change.cause == "missed_offers"
    assert not Offer.objects.filter(outcome=OfferOutcome.PENDING).exists()
    do_route_queued()
    assert not Offer.objects.filter(outcome=OfferOutcome.PENDING).exists(), "nobody is available now"


def test_an_answered_offer_between_timeouts_breaks_the_streak(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    ana = make_agent("ana")
    first = queued_in(offering, make_post(author_id="c1"))
    do_route_queued()
    with later(RING + 1):
        do_expire_offers()  # missed one
        do_route_queued()
    offer = ringing_offer(first)
    with later(RING + 2):
        check_decline_offer(ana, offer)  # answered: the streak ends
    second = queued_in(offering, make_post(author_id="c2"))
    with later(RING + 3):
        do_route_queued()
    ringing = Offer.objects.get(outcome=OfferOutcome.PENDING)
    assert ringing.conversation_id in (first.pk, second.pk)
    with later(3 * RING):
        do_expire_offers()

    ana.agent_profile.refresh_from_db()
    assert ana.agent_profile.presence == Presence.AVAILABLE


def test_a_late_accept_is_a_conflict_and_the_offer_is_timed_out(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    ana = make_agent("ana")
    conversation = queued_in(offering, make_post())
    do_route_queued()
    offer = ringing_offer(conversation)

    with later(RING + 1), pytest.raises(Conflict, match="rang out"):
        check_accept_offer(ana, offer)

    offer.refresh_from_db()
    conversation.refresh_from_db()
    assert offer.outcome == OfferOutcome.TIMED_OUT and conversation.state == S.QUEUED
    assert ledger(conversation, *OFFER_KINDS) == [(EventKind.OFFERED, ana.pk), (EventKind.OFFER_TIMED_OUT, ana.pk)]


def test_only_the_offered_agent_may_answer_and_only_while_it_rings(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    ana = make_agent("ana")
    ben = do_create_user("ben", "pw-ben-12345", role=AGENT)  # offline: not offered anything
    conversation = queued_in(offering, make_post())
    do_route_queued()
    offer = ringing_offer(conversation)

    with pytest.raises(PermissionDenied):
        check_accept_offer(ben, offer)
    with pytest.raises(PermissionDenied):
        check_decline_offer(ben, offer)
    check_accept_offer(ana, offer)
    with pytest.raises(Conflict, match="already closed"):
        check_decline_offer(ana, offer)
    assert ledger(conversation, *OFFER_KINDS) == [(EventKind.OFFERED, ana.pk), (EventKind.OFFER_ACCEPTED, ana.pk)]


def test_an_offer_whose_conversation_left_the_queue_is_withdrawn(
    offering: Queue, make_post: Callable[..., InboundPost], supervisor: Any
) -> None:
    ana = make_agent("ana")
    conversation = queued_in(offering, make_post())
    do_route_queued()
    offer = ringing_offer(conversation)
    do_assign_conversation(conversation, supervisor)  # taken by hand while it rang

    with pytest.raises(Conflict, match="no longer waiting"):
        check_accept_offer(ana, offer)

    offer.refresh_from_db()
    assert offer.outcome == OfferOutcome.WITHDRAWN
    assert ledger(conversation, *OFFER_KINDS) == [(EventKind.OFFERED, ana.pk)], "a withdrawal is no answer"


def test_an_agent_who_leaves_while_it_rings_has_the_offer_withdrawn_for_the_next_agent(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    ana, ben = make_agent("ana"), make_agent("ben")
    conversation = queued_in(offering, make_post())
    do_route_queued()
    offer = ringing_offer(conversation)
    leaving = ana if offer.agent_id == ana.pk else ben
    staying = ben if leaving == ana else ana

    do_set_presence(leaving.agent_profile, Presence.AWAY, reason=AwayReason.LUNCH)
    do_route_queued()

    offer.refresh_from_db()
    assert offer.outcome == OfferOutcome.WITHDRAWN
    assert ringing_offer(conversation).agent_id == staying.pk
    assert ledger(conversation, *OFFER_KINDS) == [(EventKind.OFFERED, leaving.pk), (EventKind.OFFERED, staying.pk)]


def test_a_returning_customers_agent_who_refuses_is_not_waited_for(
    offering: Queue, make_post: Callable[..., InboundPost]
) -> None:
    ana, ben = make_agent("ana"), make_agent("ben")
    conversation = queued_in(offering, make_post())
    Conversation.objects.filter(pk=conversation.pk).update(preferred_agent=ben)  # sticky: Ben knows this customer
    do_route_queued()
    offer = ringing_offer(conversation)
    assert offer.agent_id == ben.pk

    check_decline_offer(ben, offer)
    do_route_queued()

    assert ringing_offer(conversation).agent_id == ana.pk


def test_the_sweep_is_scheduled_every_few_seconds() -> None:
    entry = BEAT_SCHEDULE["expire-offers"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert float(str(entry["schedule"])) <= 5


# --- Routers racing (PostgreSQL) ------------------------------------------------------------------------

ROUTERS = 4


def _route(barrier: Any, results: Any) -> None:
    connections.close_all()
    try:
        barrier.wait(timeout=30)
        offered = 0
        for _ in range(50):
            stats = engine.route(limit=20)
            offered += stats.offered
            if stats.offered == 0 and stats.dropped_at_commit == 0:
                break
        results.put(("ok", offered))
    except BaseException:  # noqa: BLE001 - reported to the test process
        results.put(("error", traceback.format_exc()))
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_routers_racing_never_ring_an_agent_or_a_conversation_twice(
    settings: Any, make_post: Callable[..., InboundPost], queue: Queue
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so routers cannot race")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    Queue.objects.filter(pk=queue.pk).update(route_mode=RouteMode.OFFER)
    agents = [make_agent(f"agent{number:02d}", capacity=3) for number in range(12)]
    do_capture_posts([(make_post(author_id=f"c{n}"), Triage(priority=n % 7, queue_id=queue.pk)) for n in range(60)])

    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(ROUTERS), context.Queue()
    connections.close_all()
    routers = [context.Process(target=_route, args=(barrier, results)) for _ in range(ROUTERS)]
    for router in routers:
        router.start()
    outcomes = [results.get(timeout=60) for _ in routers]
    for router in routers:
        router.join(timeout=10)
    errors = [detail for status, detail in outcomes if status == "error"]
    assert not errors, errors[0]

    pending = Offer.objects.filter(outcome=OfferOutcome.PENDING)
    assert sum(count for _, count in outcomes) == pending.count() == len(agents), "one ringing offer per agent"
    assert not pending.values("conversation").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert not pending.values("agent").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert Event.objects.filter(kind=EventKind.OFFERED).count() == len(agents)
    assert not Conversation.objects.filter(state=S.ASSIGNED).exists()
