"""``bench reports``: every KPI report over 30 days of a 90-day, 1,000,000-conversation ledger, and the live dashboard.

Setup (not timed) writes a contact center's history as its actions would
have: ``--conversations`` conversations (default 1,000,000 on PostgreSQL,
20,000 on SQLite) created over ``--days`` days (busier on weekdays and in
office hours), on four channels, in eight queues, with categories,
sentiments and 60 agents in three teams. Each conversation's life is played
forward from its first post and cut off at "now", so recent ones are still
open (a backlog of a few thousand) and the rest resolved or closed. Its
ledger rows carry what the real actions write (``contactcenter/core``,
``capture.py`` and ``actions.py``): ``captured`` and ``queued`` (the queue,
no agent), ``assigned`` (queue entry → assignment), ``first_response`` with
``data.since_post_seconds`` and a ``reply`` for each answer,
``customer_reply``, ``work`` and ``wrap_up`` sessions, ``transferred``,
``escalated``, ``sla_breached``, ``resolved`` (with its disposition),
``reopened``, ``closed``, ``abandoned`` and ``csat``; ``filtered`` posts have
no conversation. ``channel`` and ``queue`` are copied onto every row, as
``record_event`` does. Agents' presence changes give agent time.

Messages are written only where a report or the dashboard reads them: posts
found by a listening query (the listening report) and the inbound posts of
the last day (the dashboard's spike samples). Ledger ``data`` keeps its keys
but omits ids of rows that were not generated (``message_id``).

On PostgreSQL the rows go in with COPY, the ledger's indexes are built after
the load, and the tables are vacuumed and analysed, as autovacuum would have
left them. With ``--keep-db`` the scratch database is kept, and a later run
with the same parameters finds it populated (a marker contact holds the
parameters and the generation time) and skips straight to the timing.

Then (untimed, as the ``roll-up-ledger`` task would have done hour by hour)
the ledger is summed into the hourly rollup the reports read
(``reporting.rollup``): ``rollup_build_seconds`` (``None`` for a kept
dataset already rolled up) and ``rollup_rows``. ``rollup_refresh_seconds``
times one periodic run, which sums the last FCR window again: the background
cost of keeping the rollup current.

The timed part runs, through ``ReportForm(...).run`` as the page and the API
do, every report of ``reporting.forms.REPORTS`` for the last
``--window-days`` days (default 30) grouped by day and channel: one warm-up,
then ``--repeat`` runs (default 5), median. ``report_ms`` is the slowest
report's median, ``reports_ms`` each one's. ``dashboard_ms`` is the median of
``reporting.dashboard.dashboard(now)`` (every figure of the live dashboard),
``dashboard_queries`` its query count; ``live_view_ms`` adds the rest of what
the live overview reads (the open list and the counts by state).
"""

from __future__ import annotations

import bisect
import io
import json
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import AgentProfile, Presence, PresenceChange, Team
from bench.table import Target
from core.bulk import insert_rows
from core.models import (
    Channel,
    Contact,
    Conversation,
    Direction,
    Event,
    EventKind,
    Message,
    Sentiment,
    SLAStatus,
)
from core.models import ConversationState as S
from core.queries import live_conversations, state_counts
from monitoring.models import ListeningQuery, SocialAccount
from reporting import rollup
from reporting.dashboard import dashboard
from reporting.forms import REPORTS, ReportForm
from reporting.models import LedgerHour
from routing.models import Queue, SLAPolicy

DEFAULT_CONVERSATIONS = {"postgresql": 1_000_000}
DEFAULT_CONVERSATIONS_OTHER = 20_000
CHUNK = 25_000
MARKER_NAME = "bench reports dataset"
FIRST_RESPONSE_TARGET = 3600.0
AGENTS = 60

CHANNELS = [
    (Channel.X_PUBLIC, 35),
    (Channel.X_DM, 20),
    (Channel.FACEBOOK_PUBLIC, 25),
    (Channel.FACEBOOK_MESSENGER, 20),
]
QUEUES = [  # name, share, category, language
    ("General", 30, "question", "en"),
    ("Billing", 18, "billing", "en"),
    ("Outages", 12, "outage", "en"),
    ("Sales", 8, "sales", "en"),
    ("Praise", 7, "praise", "en"),
    ("Spanish", 10, "question", "es"),
    ("VIP", 5, "complaint", "en"),
    ("Escalations", 10, "complaint", "en"),
]
SENTIMENTS = [(Sentiment.NEGATIVE, 30), (Sentiment.NEUTRAL, 45), (Sentiment.POSITIVE, 20), ("", 5)]
DISPOSITIONS = [("answered", 60), ("resolved_first_contact", 25), ("dispatched", 5), ("no_action", 7), ("spam", 3)]
# Share of posts per hour of day (office hours are busy) and per weekday (Monday first).
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 8, 9, 10, 10, 9, 8, 6, 5, 4, 3, 2, 1]
WEEKDAY_WEIGHTS = [10, 10, 9, 9, 8, 5, 4]
CSAT_SCORES = [(1, 8), (2, 7), (3, 15), (4, 30), (5, 40)]

EVENT_FIELDS = [
    "kind",
    "at",
    "conversation",
    "agent",
    "channel",
    "queue",
    "value_seconds",
    "value",
    "data",
    "since_post_seconds",
]
CONVERSATION_FIELDS = [
    "id",
    "contact",
    "channel",
    "thread_key",
    "subject",
    "state",
    "priority",
    "category",
    "sentiment",
    "sentiment_score",
    "language",
    "queue",
    "assigned_agent",
    "last_agent",
    "preferred_agent",
    "weight",
    "sla_status",
    "escalated",
    "first_response_due",
    "next_response_due",
    "waiting_since",
    "first_response_at",
    "last_inbound_at",
    "created_at",
    "queued_at",
    "assigned_at",
    "resolved_at",
    "closed_at",
    "updated_at",
    "disposition",
]
MESSAGE_FIELDS = [
    "conversation",
    "direction",
    "platform",
    "external_id",
    "in_reply_to_external_id",
    "text",
    "is_public",
    "sent_at",
    "received_at",
    "raw",
    "account",
    "listening_query",
    "filtered_reason",
    "triage",
    "edit_history",
    "delivery",
    "delivery_error",
    "delivery_attempts",
]
TEXTS = {
    Sentiment.NEGATIVE: "My internet has been down all morning, this is the third time this week",
    Sentiment.NEUTRAL: "How do I change the address on my account?",
    Sentiment.POSITIVE: "Thanks, the technician fixed it in ten minutes!",
    "": "hola",
}


# --- Parameters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    conversations: int
    days: int
    seed: int

    def as_text(self) -> str:
        return json.dumps({"conversations": self.conversations, "days": self.days, "seed": self.seed})


def _params(options: dict[str, Any]) -> Params:
    conversations = options.get("conversations")
    if conversations is None:
        conversations = DEFAULT_CONVERSATIONS.get(connection.vendor, DEFAULT_CONVERSATIONS_OTHER)
    days = options.get("days") or 90
    if conversations < 1 or days < 1:
        raise ValueError("--conversations and --days must be positive.")
    return Params(conversations=conversations, days=days, seed=options.get("seed") or 6)


# --- The run ------------------------------------------------------------------------------------


TARGETS = [
    Target("report_ms", "<=", 500, "ms"),
    Target("dashboard_ms", "<=", 50, "ms"),
]
QUICK_ARGS = ["--conversations", "2000", "--repeat", "1"]


def run(options: dict[str, Any]) -> dict[str, Any]:
    params = _params(options)
    window_days = options.get("window_days") or 30
    repeat = max(1, options.get("repeat") or 5)
    if window_days < 1:
        raise ValueError("--window-days must be positive.")

    started = time.perf_counter()
    existing = _existing_dataset(params)
    if existing is None:
        generated = generate(params)
        now, reused = generated.now, False
    else:
        now, reused = existing, True
    generation_seconds = time.perf_counter() - started
    rolled = _roll_up(now)

    ledger_rows = Event.objects.count()
    conversations = Conversation.objects.count()
    figures = time_reports(now, window_days=window_days, repeat=repeat)
    return {
        "rows": ledger_rows,
        "conversations": conversations,
        "open_conversations": Conversation.objects.filter(state__in=[S.NEW, S.QUEUED, S.ASSIGNED, S.WAITING]).count(),
        "messages": Message.objects.count(),
        "presence_changes": PresenceChange.objects.count(),
        "window_days": window_days,
        "repeat": repeat,
        "reused_dataset": reused,
        "generation_seconds": round(generation_seconds, 1),
        **rolled,
        **figures,
    }


def time_reports(now: datetime, *, window_days: int, repeat: int) -> dict[str, Any]:
    """Median milliseconds of every report (by day and channel over the window ending ``now``) and the dashboard."""
    today = timezone.localtime(now).date()
    query = {
        "start": (today - timedelta(days=window_days - 1)).isoformat(),
        "end": today.isoformat(),
        "group_by": "day",
        "by_channel": "true",
    }
    reports_ms: dict[str, float] = {}
    report_rows: dict[str, int] = {}
    for name, report in REPORTS.items():
        form = ReportForm.from_query(query)
        if not form.is_valid():  # pragma: no cover - the query above is well formed
            raise ValueError(f"Report form refused {query}: {form.errors.as_json()}")
        reports_ms[name] = _median_ms(lambda form=form, report=report: form.run(report), repeat)  # type: ignore[misc]
        report_rows[name] = len(form.run(report))

    def read_dashboard() -> None:
        dashboard(now)

    with CaptureQueriesContext(connection) as queries:
        dashboard(now)
    supervisor = _a_supervisor()

    def read_live_view() -> None:
        dashboard(now)
        live_conversations(supervisor)
        state_counts(supervisor)

    slowest = max(reports_ms, key=lambda name: reports_ms[name])
    return {
        "report_ms": reports_ms[slowest],
        "slowest_report": slowest,
        "reports_ms": reports_ms,
        "report_rows": report_rows,
        "dashboard_ms": _median_ms(read_dashboard, repeat),
        "dashboard_queries": len(queries.captured_queries),
        "live_view_ms": _median_ms(read_live_view, repeat),
    }


def _roll_up(now: datetime) -> dict[str, Any]:
    """Sum the dataset into the hourly rollup (untimed setup, as the periodic task keeps it), and time one
    periodic run: it sums the last FCR window again, the background cost of keeping the rollup current."""
    reach = rollup.state()
    if reach is None or reach.rolled_until < rollup.floor_hour(now):
        started = time.perf_counter()
        rollup.do_roll_up(now, rebuild=True)
        build_seconds: float | None = round(time.perf_counter() - started, 1)
    else:
        build_seconds = None  # a kept dataset, rolled up when it was generated
    started = time.perf_counter()
    rollup.do_roll_up(now)
    return {
        "rollup_build_seconds": build_seconds,
        "rollup_refresh_seconds": round(time.perf_counter() - started, 1),
        "rollup_rows": LedgerHour.objects.count(),
    }


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    action()  # warm-up: plans, caches, the SQLite aggregate's registration
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(1000 * (time.perf_counter() - start))
    return round(statistics.median(samples), 1)


def _a_supervisor() -> Any:
    from core.roles import SUPERVISOR

    User = get_user_model()
    user: Any = User.objects.filter(username="bench-supervisor").first()
    if user is None:
        from agents.actions import do_create_user

        user = do_create_user("bench-supervisor", "!unusable-bench-password!", role=SUPERVISOR)
    return user


# --- Reusing a kept dataset ------------------------------------------------------------------


def _existing_dataset(params: Params) -> datetime | None:
    """The generation time of a dataset with these parameters already in this (kept) database, if any."""
    marker = Contact.objects.filter(display_name=MARKER_NAME).first()
    if marker is None:
        if Conversation.objects.exists():
            raise ValueError("The kept scratch database holds a partial dataset; run once without --keep-db.")
        return None
    try:
        recorded = json.loads(marker.notes)
    except ValueError:
        recorded = {}
    if recorded.get("params") != json.loads(params.as_text()):
        raise ValueError(
            f"The kept scratch database holds a dataset generated with {recorded.get('params')}, not "
            f"{params.as_text()}; run once without --keep-db to drop it."
        )
    return datetime.fromisoformat(recorded["now"])


# --- Generation -------------------------------------------------------------------------------


@dataclass
class World:
    """The configuration rows the history refers to, by id."""

    now: datetime
    queues: list[tuple[int, str, str]] = field(default_factory=list)  # id, category, language
    agents: list[int] = field(default_factory=list)  # user ids
    supervisors: list[int] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)
    account_id: int = 0
    query_ids: list[int] = field(default_factory=list)


def _weighted(pairs: list[tuple[Any, int]]) -> tuple[list[Any], list[int]]:
    values, cumulative, total = [], [], 0
    for value, weight in pairs:
        total += weight
        values.append(value)
        cumulative.append(total)
    return values, cumulative


class _Pick:
    """Fast weighted choice from a fixed list (``random.choices`` re-sums the weights on every call)."""

    def __init__(self, rng: random.Random, pairs: list[tuple[Any, int]]) -> None:
        self.values, self.cumulative = _weighted(pairs)
        self.total = self.cumulative[-1]
        self.rng = rng

    def __call__(self) -> Any:
        return self.values[bisect.bisect_right(self.cumulative, self.rng.random() * self.total)]


def generate(params: Params) -> World:
    """Write the whole history (see the module docstring); returns the world with its ``now``."""
    rng = random.Random(params.seed)
    now = timezone.now().replace(microsecond=0)
    world = _setup_world(params, now)
    pg = connection.vendor == "postgresql"
    if pg:
        _drop_indexes()
    try:
        if pg:
            with connection.cursor() as cursor:
                # No foreign-key triggers during the load (every reference is generated
                # consistent, as the tests check): they cost more than the COPY itself.
                cursor.execute("SET session_replication_role = replica")
        _load(params, world, rng)
    finally:
        if pg:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")
    if pg:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('core_conversation', 'id'), "
                "(SELECT max(id) FROM core_conversation))"
            )
        _create_indexes()
        _vacuum_analyze()
    Contact.objects.filter(pk=world.contacts[0]).update(
        display_name=MARKER_NAME, notes=json.dumps({"params": json.loads(params.as_text()), "now": now.isoformat()})
    )
    return world


def _load(params: Params, world: World, rng: random.Random) -> None:
    history = _History(params, world, rng)
    for start in range(0, params.conversations, CHUNK):
        conversations, events, messages = history.chunk(start, min(params.conversations, start + CHUNK))
        with transaction.atomic():
            insert_rows(Conversation, CONVERSATION_FIELDS, conversations, returning_ids=False)
            _insert_events(events)
            insert_rows(Message, MESSAGE_FIELDS, messages, returning_ids=False)
    with transaction.atomic():
        _insert_events(history.filtered_events())
        insert_rows(
            PresenceChange,
            ["agent", "at", "presence", "reason", "previous", "previous_seconds", "cause"],
            _presence_changes(world, params, rng),
            returning_ids=False,
        )


def _setup_world(params: Params, now: datetime) -> World:
    world = World(now=now)
    policy = SLAPolicy.objects.create(
        name="Bench reports", first_response_seconds=int(FIRST_RESPONSE_TARGET), next_response_seconds=7200
    )
    for i, (name, _, category, language) in enumerate(QUEUES):
        queue = Queue.objects.create(name=f"Bench {name}", sla_policy=policy, is_default=i == 0)
        world.queues.append((queue.pk, category, language))
    User = get_user_model()
    teams = [Team.objects.create(name=f"Bench team {i}") for i in range(3)]
    # "!" is Django's unusable password: bench agents can never log in.
    users = User.objects.bulk_create(
        [User(username=f"bench-reports-agent-{i}", first_name=f"Agent {i}", password="!") for i in range(AGENTS)]  # noqa: S106
    )
    presences = [Presence.AVAILABLE] * 30 + [Presence.BUSY] * 10 + [Presence.AWAY] * 5 + [Presence.OFFLINE] * 15
    AgentProfile.objects.bulk_create(
        [
            AgentProfile(
                user=user,
                team=teams[i % 3],
                capacity=8,
                presence=presences[i % len(presences)],
                presence_reason="break" if presences[i % len(presences)] == Presence.AWAY else "",
                presence_since=now - timedelta(minutes=5 + 7 * i),
            )
            for i, user in enumerate(users)
        ]
    )
    world.agents = [user.pk for user in users]
    world.supervisors = world.agents[:3]
    account = SocialAccount.objects.create(platform="x", external_id="bench-reports", name="Bench brand")
    world.account_id = account.pk
    world.query_ids = [
        ListeningQuery.objects.create(account=account, name=name, keywords=[name]).pk
        for name in ("brand mentions", "outage words", "competitor")
    ]
    # Returning customers: about 2.5 conversations per contact.
    contact_count = max(1, params.conversations * 2 // 5)
    rows: list[tuple[Any, ...]] = [(f"Customer {i}", False, [], "", now, None, None) for i in range(contact_count)]
    fields = ["display_name", "is_vip", "tags", "notes", "created_at", "last_agent", "last_agent_at"]
    for start in range(0, contact_count, 100_000):
        world.contacts += insert_rows(Contact, fields, rows[start : start + 100_000])
    return world


class _History:
    """Plays each conversation's life forward from its first post, cut off at ``world.now``."""

    def __init__(self, params: Params, world: World, rng: random.Random) -> None:
        self.params, self.world, self.rng = params, world, rng
        self.now = world.now
        self.start = world.now - timedelta(days=params.days)
        self.channel = _Pick(rng, CHANNELS)
        self.queue = _Pick(rng, [(q, share) for q, (_, share, _, _) in zip(world.queues, QUEUES, strict=True)])
        self.sentiment = _Pick(rng, SENTIMENTS)
        self.disposition = _Pick(rng, DISPOSITIONS)
        self.score = _Pick(rng, CSAT_SCORES)
        self.hour = _Pick(rng, list(enumerate(HOUR_WEIGHTS)))
        self.filtered: list[tuple[Any, ...]] = []
        self.day_start = datetime.combine(self.start.date(), datetime.min.time(), tzinfo=UTC)
        days = (self.now - self.day_start).days + 1
        self.day = _Pick(
            rng, [(d, WEEKDAY_WEIGHTS[(self.day_start + timedelta(days=d)).weekday()]) for d in range(days)]
        )
        # In creation order, as a live ledger is appended: a period's rows lie together on disk.
        self.created = sorted(self._created_at() for _ in range(params.conversations))

    def _created_at(self) -> datetime:
        rng = self.rng
        while True:  # busier weekdays and office hours; only inside [start, now)
            at = self.day_start + timedelta(days=self.day(), hours=self.hour(), seconds=rng.random() * 3600)
            if self.start <= at < self.now:
                return at.replace(microsecond=0)

    def _lognormal(self, median: float, sigma: float, cap: float) -> float:
        return round(min(cap, math.exp(self.rng.gauss(0, sigma)) * median), 1)

    def chunk(
        self, first: int, last: int
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        conversations, events, messages = [], [], []
        for index in range(first, last):
            conversation, conversation_events, conversation_messages = self._life(index + 1)
            conversations.append(conversation)
            events += conversation_events
            messages += conversation_messages
        return conversations, events, messages

    def filtered_events(self) -> list[tuple[Any, ...]]:
        return self.filtered

    def _life(self, pk: int) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        rng, now = self.rng, self.now
        created = self.created[pk - 1]
        channel = self.channel()
        queue_id, category, language = self.queue()
        sentiment = self.sentiment()
        contact_id = self.world.contacts[rng.randrange(len(self.world.contacts))]
        delay = round(5 + rng.random() * 115, 1)
        posted = created - timedelta(seconds=delay)
        due = posted + timedelta(seconds=FIRST_RESPONSE_TARGET)
        events: list[tuple[Any, ...]] = []

        def event(
            kind: str,
            at: datetime,
            agent: int | None = None,
            seconds: float | None = None,
            value: float | None = None,
            data: dict[str, Any] | None = None,
            queue: int | None = queue_id,
        ) -> bool:
            if at >= now:
                return False
            since_post = (data or {}).get("since_post_seconds")  # the column beside data (Event.DURATIONS)
            events.append((kind, at, pk, agent, channel, queue, seconds, value, data or {}, since_post))
            return True

        def since(start: datetime, end: datetime) -> float:
            return round((end - start).total_seconds(), 1)

        # Capture opens it and queues it in the same batch: neither row has an agent; captured has no queue.
        event(EventKind.CAPTURED, created, seconds=delay, data={"external_id": f"bench-{pk}"}, queue=None)
        event(EventKind.QUEUED, created, seconds=0.0, data={"rule": category})
        if rng.random() < 0.05 and posted < now:  # a filtered post (spam, our own account) beside it
            self.filtered.append(
                (EventKind.FILTERED, created, None, None, channel, None, None, None, {"reason": "spam"}, None)
            )

        state: str = S.QUEUED
        agent: int | None = None
        first_response_at: datetime | None = None
        waiting_since: datetime | None = posted
        assigned_at: datetime | None = None
        resolved_at: datetime | None = None
        closed_at: datetime | None = None
        last_agent, disposition, escalated, sla_status = None, "", False, SLAStatus.OK
        stuck = rng.random() < 0.002  # a few items nobody has picked up (the long tail of the backlog)
        if rng.random() < 0.03 and not stuck:  # the customer withdrew the post before anyone answered
            gone = created + timedelta(seconds=self._lognormal(300, 1.0, 6 * 3600))
            if event(EventKind.ABANDONED, gone, seconds=since(posted, gone), data={"reason": "deleted"}):
                state, closed_at, waiting_since = S.CLOSED, gone, None
        elif not stuck:
            at = created + timedelta(seconds=self._lognormal(90, 1.1, 4 * 3600))
            agent = self.world.agents[rng.randrange(AGENTS)]
            if event(EventKind.ASSIGNED, at, agent, since(created, at), data={"reason": {"why": "best match"}}):
                state, assigned_at = S.ASSIGNED, at
                at += timedelta(seconds=self._lognormal(240, 0.9, 6 * 3600))
                if due < min(at, now):
                    event(EventKind.SLA_BREACHED, due, seconds=since(posted, due))
                if rng.random() < 0.06:  # transferred to a colleague before answering
                    to_agent = self.world.agents[rng.randrange(AGENTS)]
                    moved = assigned_at + (at - assigned_at) / 2
                    if event(
                        EventKind.TRANSFERRED,
                        moved,
                        to_agent,
                        data={"from_agent_id": agent, "to_agent_id": to_agent, "actor_id": agent, "reason": ""},
                    ):
                        last_agent, agent = agent, to_agent
                if rng.random() < 0.02:
                    raised = assigned_at + (at - assigned_at) / 3
                    event(EventKind.ESCALATED, raised, agent, data={"reason": "angry customer"})
                    escalated = True
                state, first_response_at, waiting_since = self._answer(event, since, agent, at, posted, created, state)
                if first_response_at is not None:
                    at = first_response_at
                    if rng.random() < 0.4:  # the customer writes again and gets a second answer
                        back = at + timedelta(seconds=self._lognormal(1200, 1.0, 24 * 3600))
                        if event(EventKind.CUSTOMER_REPLY, back, data={"external_id": f"bench-{pk}-2"}):
                            state, waiting_since = S.ASSIGNED, back
                            at = back + timedelta(seconds=self._lognormal(600, 1.0, 12 * 3600))
                            if event(EventKind.REPLY, at, agent, since(back, at)):
                                state, waiting_since = S.WAITING, None
                    if state == S.WAITING:
                        resolved = at + timedelta(seconds=self._lognormal(1800, 1.2, 48 * 3600))
                        state, at, resolved_at, disposition = self._resolve(
                            event, since, agent, at, resolved, created, state
                        )
                        if resolved_at is not None and rng.random() < 0.05:  # the customer comes back
                            again = resolved_at + timedelta(seconds=self._lognormal(6 * 3600, 1.0, 72 * 3600))
                            if event(
                                EventKind.REOPENED,
                                again,
                                seconds=since(resolved_at, again),
                                data={"reason": "customer wrote again"},
                            ):
                                state, resolved_at, disposition, waiting_since = S.QUEUED, None, "", again
                                at = again + timedelta(seconds=self._lognormal(120, 1.0, 3600))
                                if event(
                                    EventKind.ASSIGNED, at, agent, since(again, at), data={"reason": {"why": "sticky"}}
                                ):
                                    state = S.ASSIGNED
                                    at += timedelta(seconds=self._lognormal(300, 1.0, 6 * 3600))
                                    if event(EventKind.REPLY, at, agent, since(again, at)):
                                        state, waiting_since = S.WAITING, None
                                        resolved = at + timedelta(seconds=self._lognormal(1200, 1.0, 24 * 3600))
                                        state, at, resolved_at, disposition = self._resolve(
                                            event, since, agent, at, resolved, created, state
                                        )
                        if resolved_at is not None:
                            if rng.random() < 0.15:
                                answered = resolved_at + timedelta(seconds=self._lognormal(3 * 3600, 1.0, 48 * 3600))
                                event(
                                    EventKind.CSAT,
                                    answered,
                                    agent,
                                    value=float(self.score()),
                                    data={"commented": rng.random() < 0.3},
                                )
                            closing = resolved_at + timedelta(seconds=self._lognormal(36 * 3600, 0.4, 96 * 3600))
                            if rng.random() < 0.9 and event(
                                EventKind.CLOSED, closing, seconds=since(resolved_at, closing)
                            ):
                                state, closed_at = S.CLOSED, closing
        # Resolving keeps the agent on the row; closing and abandoning clear it.
        held_by = agent if state in (S.ASSIGNED, S.WAITING, S.RESOLVED) else None
        if state in (S.RESOLVED, S.CLOSED):
            last_agent = agent or last_agent
        if state in (S.NEW, S.QUEUED, S.ASSIGNED) and first_response_at is None:
            late = (now - due).total_seconds()
            sla_status = SLAStatus.BREACHED if late > 0 else SLAStatus.AT_RISK if late > -720 else SLAStatus.OK
        updated = max(row[1] for row in events)
        conversation = (
            pk,
            contact_id,
            channel,
            f"bench-{pk}",
            TEXTS[sentiment][:60],
            state,
            50 + (20 if sentiment == Sentiment.NEGATIVE else 0),
            category,
            sentiment,
            {Sentiment.NEGATIVE: -0.6, Sentiment.NEUTRAL: 0.0, Sentiment.POSITIVE: 0.7}.get(sentiment),
            language,
            queue_id,
            held_by,
            last_agent,
            None,
            2 if channel in (Channel.X_DM, Channel.FACEBOOK_MESSENGER) else 1,
            sla_status,
            escalated,
            due,
            None,
            waiting_since if state in (S.NEW, S.QUEUED, S.ASSIGNED) else None,
            first_response_at,
            waiting_since or posted,
            created,
            created,
            assigned_at,
            resolved_at,
            closed_at,
            updated,
            disposition,
        )
        return conversation, events, self._messages(pk, channel, sentiment, posted, created)

    def _answer(
        self,
        event: Callable[..., bool],
        since: Callable[[datetime, datetime], float],
        agent: int,
        at: datetime,
        posted: datetime,
        created: datetime,
        state: str,
    ) -> tuple[str, datetime | None, datetime | None]:
        """The first reply: ``reply`` (the wait it ended) and ``first_response`` (as ``do_record_reply`` writes)."""
        if not event(EventKind.REPLY, at, agent, since(posted, at)):
            return state, None, posted
        event(EventKind.FIRST_RESPONSE, at, agent, since(created, at), data={"since_post_seconds": since(posted, at)})
        return S.WAITING, at, None

    def _resolve(
        self,
        event: Callable[..., bool],
        since: Callable[[datetime, datetime], float],
        agent: int,
        at: datetime,
        resolved: datetime,
        created: datetime,
        state: str,
    ) -> tuple[str, datetime, datetime | None, str]:
        """Work sessions, the wrap-up and ``resolved`` (each only if it happened before now)."""
        rng = self.rng
        for session in range(1 + (rng.random() < 0.25)):
            seconds = self._lognormal(240, 0.7, 3600)
            closed = at + timedelta(seconds=seconds + 30 * session)
            event(EventKind.WORK, closed, agent, seconds)
        wrap = self._lognormal(40, 0.6, 600)
        if not event(EventKind.WRAP_UP, resolved, agent, wrap):
            return state, at, None, ""
        disposition = self.disposition()
        event(EventKind.RESOLVED, resolved, agent, since(created, resolved), data={"disposition": disposition})
        return S.RESOLVED, resolved, resolved, disposition

    def _messages(
        self, pk: int, channel: str, sentiment: str, posted: datetime, created: datetime
    ) -> list[tuple[Any, ...]]:
        """Only the posts a report or the dashboard reads: listening finds, and the last day's inbound posts."""
        found_by_query = self.rng.random() < 0.08
        if not found_by_query and created < self.now - timedelta(hours=25):
            return []
        query_id = self.world.query_ids[pk % len(self.world.query_ids)] if found_by_query else None
        return [
            (
                pk,
                Direction.INBOUND,
                Channel.platform_of(channel),
                f"bench-{pk}",
                "",
                TEXTS[sentiment],
                Channel.is_public(channel),
                posted,
                created,
                {},
                self.world.account_id,
                query_id,
                "",
                {},
                [],
                "",
                "",
                0,
            )
        ]


def _presence_changes(world: World, params: Params, rng: random.Random) -> list[tuple[Any, ...]]:
    """Each agent's working days: log in, available and busy spells, a break, log out (as ``do_set_presence`` logs)."""
    rows = []
    profiles = dict(AgentProfile.objects.filter(user_id__in=world.agents).values_list("user_id", "pk"))
    first_day = (world.now - timedelta(days=params.days)).date()
    for user_id in world.agents:
        profile = profiles[user_id]
        for day in range(params.days):
            date = first_day + timedelta(days=day)
            if date.weekday() >= 5 and rng.random() < 0.7:
                continue
            at = datetime(date.year, date.month, date.day, 8, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 90))
            previous, since = Presence.OFFLINE, 15 * 3600.0
            for presence, reason, minutes in (
                (Presence.AVAILABLE, "", 120),
                (Presence.BUSY, "", 45),
                (Presence.AWAY, "lunch", 40),
                (Presence.AVAILABLE, "", 150),
                (Presence.BUSY, "", 60),
                (Presence.OFFLINE, "", 0),
            ):
                if at >= world.now:
                    break
                rows.append((profile, at, presence, reason, previous, since, "agent"))
                spell = minutes * 60 * (0.6 + 0.8 * rng.random())
                previous, since, at = presence, round(spell, 1), at + timedelta(seconds=spell)
    return rows


# --- PostgreSQL load helpers -----------------------------------------------------------------


def _insert_events(rows: list[tuple[Any, ...]]) -> None:
    """Ledger rows in ``EVENT_FIELDS`` order: COPY lines formatted here on PostgreSQL, ``insert_rows`` elsewhere.

    ``bulk.insert_rows`` converts value by value through each field's converter,
    about 10 µs a row; ten million rows need the few f-string steps below. They
    are safe only because every text here is generated by this module (no tab,
    newline or backslash to escape).
    """
    if connection.vendor != "postgresql":
        insert_rows(Event, EVENT_FIELDS, rows, returning_ids=False)
        return
    null = "\\N"
    lines = [
        f"{kind}\t{at.isoformat()}\t{null if conversation is None else conversation}\t"
        f"{null if agent is None else agent}\t{channel}\t{null if queue is None else queue}\t"
        f"{null if seconds is None else seconds}\t{null if value is None else value}\t"
        f"{orjson.dumps(data).decode() if data else '{}'}\t{null if since_post is None else since_post}"
        for kind, at, conversation, agent, channel, queue, seconds, value, data, since_post in rows
    ]
    columns = ", ".join(str(Event._meta.get_field(name).column) for name in EVENT_FIELDS)  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY core_event ({columns}) FROM STDIN", io.StringIO("\n".join(lines) + "\n"))


INDEXED_MODELS = (Event, Conversation)


def _drop_indexes() -> None:
    """Build the ledger's and conversations' indexes once after the load rather than row by row."""
    with connection.schema_editor() as editor:
        for model in INDEXED_MODELS:
            for index in model._meta.indexes:
                editor.remove_index(model, index)


def _create_indexes() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
    with connection.schema_editor() as editor:
        for model in INDEXED_MODELS:
            for index in model._meta.indexes:
                editor.add_index(model, index)


def _vacuum_analyze() -> None:
    """Visibility map and statistics as autovacuum would leave them (index-only scans need the former).

    Inside a transaction (a test) VACUUM cannot run; ANALYZE still can.
    """
    tables = ("core_event", "core_conversation", "core_message", "core_contact", "agents_presencechange")
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ANALYZE {table}")
        return
    connection.ensure_connection()
    autocommit = connection.get_autocommit()
    connection.set_autocommit(True)  # VACUUM cannot run inside a transaction block
    try:
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"VACUUM ANALYZE {table}")
    finally:
        connection.set_autocommit(autocommit)
