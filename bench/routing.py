"""``bench routing``: 500 agents, 50 skills, 20,000 queued items, routed to completion.

Setup (not timed) inserts agents with five random skills each, ten queues
(some with skill requirements and an overflow step), and the queued backlog
with priorities, SLA due times, channels of weight 1 and 2, and per-item
skills. The timed part runs routing passes — as the periodic sweep does —
until a pass assigns nothing more, with ``--workers`` router processes at
once on PostgreSQL. Then it checks what matters: no item assigned twice, no
agent over capacity.

``decision_ms``: the time to choose the agent for one item (eligibility and
score over the snapshot), per item. ``assignments_per_second``: items
assigned per second of wall time, database writes included.
"""

from __future__ import annotations

import multiprocessing
import random
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models import Count, F, Sum
from django.utils import timezone

from agents.models import AgentProfile, AgentSkill, Presence
from bench.table import Target
from core.bulk import insert_dicts
from core.models import Channel, Contact, Conversation, ConversationSkill, ConversationState, Event
from routing.actions import do_route_queued
from routing.models import ChannelWeight, OverflowKind, OverflowStep, Queue, QueueSkill, Skill, SLAPolicy

TARGETS = [
    Target("assignments_per_second", ">=", 1000, "/s"),
    Target("decision_ms_p99", "<=", 10, "ms"),
    Target("double_assignments", "==", 0),
    Target("capacity_violations", "==", 0),
]
QUICK_ARGS = ["--agents", "20", "--skills", "5", "--items", "200", "--workers", "1"]


def run(options: dict[str, Any]) -> dict[str, Any]:
    agents, skills, items = options.get("agents", 500), options.get("skills", 50), options.get("items", 20_000)
    workers = max(1, options.get("workers", 1))
    if connection.vendor == "sqlite":
        workers = 1  # one writer
    _setup(agents, skills, items, random.Random(7))
    connections.close_all()

    start = time.perf_counter()
    if workers == 1:
        results = [_route_all()]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_route_all_in_child, range(workers)))
    seconds = time.perf_counter() - start

    decisions = sorted(d for r in results for d in r["decisions"])
    assigned = sum(r["assigned"] for r in results)
    double = (
        Event.objects.filter(kind="assigned").values("conversation_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    loads = (
        Conversation.objects.filter(state__in=[ConversationState.ASSIGNED, ConversationState.WAITING])
        .values("assigned_agent_id")
        .annotate(load=Sum("weight"))
    )
    capacity = dict(AgentProfile.objects.values_list("user_id", "capacity"))
    violations = sum(1 for row in loads if row["load"] > capacity[row["assigned_agent_id"]])
    return {
        "agents": agents,
        "skills": skills,
        "items": items,
        "workers": workers,
        "assignments": assigned,
        "still_queued": Conversation.objects.filter(state=ConversationState.QUEUED).count(),
        "seconds": round(seconds, 3),
        "assignments_per_second": round(assigned / seconds, 1),
        "decision_ms_p50": round(1000 * statistics.median(decisions), 3) if decisions else None,
        "decision_ms_p99": round(1000 * decisions[int(0.99 * (len(decisions) - 1))], 3) if decisions else None,
        "double_assignments": double,
        "capacity_violations": violations,
    }


def _route_all() -> dict[str, Any]:
    stats = do_route_queued(max_passes=10_000, limit=500)
    return {"assigned": stats.assigned, "decisions": stats.decision_seconds}


def _route_all_in_child(_: int) -> dict[str, Any]:
    try:
        return _route_all()
    finally:
        connections.close_all()


def _setup(agent_count: int, skill_count: int, item_count: int, rng: random.Random) -> None:
    now = timezone.now()
    skills = Skill.objects.bulk_create([Skill(name=f"skill-{i:02d}") for i in range(skill_count)])
    policy = SLAPolicy.objects.create(name="Bench", first_response_seconds=3600, next_response_seconds=3600)
    queues = Queue.objects.bulk_create(
        [Queue(name=f"Queue {i}", sla_policy=policy, is_default=i == 0, sticky_wait_seconds=0) for i in range(10)]
    )
    for queue in queues[1:6]:
        QueueSkill.objects.create(queue=queue, skill=rng.choice(skills), min_level=rng.randint(1, 3))
        OverflowStep.objects.create(queue=queue, after_seconds=600, kind=OverflowKind.LOWER_LEVEL, level_drop=2)
    for channel in (Channel.X_DM, Channel.FACEBOOK_MESSENGER):
        ChannelWeight.objects.create(channel=channel, weight=2)

    User = get_user_model()
    # "!" is Django's unusable password: bench agents can never log in.
    users = User.objects.bulk_create([User(username=f"bench-agent-{i}", password="!") for i in range(agent_count)])  # noqa: S106
    # Capacity enough for the whole backlog, so every item can be placed.
    capacity = max(1, -(-item_count * 3 // 2 // agent_count))
    profiles = AgentProfile.objects.bulk_create(
        [AgentProfile(user=user, capacity=min(100, capacity), presence=Presence.AVAILABLE) for user in users]
    )
    AgentSkill.objects.bulk_create(
        [
            AgentSkill(agent=profile, skill=skill, level=rng.randint(1, 10))
            for profile in profiles
            for skill in rng.sample(skills, 5)
        ]
    )
    contact = Contact.objects.create(display_name="Bench customer")
    channels = [Channel.X_PUBLIC, Channel.X_DM, Channel.FACEBOOK_PUBLIC, Channel.FACEBOOK_MESSENGER]
    rows = []
    for i in range(item_count):
        queued_at = now - timedelta(seconds=rng.randint(0, 900))
        rows.append(
            {
                "contact_id": contact.pk,
                "channel": rng.choice(channels),
                "thread_key": f"bench-{i}",
                "subject": "Bench item",
                "state": ConversationState.QUEUED,
                "priority": rng.randint(0, 100),
                "queue_id": rng.choice(queues).pk,
                "created_at": queued_at,
                "queued_at": queued_at,
                "waiting_since": queued_at,
                "first_response_due": queued_at + timedelta(seconds=3600),
                "updated_at": queued_at,
            }
        )
    ids = insert_dicts(Conversation, rows)
    insert_dicts(
        ConversationSkill,
        [
            {"conversation_id": pk, "skill_id": skill.pk, "min_level": rng.randint(1, 3)}
            for pk in ids
            for skill in rng.sample(skills, rng.choice([0, 0, 0, 1, 1, 2]))
        ],
        returning_ids=False,
    )
    Conversation.objects.filter(pk__in=ids).update(updated_at=F("created_at"))
