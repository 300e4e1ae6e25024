"""Every write to contacts, conversations, messages and the ledger.

Each state change is one transition in :data:`TRANSITIONS`, applied by a
conditional ``UPDATE ... WHERE state IN (sources)``: if another worker moved
the conversation first, no row matches and the action raises ``Conflict``
instead of overwriting. Every transition writes its ledger row in the same
transaction, and realtime events go out only after that transaction commits.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core import hooks, realtime
from core.bulk import insert_dicts, update_rows
from core.email_options import EmailReplyOptions
from core.errors import Conflict, Invalid, PermissionDenied
from core.handling import close_all_work
from core.ledger import record_event
from core.models import (
    OPEN_STATES,
    SLA_WATCHED_STATES,
    Attachment,
    Channel,
    Contact,
    ContactMerge,
    Conversation,
    Delivery,
    Direction,
    Disposition,
    Event,
    EventKind,
    Identity,
    Message,
    NotificationEvent,
    SLAStatus,
    WebhookEvent,
)
from core.models import (
    ConversationState as S,
)
from core.notifications import notify_by_rules
from core.queries import check_can_work, may_reopen
from core.text import REASON_MAX_LENGTH, check_optional_text, check_text
from core.webhooks import emit_conversations

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
        _t("abandon", {S.NEW, S.QUEUED, S.ASSIGNED}, S.CLOSED, EventKind.ABANDONED),
    ]
}
"""The whole state machine: a conversation moves only along these edges."""


def allowed_transitions(state: str) -> list[str]:
    return [t.name for t in TRANSITIONS.values() if state in t.sources]


# --- Ledger and realtime ---------------------------------------------------------------


def _announce(conversation: Conversation, previous_agent_id: int | None = None) -> None:
    """Tell the conversation's audience (and the agent who just lost it) that it changed, after commit."""
    event = {"type": "conversations", "op": "changed", "ids": [conversation.pk]}
    groups = realtime.conversation_audience(conversation.assigned_agent_id, previous_agent_id)
    transaction.on_commit(lambda: realtime.send_event(event, groups))


def announce_conversations(changed: list[tuple[int, int | None]]) -> None:
    """One realtime event per audience for many changed conversations ``(id, assigned agent id)``, after commit."""
    if not changed:
        return
    by_group: dict[str, list[int]] = defaultdict(list)
    for conversation_id, agent_id in changed:
        for group in realtime.conversation_audience(agent_id):
            by_group[group].append(conversation_id)

    deliveries = [(group, {"type": "conversations", "op": "changed", "ids": ids}) for group, ids in by_group.items()]
    transaction.on_commit(lambda: realtime.send_events(deliveries))


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
    require: tuple[Q, str] | None = None,
) -> Conversation:
    """Move ``conversation`` along transition ``name`` and write its ledger row.

    Raises ``Conflict`` when the conversation is not (or no longer) in one of
    the transition's source states, or fails ``require`` (a condition and the
    reason to give when it does not hold). ``changes`` are further fields set
    in the same conditional update; the in-memory object is updated to match.
    """
    transition = TRANSITIONS[name]
    changes = dict(changes or {})
    previous_agent_id = conversation.assigned_agent_id
    with transaction.atomic():
        rows = Conversation.objects.filter(pk=conversation.pk, state__in=transition.sources)
        if require is not None:
            rows = rows.filter(require[0])
        updated = rows.update(state=transition.target, updated_at=at, **changes)
        if updated != 1:
            current = Conversation.objects.filter(pk=conversation.pk).values_list("state", flat=True).first()
            if require is not None and current in transition.sources:
                raise Conflict(f"Cannot {name.replace('_', ' ')} conversation {conversation.pk}: {require[1]}.")
            raise Conflict(
                f"Cannot {name.replace('_', ' ')} conversation {conversation.pk}: it is "
                f"{current or 'gone'}, and {name.replace('_', ' ')} needs "
                f"{' or '.join(sorted(transition.sources))}.",
                state=current,
            )
        for field, value in changes.items():
            setattr(conversation, field, value)
        conversation.state = transition.target
        if previous_agent_id is not None and (
            transition.target in (S.RESOLVED, S.CLOSED, S.QUEUED) or conversation.assigned_agent_id != previous_agent_id
        ):
            # Capacity was freed (or moved): the router may now place waiting work.
            hooks.routing_wanted()
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


# --- Reopening -------------------------------------------------------------------------


def reopen_conversation(conversation: Conversation, *, at: datetime, waiting_since: datetime, reason: str) -> None:
    """Resolved → queued again, keeping the last agent for sticky routing (callers: capture, by hand)."""
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
            "preferred_agent": conversation.assigned_agent or conversation.last_agent,
            "next_response_due": hooks.new_sla_clock().next_response_due(conversation.queue_id, waiting_since),
        },
        value_seconds=_seconds(conversation.resolved_at, at),
        data={"reason": reason},
    )


def check_reopen_conversation(user: User, conversation: Conversation, *, reason: str = "") -> Conversation:
    """Reopen by hand (HTML and API): for the agent who resolved it, or a supervisor.

    The conversation goes back to its queue, waiting first for its last
    agent (sticky), and its first-response clock starts again now.
    """
    if conversation.state == S.RESOLVED and not may_reopen(user, conversation):
        raise PermissionDenied("Only the agent who resolved this conversation (or a supervisor) can reopen it.")
    reason = check_optional_text(reason, field="reason", max_length=REASON_MAX_LENGTH)
    now = timezone.now()
    reopen_conversation(conversation, at=now, waiting_since=now, reason=reason or "reopened by hand")
    return conversation


# --- Queue and assignment --------------------------------------------------------------


def do_queue_conversations(conversation_ids: list[int], queue: Any, *, at: datetime | None = None) -> list[int]:
    """New conversations enter ``queue``: one locked read, one UPDATE and one ledger insert for all.

    Each one's first-response clock runs from its ``waiting_since`` (when the
    customer wrote), in the queue's business hours: the same deadline capture
    gives a conversation it places on arrival. Returns the ids that moved; any
    that another worker queued first are left out.
    """
    now = at or timezone.now()
    transition = TRANSITIONS["queue"]
    clock = hooks.new_sla_clock().load([queue.pk])
    with transaction.atomic():
        rows = list(
            Conversation.objects.select_for_update()
            .filter(pk__in=conversation_ids, state__in=transition.sources)
            .values_list("pk", "channel", "created_at", "waiting_since")
        )
        if not rows:
            return []
        update_rows(
            Conversation,
            ["state", "queue", "queued_at", "updated_at", "first_response_due"],
            [
                (pk, transition.target, queue.pk, now, now, clock.first_response_due(queue.pk, waiting_since or now))
                for pk, _, _, waiting_since in rows
            ],
        )
        insert_dicts(
            Event,
            [
                {
                    "kind": transition.event,
                    "at": now,
                    "conversation_id": pk,
                    "channel": channel,
                    "queue_id": queue.pk,
                    "value_seconds": _seconds(created_at, now),
                    "data": {},
                }
                for pk, channel, created_at, _ in rows
            ],
            returning_ids=False,
        )
        announce_conversations([(pk, None) for pk, _, _, _ in rows])
    return [pk for pk, _, _, _ in rows]


def do_queue_conversation(conversation: Conversation, queue: Any, *, at: datetime | None = None) -> Conversation:
    if not do_queue_conversations([conversation.pk], queue, at=at):
        current = Conversation.objects.filter(pk=conversation.pk).values_list("state", flat=True).first()
        raise Conflict(f"Cannot queue conversation {conversation.pk}: it is {current or 'gone'}, and queue needs new.")
    conversation.refresh_from_db(fields=["state", "queue", "queued_at", "first_response_due", "updated_at"])
    return conversation


def do_assign_conversations(
    assignments: list[tuple[int, int, int, dict[str, Any]]], *, at: datetime | None = None
) -> list[int]:
    """Give queued conversations to agents: ``(conversation id, agent user id, weight, reason)`` each.

    One locked read, one UPDATE and one ledger insert for all. Only
    conversations still queued move (a racing caller gets the rest), so an
    item is never assigned twice. The caller has checked capacity (the router
    does it under a lock on the agents' rows). Returns the ids assigned.
    """
    if not assignments:
        return []
    now = at or timezone.now()
    transition = TRANSITIONS["assign"]
    clock = hooks.new_sla_clock()
    with transaction.atomic():
        rows = {
            pk: (channel, queue_id, queued_at, contact_id)
            for pk, channel, queue_id, queued_at, contact_id in Conversation.objects.select_for_update()
            .filter(pk__in=[a[0] for a in assignments], state__in=transition.sources)
            .values_list("pk", "channel", "queue_id", "queued_at", "contact_id")
        }
        moving = [a for a in assignments if a[0] in rows]
        clock.load({queue_id for _, queue_id, _, _ in rows.values()})  # one query for the batch's calendars
        update_rows(
            Conversation,
            ["state", "assigned_agent", "assigned_at", "weight", "preferred_agent", "updated_at"],
            [(pk, transition.target, agent_id, now, weight, None, now) for pk, agent_id, weight, _ in moving],
        )
        events = []
        for pk, agent_id, _, reason in moving:
            # The wait in the queue's business hours, for the business ASA
            # (reporting.kpis.speed aggregates it; the database cannot).
            data = {"reason": reason, "business_seconds": clock.business_seconds(rows[pk][1], rows[pk][2], now)}
            events.append(
                {
                    "kind": transition.event,
                    "at": now,
                    "conversation_id": pk,
                    "agent_id": agent_id,
                    "channel": rows[pk][0],
                    "queue_id": rows[pk][1],
                    "value_seconds": _seconds(rows[pk][2], now),
                    "data": data,
                    **Event.durations(transition.event, data),
                }
            )
        insert_dicts(Event, events, returning_ids=False)
        # The customer's agent, for sticky routing when they come back (the last one wins).
        agent_of_contact = {rows[pk][3]: agent_id for pk, agent_id, _, _ in moving}
        update_rows(
            Contact,
            ["last_agent", "last_agent_at"],
            [(contact_id, agent_id, now) for contact_id, agent_id in sorted(agent_of_contact.items())],
        )
        announce_conversations([(pk, agent_id) for pk, agent_id, _, _ in moving])
        emit_conversations(WebhookEvent.CONVERSATION_ASSIGNED, [a[0] for a in moving], at=now)
    return [a[0] for a in moving]


def do_assign_conversation(
    conversation: Conversation,
    agent: User,
    *,
    at: datetime | None = None,
    weight: int = 1,
    reason: dict[str, Any] | None = None,
) -> Conversation:
    """Give one queued conversation to ``agent`` (a supervisor's choice, or a test's)."""
    if not do_assign_conversations([(conversation.pk, agent.pk, weight, reason or {"why": "assigned by hand"})], at=at):
        current = Conversation.objects.filter(pk=conversation.pk).values_list("state", flat=True).first()
        raise Conflict(
            f"Cannot assign conversation {conversation.pk}: it is {current or 'gone'}, and assign needs queued."
        )
    conversation.refresh_from_db()
    return conversation


def do_transfer_to_agent(
    conversation: Conversation, agent: User, *, actor: User | None, reason: str = ""
) -> Conversation:
    if agent.pk == conversation.assigned_agent_id:
        raise Invalid("The conversation is already with that agent.")
    now = timezone.now()
    Contact.objects.filter(pk=conversation.contact_id).update(last_agent=agent, last_agent_at=now)
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
    conversation: Conversation,
    queue: Any,
    *,
    actor: User | None,
    reason: str = "",
    preferred_agent_id: int | None = None,
) -> Conversation:
    """Back to a queue, for anyone there; or first for ``preferred_agent_id`` (sticky), set in the same update.

    The preferred agent must be written with the move: the move asks for a
    routing pass, and a pass that ran in between would not know to wait.
    """
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
            "preferred_agent_id": preferred_agent_id,
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


def _reply_message(
    conversation: Conversation,
    agent: User,
    text: str,
    *,
    private: bool,
    delivery: str,
    at: datetime,
    email: EmailReplyOptions | None = None,
) -> Message:
    """The agent's reply as a stored message: posted by the outbox (``queued``) or held for a supervisor.

    ``email`` (already checked: :func:`core.email_options.check_email_reply_options`) goes with it: the subject
    and CC in ``raw["email"]``, the files as its attachments, in the caller's transaction.
    """
    queued = delivery == Delivery.QUEUED
    message = Message.objects.create(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        platform=conversation.platform,
        author_agent=agent,
        text=text,
        is_public=Channel.is_public(conversation.channel) and not private,
        sent_at=at,
        delivery=delivery,
        idempotency_key=uuid.uuid4() if queued else None,
        raw={"email": email.raw()} if email is not None else {},
    )
    if email is not None and email.attachments:
        Attachment.objects.bulk_create(
            Attachment(
                message=message,
                filename=item.filename,
                content_type=item.content_type,
                size=len(item.data),
                data=item.data,
                created_at=at,
            )
            for item in email.attachments
        )
    return message


def check_reply_text(text: object) -> str:
    return check_text(text, field="text", max_length=None, blank="A reply needs some text.")


def do_record_reply(
    conversation: Conversation,
    agent: User,
    text: str,
    *,
    at: datetime | None = None,
    private: bool = False,
    held: Message | None = None,
    email: EmailReplyOptions | None = None,
) -> Message:
    """Store the agent's reply in the outbox and start waiting on the customer.

    The first reply also writes ``first_response`` with the customer's wait;
    every reply writes ``reply`` with the wait it ended. ``held`` is a reply
    that waited for approval and is now released (its author is the agent); it
    keeps the subject, CC and files it was held with (``email`` is for new replies).
    Posting to the platform is the outbox's job (``delivery`` queued, with an
    idempotency key); until then ``external_id`` is empty.
    """
    text = check_reply_text(text)
    now = at or timezone.now()
    with transaction.atomic():
        waited = _seconds(conversation.waiting_since, now)
        if held is None:
            message = _reply_message(
                conversation, agent, text, private=private, delivery=Delivery.QUEUED, at=now, email=email
            )
        else:
            message = held
            Message.objects.filter(pk=held.pk).update(
                text=text, sent_at=now, delivery=Delivery.QUEUED, idempotency_key=uuid.uuid4()
            )
            message.refresh_from_db()
        first = conversation.first_response_at is None
        do_transition(
            conversation,
            "reply",
            at=now,
            agent=agent,
            changes={"waiting_since": None, "next_response_due": None, "sla_status": SLAStatus.OK}
            | ({"first_response_at": now} if first else {}),
            value_seconds=waited,
            data={"message_id": message.pk},
        )
        if first:
            posted_at, assigned_at = _first_inbound_at(conversation), _first_assigned_at(conversation)
            clock, queue_id = hooks.new_sla_clock(), conversation.queue_id
            record_event(
                EventKind.FIRST_RESPONSE,
                at=now,
                conversation=conversation,
                agent=agent,
                value_seconds=_seconds(conversation.queued_at or conversation.created_at, now),
                # The business-hours figures are computed here, in the queue's SLA calendar,
                # because the database cannot; reporting.kpis.speed aggregates them.
                data={
                    "since_post_seconds": _seconds(posted_at, now),
                    "since_assignment_seconds": _seconds(assigned_at, now),
                    "since_post_business_seconds": clock.business_seconds(queue_id, posted_at, now),
                    "since_assignment_business_seconds": clock.business_seconds(queue_id, assigned_at, now),
                },
            )
    return message


def do_hold_reply(
    conversation: Conversation,
    agent: User,
    text: str,
    *,
    private: bool,
    reason: str,
    resolve_with: str = "",
    email: EmailReplyOptions | None = None,
) -> Message:
    """Keep the agent's reply for a supervisor (``pending_approval``); the customer's clock keeps running.

    ``resolve_with`` is remembered in the ledger row, so approval resolves the
    conversation as the agent asked; ``email`` (subject, CC, files) is stored
    with the reply, so approval sends it as the agent wrote it.
    """
    text = check_reply_text(text)
    with transaction.atomic():
        message = _reply_message(
            conversation,
            agent,
            text,
            private=private,
            delivery=Delivery.PENDING_APPROVAL,
            at=timezone.now(),
            email=email,
        )
        record_event(
            EventKind.REPLY_HELD,
            at=message.sent_at,
            conversation=conversation,
            agent=agent,
            data={"message_id": message.pk, "reason": reason, "resolve_with": resolve_with},
        )
        event = {"type": "approvals", "op": "changed", "ids": [conversation.pk]}
        transaction.on_commit(lambda: realtime.send_event(event, [realtime.SUPERVISORS_GROUP]))
    return message


def _first_assigned_at(conversation: Conversation) -> datetime | None:
    """When the conversation was first given to an agent (its first ``assigned`` ledger row)."""
    return (
        Event.objects.filter(conversation=conversation, kind=EventKind.ASSIGNED)
        .order_by("at", "id")
        .values_list("at", flat=True)
        .first()
    )


def _first_inbound_at(conversation: Conversation) -> datetime | None:
    return (
        conversation.messages.filter(direction=Direction.INBOUND)
        .order_by("sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )


def check_escalate_conversation(user: User, conversation: Conversation, *, reason: str) -> Conversation:
    """Escalate by hand (HTML and API): the conversation's agent, or a supervisor."""
    check_can_work(user, conversation)
    return do_escalate_conversation(conversation, actor=user, reason=reason)


def do_escalate_conversation(conversation: Conversation, *, actor: User | None, reason: str) -> Conversation:
    """Flag an open conversation for supervisors' attention; it keeps its state and agent.

    Supervisors' browsers are alerted, the ``conversation.escalated`` webhook
    goes out and the notification rules for escalations are told, all after
    commit.
    """
    reason = check_text(reason, field="reason", max_length=REASON_MAX_LENGTH, blank="Say why it is escalated.")
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
        emit_conversations(WebhookEvent.CONVERSATION_ESCALATED, [conversation.pk], at=now)
        notify_by_rules(NotificationEvent.ESCALATED, conversation_id=conversation.pk, reason=reason)
        alert = {"type": "alert", "op": "escalated", "id": conversation.pk}
        transaction.on_commit(lambda: realtime.send_event(alert, [realtime.SUPERVISORS_GROUP]))
    return conversation


def check_resolve_conversation(user: User, conversation: Conversation, *, disposition: str) -> Conversation:
    """Resolve by hand (HTML, API, admin): the conversation's agent, or a supervisor."""
    check_can_work(user, conversation)
    return do_resolve_conversation(conversation, actor=user, disposition=disposition)


def do_resolve_conversation(
    conversation: Conversation, *, actor: User | None, disposition: str, at: datetime | None = None
) -> Conversation:
    """The whole of resolving, whoever asks: the disposition, the transition, handle time, survey, webhook.

    ``disposition`` must be a :class:`Disposition`. Every open work session on
    the conversation closes (its handle time ends with the work), apps are
    told (``hooks.conversation_resolved``: responses invites the customer to
    the CSAT survey), and the ``conversation.resolved`` webhook goes out.
    """
    if disposition not in Disposition.values:
        raise Invalid("Choose how it ended.", fields={"disposition": ["Choose a disposition."]})
    now = at or timezone.now()
    with transaction.atomic():
        do_transition(
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
        close_all_work(conversation, at=now)
        hooks.conversation_resolved(conversation)
        emit_conversations(WebhookEvent.CONVERSATION_RESOLVED, [conversation.pk], at=now)
    return conversation


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
        changes={"closed_at": now, "waiting_since": None, "assigned_agent": None},
        value_seconds=_seconds(conversation.waiting_since, now),
        data={"reason": reason},
        require=(Q(first_response_at__isnull=True), "it was answered already"),
    )


def do_mark_sla_status(
    conversation: Conversation, status: str, *, priority: int, due: datetime | None, at: datetime
) -> bool:
    """The SLA watch's verdict on a conversation the customer waits on: at risk or breached.

    Sets the status and the raised ``priority`` unless the conversation moved
    on (no longer waited on, or already so marked: then False), writes the
    ledger row, and sends the ``sla.breached`` webhook for a breach. Replies
    set it back to ok (:func:`do_record_reply`).
    """
    with transaction.atomic():
        updated = (
            Conversation.objects.filter(pk=conversation.pk, state__in=SLA_WATCHED_STATES)
            .exclude(sla_status=status)
            .update(sla_status=status, priority=priority, updated_at=at)
        )
        if not updated:
            return False
        conversation.sla_status, conversation.priority = status, priority
        breached = status == SLAStatus.BREACHED
        record_event(
            EventKind.SLA_BREACHED if breached else EventKind.SLA_AT_RISK,
            at=at,
            conversation=conversation,
            agent=conversation.assigned_agent,
            value_seconds=_seconds(conversation.waiting_since, at),
            data={"due": due.isoformat() if due else None, "priority": priority},
        )
        if breached:
            emit_conversations(WebhookEvent.SLA_BREACHED, [conversation.pk], at=at)
    return True


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
