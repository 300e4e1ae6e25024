"""Escalation emails: who a notification rule emails, and what the email says.

An action that escalates, breaches or risks an SLA, or a spike announcement,
calls :func:`core.notifications.notify_by_rules` inside its
transaction; after commit a task (:func:`do_send_rule_notifications`) finds
the matching rules and enqueues one email per recipient address, each sent and
retried on its own, so a failing mail server never touches the action and a
retry never re-sends to someone already told.

Emails carry ids, the queue, the priority, the reason and a link: no customer
text at all (the subject never has any; the body at most the reason an agent
or the SLA watch wrote).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse

from core.models import Conversation
from core.roles import ADMIN, SUPERVISOR
from routing.models import CONVERSATION_NOTIFICATION_EVENTS, NotificationEvent, NotificationRule, parse_email_list

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "[Switchboard] "


def matching_rules(event: str, conversation: Conversation | None = None) -> list[NotificationRule]:
    """Enabled rules for ``event`` whose every set filter matches ``conversation`` (none for a spike)."""
    rules = NotificationRule.objects.filter(enabled=True).select_related("supervisors_of")
    # ``events`` is a small JSON list and rules are few; JSON containment is
    # not portable to SQLite, so the event is matched here.
    candidates = [rule for rule in rules if event in (rule.events or [])]
    if conversation is None:
        return [r for r in candidates if r.queue_id is None and r.team_id is None and r.min_priority is None]
    team_ids = _agent_team_ids(conversation)
    return [
        rule
        for rule in candidates
        if (rule.queue_id is None or rule.queue_id == conversation.queue_id)
        and (rule.team_id is None or rule.team_id in team_ids)
        and (rule.min_priority is None or conversation.priority >= rule.min_priority)
    ]


def _agent_team_ids(conversation: Conversation) -> set[int]:
    from agents.models import AgentProfile

    agents = [a for a in (conversation.assigned_agent_id, conversation.last_agent_id) if a is not None]
    teams = AgentProfile.objects.filter(user_id__in=agents, team__isnull=False).values_list("team_id", flat=True)
    return set(teams)


def recipient_addresses(rules: list[NotificationRule]) -> list[str]:
    """Every address the rules name, once each (case-insensitive), sorted."""
    if not rules:
        return []
    User = get_user_model()
    who = Q(pk__in=[u.pk for rule in rules for u in rule.users.all()])
    group_ids = [g.pk for rule in rules for g in rule.groups.all()]
    if group_ids:
        who |= Q(groups__in=group_ids)
    team_ids = [rule.supervisors_of_id for rule in rules if rule.supervisors_of_id is not None]
    if team_ids:
        supervises = Q(groups__name__in=(SUPERVISOR, ADMIN)) | Q(is_superuser=True)
        who |= Q(agent_profile__team__in=team_ids) & supervises
    users = User.objects.filter(who, is_active=True).exclude(email="").values_list("email", flat=True).distinct()
    addresses = {address.lower(): address for address in users}
    for rule in rules:
        for address in parse_email_list(rule.extra_emails):
            addresses.setdefault(address.lower(), address)
    return sorted(addresses.values(), key=str.lower)


def conversation_email(event: str, conversation: Conversation, reason: str) -> tuple[str, str]:
    """Subject and body about one conversation: ids, queue, priority, reason and a link."""
    label = dict(NotificationEvent.choices)[event]
    queue = conversation.queue.name if conversation.queue else "no queue"
    subject = f"{SUBJECT_PREFIX}{label}: conversation #{conversation.pk} ({queue}, priority {conversation.priority})"
    link = settings.SITE_URL + reverse("conversation", args=[conversation.pk])
    agent = conversation.assigned_agent.get_username() if conversation.assigned_agent else "nobody"
    lines = [
        f"{label}: conversation #{conversation.pk}.",
        "",
        f"Queue: {queue}",
        f"Priority: {conversation.priority}",
        f"Channel: {conversation.get_channel_display()}",
        f"State: {conversation.get_state_display()}",
        f"Agent: {agent}",
        f"SLA: {conversation.get_sla_status_display()}",
    ]
    if reason:
        lines.append(f"Reason: {reason}")
    lines += ["", f"Open it: {link}"]
    return subject, "\n".join(lines)


def spike_email(spike: dict[str, Any]) -> tuple[str, str]:
    category = spike.get("category") or "uncategorised"
    subject = f"{SUBJECT_PREFIX}Spike alert: {category} ({spike.get('hour', '')})"
    lines = [f"Inbound posts in the category {category!r} jumped in the last hour.", ""]
    if spike.get("volume_spike"):
        lines.append(f"Posts: {spike['total']} (usually {spike['total_baseline']:.1f})")
    if spike.get("negative_spike"):
        lines.append(f"Negative posts: {spike['negative']} (usually {spike['negative_baseline']:.1f})")
    lines += [f"Compared with the {spike.get('baseline', 'baseline')}.", "", f"Dashboard: {settings.SITE_URL}/"]
    return subject, "\n".join(lines)


def do_send_rule_notifications(
    event: str, conversation_id: int | None = None, reason: str = "", spike: dict[str, Any] | None = None
) -> int:
    """Enqueue one email per recipient of the rules matching ``event``; returns how many were enqueued.

    Runs after the action's commit (a task): the conversation is read again,
    and an event whose conversation is gone is dropped quietly.
    """
    from routing.tasks import send_notification_email  # tasks import this module

    if event in CONVERSATION_NOTIFICATION_EVENTS and conversation_id is not None:
        conversation = Conversation.objects.select_related("queue", "assigned_agent").filter(pk=conversation_id).first()
        if conversation is None:
            return 0
        rules = matching_rules(event, conversation)
        if not rules:
            return 0
        subject, body = conversation_email(event, conversation, reason)
    elif event == NotificationEvent.SPIKE and spike is not None:
        rules = matching_rules(event)
        if not rules:
            return 0
        subject, body = spike_email(spike)
    else:
        logger.warning("unknown notification event %r dropped", event)
        return 0
    addresses = recipient_addresses(rules)
    for address in addresses:
        try:
            send_notification_email.delay(address, subject, body)
        except Exception:
            # Eagerly run (no broker) the task has retried and given up already; it logged why.
            logger.warning("notification email to %s not sent", address, exc_info=True)
    return len(addresses)


def do_send_notification_email(address: str, subject: str, body: str) -> None:
    """Send one email through Django's email backend; raises on failure (the task retries)."""
    send_mail(subject, body, None, [address])
