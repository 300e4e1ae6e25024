"""Every write to contacts, conversations, messages and the ledger.

Each state change is one transition in :data:`TRANSITIONS`, applied by a
conditional ``UPDATE ... WHERE state IN (sources)``: if another worker moved
the conversation first, no row matches and the action raises ``Conflict``
instead of overwriting. Every transition writes its ledger row in the same
transaction, and realtime events go out only after that transaction commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from contactcenter import realtime
from contactcenter.core.models import (
    OPEN_STATES,
    Channel,
    Contact,
    ContactMerge,
    Conversation,
    Direction,
    Event,
    EventKind,
    Identity,
    Message,
)
from contactcenter.core.models import (
    ConversationState as S,
)
from contactcenter.core.posts import Author, InboundPost
from contactcenter.errors import Conflict, Invalid

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str
    event: str


def _t(name: str, sources: set[str], target: str, event: str) -> Transition:
    return Transition(name, frozenset(sources), target, event)


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in [
        _t("queue", {S.NEW}, S.QUEUED, EventKind.QUEUED),
        _t("assign", {S.QUEUED}, S.ASSIGNED, EventKind.ASSIGNED),
        _t("transfer_to_agent", {S.ASSIGNED, S.WAITING}, S.ASSIGNED, EventKind.TRANSFERRED),
        _t("transfer_to_queue", {S.ASSIGNED, S.WAITING, S.QUEUED}, S.QUEUED, EventKind.TRANSFERRED),
        _t("reply", {S.ASSIGNED, S.WAITING}, S.WAITING, EventKind.REPLY),
        _t("customer_reply", {S.WAITING}, S.ASSIGNED, EventKind.CUSTOMER_REPLY),
        _t("resolve", {S.NEW, S.QUEUED, S.ASSIGNED, S.WAITING}, S.RESOLVED, EventKind.RESOLVED),
        _t("reopen", {S.RESOLVED}, S.QUEUED, EventKind.REOPENED),
        _t("close", {S.RESOLVED}, S.CLOSED, EventKind.CLOSED),
        _t("abandon", {S.NEW, S.QUEUED}, S.CLOSED, EventKind.ABANDONED),
    ]
}
"""The whole state machine: a conversation moves only along these edges."""


def allowed_transitions(state: str) -> list[str]:
    return [t.name for t in TRANSITIONS.values() if state in t.sources]


# --- Ledger and realtime ---------------------------------------------------------------


def record_event(
    kind: str,
    *,
    at: datetime,
    conversation: Conversation | None = None,
    agent: User | None = None,
    value_seconds: float | None = None,
    value: float | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Append one ledger row. The ledger is never updated or deleted."""
    return Event.objects.create(
        kind=kind,
        at=at,
        conversation=conversation,
        agent=agent,
        channel=conversation.channel if conversation else "",
        queue_id=conversation.queue_id if conversation else None,
        value_seconds=value_seconds,
        value=value,
        data=data or {},
    )


def _announce(conversation: Conversation, previous_agent_id: int | None = None) -> None:
    """Tell the conversation's audience it changed, once the transaction commits."""
    event = {
        "type": "conversation",
        "op": "changed",
        "id": conversation.pk,
        "state": conversation.state,
        "agent_id": conversation.assigned_agent_id,
    }
    groups = realtime.conversation_audience(conversation.assigned_agent_id, previous_agent_id)
    transaction.on_commit(lambda: realtime.send_event(event, groups))


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else max(0.0, (end - start).total_seconds())


def do_transition(
    conversation: Conversation,
    name: str,
    *,
    at: datetime,
    agent: User | None = None,
    changes: dict[str, Any] | None = None,
    value_seconds: float | None = None,
    data: dict[str, Any] | None = None,
) -> Conversation:
    """Move ``conversation`` along transition ``name`` and write its ledger row.

    Raises ``Conflict`` when the conversation is not (or no longer) in one of
    the transition's source states. ``changes`` are further fields set in the
    same conditional update; the in-memory object is updated to match.
    """
    transition = TRANSITIONS[name]
    changes = dict(changes or {})
    previous_agent_id = conversation.assigned_agent_id
    with transaction.atomic():
        updated = Conversation.objects.filter(pk=conversation.pk, state__in=transition.sources).update(
            state=transition.target, updated_at=at, **changes
        )
        if updated != 1:
            current = Conversation.objects.filter(pk=conversation.pk).values_list("state", flat=True).first()
            raise Conflict(
                f"Cannot {name.replace('_', ' ')} conversation {conversation.pk}: it is "
                f"{current or 'gone'}, and {name.replace('_', ' ')} needs "
                f"{' or '.join(sorted(transition.sources))}.",
                state=current,
            )
        for field, value in changes.items():
            setattr(conversation, field, value)
        conversation.state = transition.target
        record_event(
            transition.event,
            at=at,
            conversation=conversation,
            agent=agent,
            value_seconds=value_seconds,
            data=data,
        )
        _announce(conversation, previous_agent_id)
    return conversation


def _due(start: datetime | None, seconds: int | None) -> datetime | None:
    if start is None or seconds is None:
        return None
    return start + timedelta(seconds=seconds)


# --- Capture ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureResult:
    message: Message
    conversation: Conversation
    duplicate: bool
    new_conversation: bool
    reopened: bool

    @property
    def needs_routing(self) -> bool:
        """A conversation the router has not seen yet (new) or must route again (reopened)."""
        return not self.duplicate and (self.new_conversation or self.reopened)


def _identity_for(author: Author) -> Identity:
    identity = (
        Identity.objects.select_related("contact")
        .filter(platform=author.platform, external_id=author.external_id)
        .first()
    )
    if identity is None:
        contact = Contact.objects.create(display_name=author.display_name or author.handle or author.external_id)
        return Identity.objects.create(
            contact=contact,
            platform=author.platform,
            external_id=author.external_id,
            handle=author.handle,
            display_name=author.display_name,
            followers_count=author.followers_count,
            verified=author.verified,
        )
    profile = {
        "handle": author.handle or identity.handle,
        "display_name": author.display_name or identity.display_name,
        "followers_count": author.followers_count,
        "verified": author.verified,
    }
    if any(getattr(identity, key) != value for key, value in profile.items()):
        Identity.objects.filter(pk=identity.pk).update(**profile)
        for key, value in profile.items():
            setattr(identity, key, value)
    return identity


def do_capture_post(post: InboundPost, *, at: datetime | None = None) -> CaptureResult:
    """Store one customer post exactly once and thread it into its conversation.

    A post already stored (same platform and external id) is a no-op that
    returns the stored message with ``duplicate=True``. Otherwise the post
    joins the live conversation of its thread, or starts one in state
    ``new``; a reply in a resolved thread reopens it, a reply while we wait
    on the customer hands it back to its agent. The caller routes new and
    reopened conversations (``result.needs_routing``).
    """
    if post.channel not in Channel.values:
        raise Invalid(f"Unknown channel {post.channel!r}.")
    now = at or timezone.now()
    # Two workers may capture the same post (poll and webhook) or two posts
    # of one new thread at once: the unique constraints decide, and the loser
    # retries and finds the winner's rows.
    for attempt in range(3):
        existing = _stored_message(post)
        if existing is not None:
            return CaptureResult(existing, existing.conversation, True, False, False)
        try:
            with transaction.atomic():
                return _capture_new_post(post, now)
        except IntegrityError:
            if attempt == 2:
                raise
            logger.info("capture race on %s:%s, retrying", post.platform, post.external_id)
    raise AssertionError("unreachable")


def _stored_message(post: InboundPost) -> Message | None:
    return (
        Message.objects.select_related("conversation")
        .filter(platform=post.platform, external_id=post.external_id)
        .first()
    )


def _capture_new_post(post: InboundPost, now: datetime) -> CaptureResult:
    identity = _identity_for(post.author)
    # A post's own clock may run ahead of ours; the customer cannot have
    # started waiting in the future.
    sent_at = min(post.sent_at, now)
    conversation = (
        Conversation.objects.select_for_update()
        .filter(channel=post.channel, thread_key=post.thread_key)
        .exclude(state=S.CLOSED)
        .first()
    )
    new_conversation = conversation is None
    reopened = False
    if conversation is None:
        conversation = Conversation.objects.create(
            contact=identity.contact,
            channel=post.channel,
            thread_key=post.thread_key,
            subject=" ".join(post.text.split())[:200],
            state=S.NEW,
            waiting_since=sent_at,
            last_inbound_at=sent_at,
            created_at=now,
        )
    message = Message.objects.create(
        conversation=conversation,
        direction=Direction.INBOUND,
        platform=post.platform,
        external_id=post.external_id,
        in_reply_to_external_id=post.in_reply_to_external_id,
        author_identity=identity,
        text=post.text,
        is_public=Channel.is_public(post.channel),
        sent_at=post.sent_at,
        raw=post.raw,
    )
    delay = _seconds(sent_at, now)
    if new_conversation:
        record_event(
            EventKind.CAPTURED,
            at=now,
            conversation=conversation,
            value_seconds=delay,
            data={"message_id": message.pk, "external_id": post.external_id},
        )
        _announce(conversation)
    elif conversation.state == S.RESOLVED:
        _reopen(conversation, at=now, waiting_since=sent_at, reason="customer wrote again")
        reopened = True
    else:
        changes: dict[str, Any] = {"last_inbound_at": sent_at}
        if conversation.waiting_since is None:
            changes["waiting_since"] = sent_at
        if conversation.first_response_at is not None and conversation.queue_id is not None:
            policy_seconds = _next_response_seconds(conversation)
            changes["next_response_due"] = _due(
                changes.get("waiting_since", conversation.waiting_since), policy_seconds
            )
        data = {"message_id": message.pk, "external_id": post.external_id}
        if conversation.state == S.WAITING:
            do_transition(conversation, "customer_reply", at=now, changes=changes, data=data)
        else:
            Conversation.objects.filter(pk=conversation.pk).update(updated_at=now, **changes)
            for field, value in changes.items():
                setattr(conversation, field, value)
            record_event(EventKind.CUSTOMER_REPLY, at=now, conversation=conversation, data=data)
            _announce(conversation)
    return CaptureResult(message, conversation, False, new_conversation, reopened)


def _next_response_seconds(conversation: Conversation) -> int | None:
    queue = conversation.queue
    policy = queue.sla_policy if queue is not None else None
    return policy.next_response_seconds if policy is not None else None


def _reopen(conversation: Conversation, *, at: datetime, waiting_since: datetime, reason: str) -> None:
    """Resolved → queued again, keeping the last agent for sticky routing."""
    do_transition(
        conversation,
        "reopen",
        at=at,
        changes={
            "waiting_since": waiting_since,
            "last_inbound_at": waiting_since,
            "queued_at": at,
            "resolved_at": None,
            "disposition": "",
            "assigned_agent": None,
            "last_agent": conversation.assigned_agent or conversation.last_agent,
            "next_response_due": _due(waiting_since, _next_response_seconds(conversation)),
        },
        value_seconds=_seconds(conversation.resolved_at, at),
        data={"reason": reason},
    )


def do_reopen_conversation(conversation: Conversation, *, actor: User | None, reason: str) -> Conversation:
    """Put a resolved conversation back in its queue (a supervisor's or agent's decision)."""
    now = timezone.now()
    _reopen(conversation, at=now, waiting_since=now, reason=reason or "reopened by hand")
    return conversation


# --- Queue and assignment --------------------------------------------------------------


def do_queue_conversation(conversation: Conversation, queue: Any, *, at: datetime | None = None) -> Conversation:
    """A new conversation enters ``queue``; its first-response clock starts from ``waiting_since``."""
    now = at or timezone.now()
    policy = queue.sla_policy
    return do_transition(
        conversation,
        "queue",
        at=now,
        changes={
            "queue": queue,
            "queued_at": now,
            "first_response_due": _due(
                conversation.waiting_since or now, policy.first_response_seconds if policy else None
            ),
        },
        value_seconds=_seconds(conversation.created_at, now),
    )


def do_assign_conversation(
    conversation: Conversation,
    agent: User,
    *,
    at: datetime | None = None,
    reason: dict[str, Any] | None = None,
) -> Conversation:
    """Give a queued conversation to ``agent``. Exactly one of several racing callers succeeds."""
    now = at or timezone.now()
    return do_transition(
        conversation,
        "assign",
        at=now,
        agent=agent,
        changes={"assigned_agent": agent, "assigned_at": now},
        value_seconds=_seconds(conversation.queued_at, now),
        data={"reason": reason or {}},
    )


def do_transfer_to_agent(
    conversation: Conversation, agent: User, *, actor: User | None, reason: str = ""
) -> Conversation:
    if agent.pk == conversation.assigned_agent_id:
        raise Invalid("The conversation is already with that agent.")
    now = timezone.now()
    return do_transition(
        conversation,
        "transfer_to_agent",
        at=now,
        agent=agent,
        changes={"assigned_agent": agent, "assigned_at": now, "last_agent": conversation.assigned_agent},
        data={
            "from_agent_id": conversation.assigned_agent_id,
            "to_agent_id": agent.pk,
            "actor_id": actor.pk if actor else None,
            "reason": reason,
        },
    )


def do_transfer_to_queue(
    conversation: Conversation, queue: Any, *, actor: User | None, reason: str = ""
) -> Conversation:
    now = timezone.now()
    return do_transition(
        conversation,
        "transfer_to_queue",
        at=now,
        agent=conversation.assigned_agent,
        changes={
            "queue": queue,
            "queued_at": now,
            "assigned_agent": None,
            "last_agent": conversation.assigned_agent or conversation.last_agent,
        },
        data={
            "from_queue_id": conversation.queue_id,
            "to_queue_id": queue.pk,
            "from_agent_id": conversation.assigned_agent_id,
            "actor_id": actor.pk if actor else None,
            "reason": reason,
        },
    )


# --- Replies and outcomes ----------------------------------------------------------------


def do_record_reply(conversation: Conversation, agent: User, text: str, *, at: datetime | None = None) -> Message:
    """Store the agent's reply and start waiting on the customer.

    The first reply also writes ``first_response`` with the customer's wait;
    every reply writes ``reply`` with the wait it ended. Posting it to the
    platform is the outbox's job; until then ``external_id`` is empty.
    """
    text = text.strip()
    if not text:
        raise Invalid("A reply needs some text.", fields={"text": ["This field may not be blank."]})
    now = at or timezone.now()
    with transaction.atomic():
        waited = _seconds(conversation.waiting_since, now)
        message = Message.objects.create(
            conversation=conversation,
            direction=Direction.OUTBOUND,
            platform=conversation.platform,
            author_agent=agent,
            text=text,
            is_public=Channel.is_public(conversation.channel),
            sent_at=now,
        )
        first = conversation.first_response_at is None
        do_transition(
            conversation,
            "reply",
            at=now,
            agent=agent,
            changes={"waiting_since": None, "next_response_due": None} | ({"first_response_at": now} if first else {}),
            value_seconds=waited,
            data={"message_id": message.pk},
        )
        if first:
            record_event(
                EventKind.FIRST_RESPONSE,
                at=now,
                conversation=conversation,
                agent=agent,
                value_seconds=_seconds(conversation.queued_at or conversation.created_at, now),
                data={"since_post_seconds": _seconds(_first_inbound_at(conversation), now)},
            )
    return message


def _first_inbound_at(conversation: Conversation) -> datetime | None:
    return (
        conversation.messages.filter(direction=Direction.INBOUND)
        .order_by("sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )


def do_escalate_conversation(conversation: Conversation, *, actor: User | None, reason: str) -> Conversation:
    """Flag an open conversation for supervisors' attention; it keeps its state and agent."""
    reason = reason.strip()
    if not reason:
        raise Invalid("Say why it is escalated.", fields={"reason": ["This field may not be blank."]})
    now = timezone.now()
    with transaction.atomic():
        updated = Conversation.objects.filter(pk=conversation.pk, state__in=OPEN_STATES).update(
            escalated=True, updated_at=now
        )
        if updated != 1:
            raise Conflict(f"Conversation {conversation.pk} is not open and cannot be escalated.")
        conversation.escalated = True
        record_event(EventKind.ESCALATED, at=now, conversation=conversation, agent=actor, data={"reason": reason})
        _announce(conversation)
    return conversation


def do_resolve_conversation(
    conversation: Conversation, *, actor: User | None, disposition: str, at: datetime | None = None
) -> Conversation:
    now = at or timezone.now()
    return do_transition(
        conversation,
        "resolve",
        at=now,
        agent=actor,
        changes={
            "resolved_at": now,
            "disposition": disposition,
            "waiting_since": None,
            "last_agent": conversation.assigned_agent or conversation.last_agent,
        },
        value_seconds=_seconds(conversation.created_at, now),
        data={"disposition": disposition},
    )


def do_close_conversation(conversation: Conversation, *, at: datetime | None = None) -> Conversation:
    now = at or timezone.now()
    return do_transition(
        conversation,
        "close",
        at=now,
        changes={"closed_at": now, "assigned_agent": None},
        value_seconds=_seconds(conversation.resolved_at, now),
    )


def do_abandon_conversation(conversation: Conversation, *, reason: str, at: datetime | None = None) -> Conversation:
    """The customer withdrew (deleted the post) before anyone answered."""
    now = at or timezone.now()
    return do_transition(
        conversation,
        "abandon",
        at=now,
        changes={"closed_at": now, "waiting_since": None},
        value_seconds=_seconds(conversation.waiting_since, now),
        data={"reason": reason},
    )


# --- Contacts -------------------------------------------------------------------------------


def do_merge_contacts(into: Contact, other: Contact, *, actor: User | None, reason: str = "") -> ContactMerge:
    """Fold ``other`` into ``into``: its identities and conversations move, it is deleted, an audit row stays."""
    if into.pk == other.pk:
        raise Invalid("A contact cannot be merged into itself.")
    with transaction.atomic():
        # Lock both rows in id order so two merges of the same pair cannot deadlock.
        locked = {
            c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[into.pk, other.pk]).order_by("pk")
        }
        if len(locked) != 2:
            raise Conflict("One of the contacts no longer exists (merged already?).")
        identity_ids = list(other.identities.values_list("pk", flat=True))
        conversation_ids = list(other.conversations.values_list("pk", flat=True))
        Identity.objects.filter(pk__in=identity_ids).update(contact=into)
        Conversation.objects.filter(pk__in=conversation_ids).update(contact=into)
        changes: dict[str, Any] = {}
        if other.is_vip and not into.is_vip:
            changes["is_vip"] = True
        merged_tags = sorted(set(into.tags) | set(other.tags))
        if merged_tags != sorted(into.tags):
            changes["tags"] = merged_tags
        if other.notes:
            changes["notes"] = "\n\n".join(filter(None, [into.notes, other.notes]))
        if changes:
            Contact.objects.filter(pk=into.pk).update(**changes)
            for field, value in changes.items():
                setattr(into, field, value)
        audit = ContactMerge.objects.create(
            into=into,
            merged_contact_id=other.pk,
            merged_contact_name=other.display_name,
            moved={"identities": identity_ids, "conversations": conversation_ids},
            actor=actor,
            reason=reason,
        )
        other.delete()
    return audit
