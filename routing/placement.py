"""Where a new conversation goes, decided before it is stored: routing rules, SLA clock, stickiness.

The first enabled rule (by ``order``) whose every set condition matches picks
the queue, adds its extra skills and boosts the priority; with no match the
default queue takes it. The first-response deadline runs from when the
customer wrote, in the queue's business hours. A customer who writes again
within the queue's sticky window is marked for their previous agent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from core.models import Contact, Identity
from core.posts import InboundPost, Triage
from routing.models import Queue, RoutingRule
from routing.sla import QueueClock


@dataclass(frozen=True)
class ContactFacts:
    contact_id: int | None = None
    is_vip: bool = False
    tags: tuple[str, ...] = ()
    last_agent_id: int | None = None
    last_agent_at: Any = None


@dataclass
class _Rule:
    rule: RoutingRule
    extra_skills: list[tuple[int, int]]
    extra_skill_names: list[str]

    def matches(self, post: InboundPost, triage: Triage, facts: ContactFacts) -> bool:
        r = self.rule
        return (
            (not r.channel or r.channel == post.channel)
            and (r.account_id is None or r.account_id == post.account_id)
            and (r.listening_query_id is None or r.listening_query_id == post.query_id)
            and (not r.category or r.category == triage.category)
            and (not r.language or r.language == triage.language)
            and (not r.sentiment or r.sentiment == triage.sentiment)
            and (r.min_priority is None or triage.priority >= r.min_priority)
            and (r.max_priority is None or triage.priority <= r.max_priority)
            and (r.contact_vip is None or r.contact_vip == facts.is_vip)
            and (not r.contact_tag or r.contact_tag in facts.tags)
        )


class Placer:
    """Rules, queues and calendars loaded once, then many placements decided in memory."""

    def __init__(self) -> None:
        self.rules = [
            _Rule(
                rule,
                [(s.pk, rule.extra_skill_level) for s in rule.extra_skills.all()],
                [s.name for s in rule.extra_skills.all()],
            )
            for rule in RoutingRule.objects.filter(enabled=True)
            .select_related("queue")
            .prefetch_related("extra_skills")
        ]
        self.queues = {
            q.pk: q for q in Queue.objects.select_related("sla_policy").prefetch_related("sla_policy__holidays")
        }
        self.default = next((q for q in self.queues.values() if q.is_default), None)
        self.clock = QueueClock().with_queues(self.queues.values())

    def place(self, post: InboundPost, triage: Triage, facts: ContactFacts) -> Triage:
        if triage.filtered_reason:
            return triage
        chosen = next((r for r in self.rules if r.matches(post, triage, facts)), None)
        queue = self.queues.get(chosen.rule.queue_id) if chosen else self.default
        if queue is None:
            return triage  # no default queue: stays new, and routing logs it
        skills = dict(triage.skills)
        boost = 0
        if chosen is not None:
            for skill_id, level in chosen.extra_skills:
                skills[skill_id] = max(skills.get(skill_id, 0), level)
            boost = chosen.rule.priority_boost
        sent_at = min(post.sent_at, timezone.now())
        due = self.clock.first_response_due(queue.pk, sent_at)
        preferred = None
        if facts.last_agent_id and facts.last_agent_at:
            if facts.last_agent_at >= timezone.now() - timedelta(hours=queue.sticky_window_hours):
                preferred = facts.last_agent_id
        return dataclasses.replace(
            triage,
            skills=tuple(sorted(skills.items())),
            priority=max(0, min(100, triage.priority + boost)),
            queue_id=queue.pk,
            first_response_due=due,
            preferred_agent_id=preferred,
            placement={
                "rule": chosen.rule.name if chosen else None,
                "queue": queue.name,
                "extra_skills": chosen.extra_skill_names if chosen else [],
                "priority_boost": boost,
                "preferred_agent_id": preferred,
            },
        )


def contact_facts(posts: Sequence[InboundPost]) -> dict[tuple[str, str], ContactFacts]:
    """What routing needs to know of each known author (VIP, tags, their last agent), in two queries."""
    keys = {(p.author.platform, p.author.external_id) for p in posts}
    by_platform: dict[str, list[str]] = {}
    for platform, external_id in keys:
        by_platform.setdefault(platform, []).append(external_id)
    contact_of: dict[tuple[str, str], int] = {}
    for platform, external_ids in by_platform.items():
        for external_id, contact_id in Identity.objects.filter(
            platform=platform, external_id__in=external_ids
        ).values_list("external_id", "contact_id"):
            contact_of[(platform, external_id)] = contact_id
    if not contact_of:
        return {}
    contacts = {
        c["pk"]: c
        for c in Contact.objects.filter(pk__in=set(contact_of.values())).values(
            "pk", "is_vip", "tags", "last_agent_id", "last_agent_at"
        )
    }
    facts = {}
    for key, contact_id in contact_of.items():
        contact: dict[str, Any] = dict(contacts.get(contact_id) or {})
        tags = tuple(t for t in contact.get("tags") or [] if isinstance(t, str))
        facts[key] = ContactFacts(
            contact_id, bool(contact.get("is_vip")), tags, contact.get("last_agent_id"), contact.get("last_agent_at")
        )
    return facts


def place_all(posts: Sequence[InboundPost], triages: Sequence[Triage]) -> list[Triage]:
    """Each post's triage with its queue, skills, priority, SLA deadline and preferred agent."""
    if not posts:
        return []
    placer = Placer()
    facts = contact_facts(posts)
    empty = ContactFacts()
    return [
        placer.place(post, triage, facts.get((post.author.platform, post.author.external_id), empty))
        for post, triage in zip(posts, triages, strict=True)
    ]
