"""Offers: in an offer-mode queue the router rings the agent it chose, who accepts or declines in time.

Every write to an :class:`~routing.models.Offer` is here, one function per
use case, called by every door (the inbox, the REST API, the sweep task):

- :func:`do_offer_conversations`: the router's offers (it chose the agents,
  reserved their capacity and locked their rows).
- :func:`check_accept_offer`: the offered agent takes it; the conversation
  is assigned through ``core.actions.do_assign_conversations``.
- :func:`check_decline_offer`: the offered agent says no; the router offers
  the conversation to the next best agent.
- :func:`do_expire_offers`: the periodic sweep. Offers past their time are
  timed out (and an agent who let ``offer_timeouts_before_away`` ring out in
  a row is set away); offers whose conversation left the queue are withdrawn.

Each offer, accept, decline and timeout is one ledger row with its agent and
conversation; ``value_seconds`` of an answer is the time it took.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from agents.actions import do_set_presence
from agents.models import AgentProfile, AwayReason, Presence
from core import hooks, realtime
from core.actions import do_assign_conversations
from core.errors import Conflict, PermissionDenied
from core.ledger import record_event
from core.models import Conversation, EventKind
from core.models import ConversationState as S
from routing.models import REFUSED, Offer, OfferOutcome, Queue

ACCEPTED_WHY = "accepted the router's offer"


def ringing() -> QuerySet[Offer]:
    return Offer.objects.filter(outcome=OfferOutcome.PENDING)


def ringing_for(conversation_ref: str = "pk") -> Exists:
    """The outer conversation row has an offer ringing (it is not the router's to give again meanwhile)."""
    return Exists(ringing().filter(conversation_id=OuterRef(conversation_ref)))


def ringing_agents(user_ids: Iterable[int] | None = None) -> set[int]:
    """Agents with an offer ringing: none gets a second one until it is answered or expires."""
    rows = ringing()
    if user_ids is not None:
        rows = rows.filter(agent_id__in=list(user_ids))
    return set(rows.values_list("agent_id", flat=True))


def refusals(conversations: dict[int, datetime]) -> dict[int, set[int]]:
    """Per conversation (id → when it was queued), the agents who declined it or let it ring out since."""
    if not conversations:
        return {}
    found: dict[int, set[int]] = {}
    for conversation_id, agent_id, offered_at in Offer.objects.filter(
        conversation_id__in=list(conversations), outcome__in=REFUSED
    ).values_list("conversation_id", "agent_id", "offered_at"):
        if offered_at >= conversations[conversation_id]:
            found.setdefault(conversation_id, set()).add(agent_id)
    return found


def pending_offers_of(user: Any) -> QuerySet[Offer]:
    """The caller's ringing offers (one at most), with what the inbox shows of the conversation."""
    return ringing().filter(agent_id=user.pk).select_related("conversation", "conversation__contact").order_by("id")


def do_offer_conversations(
    offers: list[tuple[int, int, int, dict[str, Any]]], queues: dict[int, Queue], at: datetime
) -> int:
    """Ring agents: ``(conversation id, agent user id, weight, reason)`` each, from the router's pass.

    The router has locked the agents' rows, checked their capacity with the
    weights of what already rings, and given each agent and conversation one
    offer at most. Conversations no longer queued are skipped. Returns the
    number of offers made.
    """
    if not offers:
        return 0
    conversations = Conversation.objects.in_bulk([conversation_id for conversation_id, _, _, _ in offers])
    made = []
    for conversation_id, agent_id, weight, reason in offers:
        conversation = conversations.get(conversation_id)
        if conversation is None or conversation.state != S.QUEUED or conversation.queue_id not in queues:
            continue
        seconds = queues[conversation.queue_id].offer_seconds
        offer = Offer.objects.create(
            conversation=conversation,
            agent_id=agent_id,
            weight=weight,
            offered_at=at,
            expires_at=at + timedelta(seconds=seconds),
        )
        record_event(
            EventKind.OFFERED,
            at=at,
            conversation=conversation,
            agent=User(pk=agent_id),
            data={"offer": offer.pk, "ring_seconds": seconds, "why": str(reason.get("why", ""))},
        )
        made.append(offer)
    _announce(made, "offered")
    return len(made)


def check_accept_offer(user: Any, offer: Offer) -> Conversation:
    """The offered agent takes the conversation: it is assigned to them, the offer is accepted.

    Only the offered agent (``PermissionDenied`` for anyone else), only while
    it rings: an answer after it rang out is a ``Conflict`` (the offer is
    timed out there and then if the sweep has not yet done it), as is one to
    a conversation that meanwhile left the queue (the offer is withdrawn).
    """
    now = timezone.now()
    _check_offered_to(user, offer)
    with transaction.atomic():
        current, refusal = _answerable(offer, now)
        if refusal is None:
            assigned = do_assign_conversations(
                [
                    (
                        current.conversation_id,
                        current.agent_id,
                        current.weight,
                        {"why": ACCEPTED_WHY, "offer": current.pk},
                    )
                ],
                at=now,
            )
            if assigned:
                _close(current, OfferOutcome.ACCEPTED, now)
                AgentProfile.objects.filter(user_id=current.agent_id).update(last_assigned_at=now)
                return Conversation.objects.get(pk=current.conversation_id)
            _close(current, OfferOutcome.WITHDRAWN, now)
            refusal = Conflict(GONE)
    raise refusal  # after the commit: what was closed on the way stays closed


def check_decline_offer(user: Any, offer: Offer) -> Offer:
    """The offered agent turns it down: the router offers the conversation to the next best agent."""
    now = timezone.now()
    _check_offered_to(user, offer)
    with transaction.atomic():
        current, refusal = _answerable(offer, now)
        if refusal is None:
            _close(current, OfferOutcome.DECLINED, now)
            hooks.routing_wanted()
            return current
    raise refusal


GONE = "This conversation is no longer waiting: someone else has it, or it was closed."


def _check_offered_to(user: Any, offer: Offer) -> None:
    if offer.agent_id != getattr(user, "pk", None):
        raise PermissionDenied("This offer is another agent's.")


def _answerable(offer: Offer, now: datetime) -> tuple[Offer, Conflict | None]:
    """The offer, locked, and why it cannot be answered now (None if it can).

    One that rang out is timed out on the way, one whose conversation left
    the queue withdrawn: the caller commits that, then refuses.
    """
    current = Offer.objects.select_for_update(of=("self",)).select_related("conversation__queue").get(pk=offer.pk)
    if current.outcome != OfferOutcome.PENDING:
        return current, Conflict(f"This offer is already closed: {current.get_outcome_display().lower()}.")
    if now >= current.expires_at:
        _time_out(current, now)
        local = timezone.localtime(current.expires_at)
        return current, Conflict(f"This offer rang out at {local:%H:%M:%S}; it goes to the next agent.")
    if current.conversation.state != S.QUEUED:
        _close(current, OfferOutcome.WITHDRAWN, now)
        return current, Conflict(GONE)
    return current, None


LEDGER_KIND = {
    OfferOutcome.ACCEPTED: EventKind.OFFER_ACCEPTED,
    OfferOutcome.DECLINED: EventKind.OFFER_DECLINED,
    OfferOutcome.TIMED_OUT: EventKind.OFFER_TIMED_OUT,
}


def _close(offer: Offer, outcome: str, now: datetime) -> None:
    """Close a ringing offer with ``outcome``, its ledger row (withdrawals have none) and the agent's event."""
    answered = outcome in (OfferOutcome.ACCEPTED, OfferOutcome.DECLINED)
    Offer.objects.filter(pk=offer.pk).update(outcome=outcome, answered_at=now if answered else None)
    offer.outcome, offer.answered_at = outcome, now if answered else None
    kind = LEDGER_KIND.get(outcome)  # type: ignore[call-overload]
    if kind is not None:
        until = now if answered else offer.expires_at
        record_event(
            kind,
            at=now,
            conversation=offer.conversation,
            agent=User(pk=offer.agent_id),
            value_seconds=max(0.0, (until - offer.offered_at).total_seconds()),
            data={"offer": offer.pk},
        )
    _announce([offer], "closed")


def _announce(offers: list[Offer], op: str) -> None:
    """Tell each agent's browsers their offers changed (they re-fetch the inbox's offer region), after commit."""
    deliveries = [
        (realtime.user_group(offer.agent_id), {"type": "offers", "op": op, "ids": [offer.pk]}) for offer in offers
    ]
    if deliveries:
        transaction.on_commit(lambda: realtime.send_events(deliveries))


def do_expire_offers(now: datetime | None = None) -> int:
    """The sweep: time out offers past their time, withdraw those whose conversation left the queue.

    An agent who has let the queue's ``offer_timeouts_before_away`` offers
    in a row ring out (counting since they last became available) is set
    away with the reason "missed offers". Routing runs again for whatever
    was freed. Returns the number of offers closed.
    """
    now = now or timezone.now()
    due = ringing().filter(Q(expires_at__lte=now) | ~Q(conversation__state=S.QUEUED))
    if not due.exists():
        return 0  # the usual case: one indexed query every few seconds
    closed = 0
    with transaction.atomic():
        offers = list(due.select_for_update(skip_locked=True, of=("self",)).select_related("conversation__queue"))
        for offer in offers:
            if offer.conversation.state != S.QUEUED:
                _close(offer, OfferOutcome.WITHDRAWN, now)
            else:
                _time_out(offer, now)
            closed += 1
        if closed:
            hooks.routing_wanted()
    return closed


def do_withdraw_offers_of(user_id: int, now: datetime | None = None) -> int:
    """The agent left "available" (away, busy, offline): their ringing offer is withdrawn, for the next agent.

    A withdrawal is no answer: no ledger row, and it counts neither as a
    refusal nor towards "missed offers".
    """
    now = now or timezone.now()
    offers = list(ringing().filter(agent_id=user_id).select_for_update(of=("self",)).select_related("conversation"))
    for offer in offers:
        _close(offer, OfferOutcome.WITHDRAWN, now)
    if offers:
        hooks.routing_wanted()
    return len(offers)


def _time_out(offer: Offer, now: datetime) -> None:
    """Close a ringing offer as timed out; an agent who missed too many in a row is set away."""
    _close(offer, OfferOutcome.TIMED_OUT, now)
    hooks.routing_wanted()
    queue = offer.conversation.queue
    limit = queue.offer_timeouts_before_away if queue is not None else 2
    profile = AgentProfile.objects.filter(user_id=offer.agent_id).first()
    if profile is None or profile.presence != Presence.AVAILABLE:
        return
    answers = list(
        Offer.objects.filter(agent_id=offer.agent_id, offered_at__gte=profile.presence_since)
        .filter(outcome__in=[OfferOutcome.ACCEPTED, *REFUSED])
        .order_by("-offered_at", "-id")
        .values_list("outcome", flat=True)[:limit]
    )
    if len(answers) == limit and all(outcome == OfferOutcome.TIMED_OUT for outcome in answers):
        do_set_presence(profile, Presence.AWAY, reason=AwayReason.MISSED_OFFERS, cause="missed_offers")
