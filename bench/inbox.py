"""``bench inbox``: the agent console's two busiest pages, for 100 agents with 50 open conversations each.

Setup (not timed) inserts the agents, each with ``--per-agent`` assigned
conversations. Every conversation has its own customer (a contact with an X
identity), three messages (the customer, our reply, the customer again) and
its ledger rows. One more agent, the yardstick, has five conversations, one
of them thirty messages long.

The timed part renders, in-process with Django's test client, every agent's
``/inbox/`` and, as their agent, the conversation page of ``--sample``
conversations picked at random. Each figure is one request's server-side
time (middleware, view, queries, template; no network, no browser) measured
around ``client.get``, and the queries it made. Template compilation is
warmed up first, as it would be in a running server. The slowest requests
are mostly those a full cyclic garbage collection ran in, so the time the
collector took is reported, and the p99 without it.

``queries_constant``: the yardstick's inbox (5 conversations) makes as many
queries as a 50-conversation inbox, and its conversation page as many for 30
messages as for 3. A page whose count grows with its rows has an N+1.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from agents.models import AgentProfile, Presence
from bench.table import Target
from core.bulk import insert_dicts
from core.models import (
    Channel,
    Contact,
    Conversation,
    Delivery,
    Direction,
    Event,
    EventKind,
    Identity,
    Message,
    Platform,
)
from core.models import ConversationState as S
from core.roles import AGENT
from routing.models import Queue, SLAPolicy

CUSTOMER_TEXTS = [
    "@northwind_help my broadband has been down since this morning, any news?",
    "@northwind_help why was I charged twice this month? order 55821",
    "@northwind_help the outage map says fixed but I'm still offline in Leeds",
    "@northwind_help engineer never showed up, I took the day off for this",
    "@northwind_help how do I move my contract to my new address?",
]
AGENT_TEXTS = [
    "Sorry about this! Could you DM us your account number so we can check the line?",
    "Thanks for waiting, we can see the double charge and have refunded it.",
    "An engineer is on the way; we'll update you here within the hour.",
]
NAMES = ["Priya K", "Dana White", "Tomás Ruiz", "Mei Chen", "Olu Adeyemi", "Sven Berg", "Aisha Noor"]
TRIAGE = {
    "priority": {"factors": [{"factor": "negative sentiment", "points": 15}, {"factor": "followers", "points": 5}]},
    "category": {"rule": "Billing words"},
}
MESSAGE_GAP = timedelta(minutes=2)


@dataclass
class Sample:
    ms: float
    queries: int
    gc_ms: float
    """Of ``ms``, the time the cyclic garbage collector held the request up."""


@dataclass
class Dataset:
    agents: list[Any]
    yardstick: Any
    conversations: list[tuple[int, int]] = field(default_factory=list)
    """(conversation id, agent id) of the agents' (not the yardstick's) conversations."""
    short_id: int = 0  # the yardstick's 3-message conversations
    long_id: int = 0  # and its 30-message one
    warm_up_id: int = 0
    messages: int = 0
    events: int = 0


TARGETS = [
    Target("inbox_ms_p99", "<=", 50, "ms"),
    Target("conversation_ms_p99", "<=", 50, "ms"),
]
QUICK_ARGS = ["--inbox-agents", "3", "--per-agent", "5", "--sample", "5"]


def run(options: dict[str, Any]) -> dict[str, Any]:
    agent_count = options.get("inbox_agents", 100)
    per_agent = options.get("per_agent", 50)
    sample_size = options.get("sample", 200)
    if agent_count < 1 or per_agent < 1 or sample_size < 1:
        raise ValueError("--inbox-agents, --per-agent and --sample must be at least 1.")
    rng = random.Random(11)
    start = time.perf_counter()
    data = _setup(agent_count, per_agent, rng)
    setup_seconds = time.perf_counter() - start
    users = {user.pk: user for user in [*data.agents, data.yardstick]}

    # Django's test client says it is "testserver"; this is not a test run, so allow it here.
    with override_settings(ALLOWED_HOSTS=["testserver"]), Pages(Client()) as page:
        page.get(data.yardstick, "/inbox/")  # warm-up: templates compiled, URLs resolved
        page.get(data.yardstick, f"/conversations/{data.warm_up_id}/")
        gc.collect()  # the setup's garbage is not the pages' to collect
        inbox = [page.get(agent, "/inbox/") for agent in data.agents]
        picked = rng.sample(data.conversations, min(sample_size, len(data.conversations)))
        conversation = [page.get(users[agent_id], f"/conversations/{pk}/") for pk, agent_id in picked]
        small_inbox = page.get(data.yardstick, "/inbox/")
        short = page.get(data.yardstick, f"/conversations/{data.short_id}/")
        long = page.get(data.yardstick, f"/conversations/{data.long_id}/")

    inbox_ms = sorted(s.ms for s in inbox)
    conversation_ms = sorted(s.ms for s in conversation)
    large_inbox_queries = {s.queries for s in inbox}
    return {
        "agents": agent_count,
        "conversations_per_agent": per_agent,
        "conversations": len(data.conversations) + 5,
        "messages": data.messages,
        "ledger_rows": data.events,
        "setup_seconds": round(setup_seconds, 2),
        "inbox_requests": len(inbox),
        "inbox_ms_p50": round(statistics.median(inbox_ms), 2),
        "inbox_ms_p99": _p99(inbox_ms),
        "inbox_ms_max": round(inbox_ms[-1], 2),
        "conversation_requests": len(conversation),
        "conversation_ms_p50": round(statistics.median(conversation_ms), 2),
        "conversation_ms_p99": _p99(conversation_ms),
        "conversation_ms_max": round(conversation_ms[-1], 2),
        # The slowest requests are mostly those a full garbage collection ran in.
        "gc_ms_max": round(max(s.gc_ms for s in [*inbox, *conversation]), 2),
        "inbox_ms_p99_without_gc": _p99(sorted(s.ms - s.gc_ms for s in inbox)),
        "conversation_ms_p99_without_gc": _p99(sorted(s.ms - s.gc_ms for s in conversation)),
        "queries_per_page": {
            "inbox": max(s.queries for s in inbox),
            "conversation": max(s.queries for s in conversation),
        },
        "queries_by_size": {
            "inbox": {
                "yardstick, 5 conversations": small_inbox.queries,
                f"agents, {per_agent} conversations": sorted(large_inbox_queries),
            },
            "conversation": {"3 messages": short.queries, "30 messages": long.queries},
        },
        "queries_constant": large_inbox_queries == {small_inbox.queries} and short.queries == long.queries,
        # Timings are wall time on a shared machine: a load over the CPU count inflates them.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _p99(ordered: list[float]) -> float:
    return round(ordered[int(0.99 * (len(ordered) - 1))], 2)


class Pages:
    """GETs through Django's test client as a given user: the time around ``client.get``, and the queries."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.user_id: int | None = None
        self.gc_started: float | None = None
        self.gc_seconds = 0.0

    def __enter__(self) -> Pages:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.gc_started = time.perf_counter()
        elif self.gc_started is not None:
            self.gc_seconds += time.perf_counter() - self.gc_started
            self.gc_started = None

    def get(self, user: Any, path: str) -> Sample:
        if user.pk != self.user_id:
            self.client.force_login(user)
            self.user_id = user.pk
        with CaptureQueriesContext(connection) as queries:
            self.gc_seconds = 0.0
            start = time.perf_counter()
            response = self.client.get(path)
            elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} as {user.username} answered {response.status_code}")
        return Sample(ms=1000 * elapsed, queries=len(queries), gc_ms=1000 * self.gc_seconds)


def _setup(agent_count: int, per_agent: int, rng: random.Random) -> Dataset:
    now = timezone.now()
    policy = SLAPolicy.objects.create(name="Bench", first_response_seconds=3600, next_response_seconds=1800)
    queue = Queue.objects.create(name="Bench", is_default=True, sla_policy=policy)
    User = get_user_model()
    # "!" is Django's unusable password: bench agents can never log in.
    users = User.objects.bulk_create(
        [
            User(username=f"bench-agent-{i}", first_name=f"Agent{i}", last_name="Bench", password="!")  # noqa: S106
            for i in range(agent_count + 1)
        ]
    )
    group = Group.objects.filter(name=AGENT).first()
    if group is not None:
        User.groups.through.objects.bulk_create([User.groups.through(user_id=u.pk, group_id=group.pk) for u in users])
    AgentProfile.objects.bulk_create(
        [AgentProfile(user=u, capacity=100, presence=Presence.AVAILABLE, presence_since=now) for u in users]
    )
    agents, yardstick = users[:-1], users[-1]
    # (agent, message count) per conversation; the yardstick's first is the long one.
    plan = [(agent.pk, 3) for agent in agents for _ in range(per_agent)]
    plan += [(yardstick.pk, 30), *[(yardstick.pk, 3)] * 4]

    names = [f"{rng.choice(NAMES)} {i}" for i in range(len(plan))]
    contact_ids = insert_dicts(
        Contact, [{"display_name": name, "is_vip": i % 40 == 0, "created_at": now} for i, name in enumerate(names)]
    )
    identity_ids = insert_dicts(
        Identity,
        [
            {
                "contact_id": contact_id,
                "platform": Platform.X,
                "external_id": str(5_000_000 + i),
                "handle": f"customer{i}",
                "display_name": names[i],
                "followers_count": rng.randint(0, 5000),
                "created_at": now,
            }
            for i, contact_id in enumerate(contact_ids)
        ],
    )

    starts = [now - MESSAGE_GAP * count - timedelta(seconds=rng.randint(60, 7200)) for _, count in plan]
    conversation_ids = insert_dicts(
        Conversation,
        [
            _conversation(i, agent_id, count, contact_ids[i], queue.pk, starts[i], rng)
            for i, (agent_id, count) in enumerate(plan)
        ],
    )
    message_rows: list[dict[str, Any]] = []
    for i, (agent_id, count) in enumerate(plan):
        message_rows += _messages(i, agent_id, count, conversation_ids[i], identity_ids[i], starts[i], rng)
    message_ids = insert_dicts(Message, message_rows)
    event_rows = _events(plan, conversation_ids, starts, message_rows, message_ids, queue.pk)
    insert_dicts(Event, event_rows, returning_ids=False)

    main = len(agents) * per_agent
    return Dataset(
        agents=list(agents),
        yardstick=yardstick,
        conversations=[(conversation_ids[i], plan[i][0]) for i in range(main)],
        long_id=conversation_ids[main],
        short_id=conversation_ids[main + 1],
        warm_up_id=conversation_ids[main + 4],
        messages=len(message_rows),
        events=len(event_rows),
    )


def _thread_key(index: int) -> str:
    return str(1_862_000_000_000_000_000 + index * 100)


def _conversation(
    index: int, agent_id: int, count: int, contact_id: int, queue_id: int, start: datetime, rng: random.Random
) -> dict[str, Any]:
    last = start + MESSAGE_GAP * (count - 1)
    customer_last = count % 2 == 1  # messages alternate, the customer's first
    last_inbound = last if customer_last else last - MESSAGE_GAP
    return {
        "contact_id": contact_id,
        "channel": Channel.X_PUBLIC,
        "thread_key": _thread_key(index),
        "subject": CUSTOMER_TEXTS[index % len(CUSTOMER_TEXTS)][:200],
        "state": S.ASSIGNED if customer_last else S.WAITING,
        "priority": rng.randint(0, 100),
        "category": rng.choice(["billing", "outage", "account", ""]),
        "sentiment": rng.choice(["negative", "neutral", "positive"]),
        "sentiment_score": round(rng.uniform(-1, 1), 2),
        "language": "en",
        "queue_id": queue_id,
        "assigned_agent_id": agent_id,
        "weight": 1,
        "first_response_due": start + timedelta(hours=1),
        "next_response_due": last_inbound + timedelta(minutes=30) if customer_last and count > 1 else None,
        "waiting_since": last_inbound if customer_last else None,
        "first_response_at": start + MESSAGE_GAP if count > 1 else None,
        "last_inbound_at": last_inbound,
        "created_at": start,
        "queued_at": start,
        "assigned_at": start + timedelta(seconds=30),
        "updated_at": last,
    }


def _messages(
    index: int, agent_id: int, count: int, conversation_id: int, identity_id: int, start: datetime, rng: random.Random
) -> list[dict[str, Any]]:
    rows = []
    previous = ""
    for k in range(count):
        external_id = str(int(_thread_key(index)) + k)
        at = start + MESSAGE_GAP * k
        inbound = k % 2 == 0
        text = rng.choice(CUSTOMER_TEXTS) if inbound else rng.choice(AGENT_TEXTS)
        row: dict[str, Any] = {
            "conversation_id": conversation_id,
            "direction": Direction.INBOUND if inbound else Direction.OUTBOUND,
            "platform": Platform.X,
            "external_id": external_id,
            "in_reply_to_external_id": previous,
            "text": text,
            "is_public": True,
            "sent_at": at,
            "received_at": at,
            "raw": {"id_str": external_id, "text": text} if inbound else {},
            "triage": TRIAGE if k == 0 else {},
        }
        if inbound:
            row["author_identity_id"] = identity_id
        else:
            row |= {
                "author_agent_id": agent_id,
                "delivery": Delivery.SENT,
                "idempotency_key": uuid.UUID(int=rng.getrandbits(128)),
                "posted_at": at,
                "delivery_attempts": 1,
            }
        rows.append(row)
        previous = external_id
    return rows


def _events(
    plan: list[tuple[int, int]],
    conversation_ids: list[int],
    starts: list[datetime],
    message_rows: list[dict[str, Any]],
    message_ids: list[int],
    queue_id: int,
) -> list[dict[str, Any]]:
    """The ledger as the actions write it: captured, queued, assigned, then one row per reply."""
    rows = []
    cursor = 0
    for (agent_id, count), conversation_id, start in zip(plan, conversation_ids, starts, strict=True):
        common = {"conversation_id": conversation_id, "channel": Channel.X_PUBLIC, "queue_id": queue_id}
        rows += [
            {**common, "kind": EventKind.CAPTURED, "at": start},
            {**common, "kind": EventKind.QUEUED, "at": start, "data": {"queue": "Bench", "rule": "default queue"}},
            {
                **common,
                "kind": EventKind.ASSIGNED,
                "at": start + timedelta(seconds=30),
                "agent_id": agent_id,
                "value_seconds": 30.0,
                "data": {"reason": {"why": "longest idle of the eligible agents", "eligible": 12}},
            },
        ]
        for k in range(1, count):
            message, message_id = message_rows[cursor + k], message_ids[cursor + k]
            at = message["sent_at"]
            if message["direction"] == Direction.OUTBOUND:
                if k == 1:
                    rows.append({**common, "kind": EventKind.FIRST_RESPONSE, "at": at, "agent_id": agent_id})
                kind = EventKind.REPLY
                data = {"message_id": message_id}
            else:
                kind, data = EventKind.CUSTOMER_REPLY, {}
            rows.append({**common, "kind": kind, "at": at, "agent_id": agent_id, "value_seconds": 120.0, "data": data})
        cursor += count
    return rows
