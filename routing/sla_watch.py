"""The SLA watch: marks items at risk and in breach, raises their priority and applies the queue's breach step."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core import realtime
from core.actions import do_escalate_conversation, do_mark_sla_status, do_transfer_to_queue
from core.errors import Conflict
from core.models import SLA_WATCHED_STATES, Conversation, SLAStatus
from core.models import ConversationState as S
from core.notifications import notify_by_rules
from routing.models import BreachAction, NotificationEvent

logger = logging.getLogger(__name__)

AT_RISK_BOOST = 10
BREACH_BOOST = 20


def _due(conversation: Conversation) -> datetime | None:
    if conversation.first_response_at is None:
        return conversation.first_response_due
    return conversation.next_response_due if conversation.waiting_since else None


def do_watch_sla(now: datetime | None = None) -> int:
    """Check every conversation whose customer is waiting on us; returns how many changed status.

    At risk: the warning share of the time between the customer writing
    (``waiting_since``) and the due time has passed. Breached: the due time
    has passed. Each change raises priority (+10, +20; at most 100), writes a
    ledger row and tells supervisors at once; a breach then applies the
    queue's breach step (escalate, or move to the breach queue).
    """
    now = now or timezone.now()
    changed: list[tuple[Conversation, str]] = []
    candidates = (
        Conversation.objects.select_related("queue__sla_policy", "queue__breach_queue", "assigned_agent")
        .filter(state__in=SLA_WATCHED_STATES, waiting_since__isnull=False)
        .exclude(sla_status=SLAStatus.BREACHED)
    )
    for conversation in candidates.iterator(chunk_size=500):
        due = _due(conversation)
        if due is None or conversation.waiting_since is None:
            continue
        policy = conversation.queue.sla_policy if conversation.queue else None
        warning = (policy.warning_percent if policy else 75) / 100
        at_risk_from = conversation.waiting_since + (due - conversation.waiting_since) * warning
        status: str
        if now >= due:
            status = SLAStatus.BREACHED
        elif now >= at_risk_from and conversation.sla_status == SLAStatus.OK:
            status = SLAStatus.AT_RISK
        else:
            continue
        changed.append((conversation, status))
    for conversation, status in changed:
        _mark(conversation, status, now)
    if changed:
        ids = [c.pk for c, _ in changed]
        breached = [c.pk for c, s in changed if s == SLAStatus.BREACHED]
        event = {"type": "sla", "op": "changed", "ids": ids, "breached": breached}
        transaction.on_commit(lambda: realtime.send_event(event, [realtime.SUPERVISORS_GROUP]))
    return len(changed)


def _mark(conversation: Conversation, status: str, now: datetime) -> None:
    boost = BREACH_BOOST if status == SLAStatus.BREACHED else AT_RISK_BOOST
    due = _due(conversation)
    with transaction.atomic():
        if not do_mark_sla_status(
            conversation, status, priority=min(100, conversation.priority + boost), due=due, at=now
        ):
            return
        notify_by_rules(
            NotificationEvent.SLA_BREACHED if status == SLAStatus.BREACHED else NotificationEvent.SLA_AT_RISK,
            conversation_id=conversation.pk,
            reason=f"SLA {'breached' if status == SLAStatus.BREACHED else 'at risk'}; response due {due.isoformat()}"
            if due
            else "",
        )
    if status != SLAStatus.BREACHED or conversation.queue is None:
        return
    queue = conversation.queue
    try:
        if queue.breach_action == BreachAction.ESCALATE and not conversation.escalated:
            do_escalate_conversation(conversation, actor=None, reason="SLA breached")
        elif queue.breach_action == BreachAction.MOVE and queue.breach_queue and conversation.state == S.QUEUED:
            do_transfer_to_queue(conversation, queue.breach_queue, actor=None, reason="SLA breached")
    except Conflict:
        logger.info("conversation %s moved on before its breach step", conversation.pk)
