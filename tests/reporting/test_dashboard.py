"""The supervisor's live dashboard: every figure against small hand-built data with known answers.

Like the KPI tests, these write ``Conversation``, ``Message`` and ``Event`` rows
directly with exact times, and pass the clock to :func:`dashboard`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.actions import do_create_user
from agents.models import AgentProfile, Presence
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
from core.roles import AGENT
from reporting.dashboard import dashboard, duration_text
from routing.models import Queue

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 11, 14, 30, tzinfo=UTC)  # a Wednesday afternoon
X, FB = Channel.X_PUBLIC, Channel.FACEBOOK_PUBLIC
_threads = itertools.count(1)


@pytest.fixture(autouse=True)
def _utc(settings: Any) -> None:
    settings.TIME_ZONE = "UTC"


def minutes_ago(minutes: float, now: datetime = NOW) -> datetime:
    return now - timedelta(minutes=minutes)


def conversation(
    state: str = S.QUEUED,
    *,
    channel: str = X,
    queue: Queue | None = None,
    waiting_since: datetime | None = None,
    agent: Any = None,
    weight: int = 1,
    **fields: Any,
) -> Conversation:
    return Conversation.objects.create(
        contact=Contact.objects.create(display_name="Dana"),
        channel=channel,
        thread_key=f"thread-{next(_threads)}",
        state=state,
        queue=queue,
        waiting_since=waiting_since,
        assigned_agent=agent,
        weight=weight,
        **fields,
    )


def captured(when: datetime, *, category: str = "", sentiment: str = "", text: str = "a post") -> Conversation:
    """A captured post: its conversation, its message and its ``captured`` ledger row."""
    conv = conversation(S.NEW, category=category, sentiment=sentiment, created_at=when)
    Message.objects.create(
        conversation=conv,
        direction=Direction.INBOUND,
        platform="x",
        text=text,
        is_public=True,
        sent_at=when,
        received_at=when,
    )
    Event.objects.create(kind=EventKind.CAPTURED, at=when, conversation=conv, channel=conv.channel)
    return conv


def make_agent(username: str, **profile: Any) -> Any:
    user = do_create_user(username, f"pw-{username}-12345", role=AGENT, first_name=username.title())
    AgentProfile.objects.filter(user_id=user.pk).update(**profile)
    return user


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Queues and channels ------------------------------------------------------------------------


def test_it_shows_depth_and_longest_wait_per_queue_and_channel() -> None:
    billing, outages = Queue.objects.create(name="Billing"), Queue.objects.create(name="Outages")
    conversation(queue=billing, channel=X, waiting_since=minutes_ago(10))
    conversation(queue=billing, channel=FB, waiting_since=minutes_ago(3))
    conversation(queue=outages, channel=X, waiting_since=minutes_ago(90))
    conversation(S.NEW, channel=FB, waiting_since=minutes_ago(1))
    conversation(S.ASSIGNED, queue=billing, waiting_since=minutes_ago(500), agent=make_agent("ana"))
    conversation(S.CLOSED, queue=outages, waiting_since=minutes_ago(600))

    figures = dashboard(NOW)

    by_queue = {q["name"]: (q["depth"], q["longest_wait_seconds"]) for q in figures["queues"]}
    assert by_queue == {"Billing": (2, 600.0), "Outages": (1, 5400.0), "No queue yet": (1, 60.0)}
    by_channel = {c["channel"]: (c["depth"], c["longest_wait_seconds"]) for c in figures["channels"]}
    assert by_channel == {X: (2, 5400.0), FB: (2, 180.0)}
    assert next(c for c in figures["channels"] if c["channel"] == X)["longest_wait"] == "1 h 30 min"


def test_durations_read_short() -> None:
    assert [duration_text(s) for s in (None, 45, 720, 3900)] == ["—", "45 s", "12 min", "1 h 05 min"]


# --- SLA ------------------------------------------------------------------------------------------


def test_it_counts_open_items_at_risk_and_in_breach_and_lists_the_ten_most_urgent() -> None:
    breached = conversation(sla_status=SLAStatus.BREACHED, first_response_due=minutes_ago(20))
    at_risk = [
        conversation(sla_status=SLAStatus.AT_RISK, first_response_due=NOW + timedelta(minutes=i)) for i in range(11)
    ]
    answered = conversation(
        S.ASSIGNED,
        agent=make_agent("ana"),
        sla_status=SLAStatus.BREACHED,
        first_response_due=minutes_ago(300),
        first_response_at=minutes_ago(290),
        next_response_due=minutes_ago(5),
    )
    conversation(S.RESOLVED, sla_status=SLAStatus.BREACHED, first_response_due=minutes_ago(60))
    conversation(sla_status=SLAStatus.OK, first_response_due=minutes_ago(1))

    sla = dashboard(NOW)["sla"]

    assert (sla["breached"], sla["at_risk"]) == (2, 11)
    # Ordered by the response due now: the next response's once the first is given.
    assert [c.pk for c in sla["urgent"]] == [breached.pk, answered.pk] + [c.pk for c in at_risk[:8]]


# --- Service level today ------------------------------------------------------------------------


def test_service_level_so_far_today_counts_first_responses_due_today() -> None:
    def due_at(hour: int, answered: datetime | None, day: int = 11) -> None:
        conversation(
            S.CLOSED,
            first_response_due=datetime(2026, 3, day, hour, tzinfo=UTC),
            first_response_at=answered,
        )

    due_at(9, datetime(2026, 3, 11, 8, 50, tzinfo=UTC))  # met
    due_at(10, datetime(2026, 3, 11, 10, 30, tzinfo=UTC))  # late
    due_at(11, None)  # past due, unanswered: missed
    due_at(16, datetime(2026, 3, 11, 12, tzinfo=UTC))  # due later today, already met
    due_at(17, None)  # due later today, not yet answered: not counted yet
    due_at(23, datetime(2026, 3, 10, 22, tzinfo=UTC), day=10)  # yesterday

    assert dashboard(NOW)["service_level"] == {"due": 4, "met": 2, "service_level": 0.5}


def test_service_level_today_follows_the_time_zone_day(settings: Any) -> None:
    settings.TIME_ZONE = "America/New_York"  # 14:30 UTC is 10:30 EDT there; its day began at 04:00 UTC
    conversation(S.CLOSED, first_response_due=datetime(2026, 3, 11, 3, 59, tzinfo=UTC))  # yesterday there
    conversation(S.CLOSED, first_response_due=datetime(2026, 3, 11, 6, tzinfo=UTC), first_response_at=minutes_ago(600))

    assert dashboard(NOW)["service_level"] == {"due": 1, "met": 1, "service_level": 1.0}


def test_service_level_is_empty_before_anything_falls_due() -> None:
    assert dashboard(NOW)["service_level"] == {"due": 0, "met": 0, "service_level": None}


# --- Agents ---------------------------------------------------------------------------------------


def test_each_agent_shows_state_time_in_state_and_load_against_capacity() -> None:
    ana = make_agent("ana", presence=Presence.AVAILABLE, presence_since=minutes_ago(25), capacity=8)
    ben = make_agent("ben", presence=Presence.AWAY, presence_reason="lunch", presence_since=minutes_ago(5), capacity=4)
    conversation(S.ASSIGNED, agent=ana, weight=2)
    conversation(S.WAITING, agent=ana, weight=3)
    conversation(S.RESOLVED, agent=ana, weight=5)  # done: holds no capacity

    agents = {a["name"]: a for a in dashboard(NOW)["agents"]}

    assert agents["Ana"]["presence"] == Presence.AVAILABLE
    assert (agents["Ana"]["in_state_seconds"], agents["Ana"]["in_state"]) == (1500.0, "25 min")
    assert (agents["Ana"]["load"], agents["Ana"]["capacity"], agents["Ana"]["occupancy"]) == (5, 8, 0.625)
    assert (agents["Ben"]["presence"], agents["Ben"]["reason"], agents["Ben"]["load"]) == (Presence.AWAY, "lunch", 0)
    assert ben.pk == agents["Ben"]["user_id"]


# --- Inbound volume -------------------------------------------------------------------------------


def test_inbound_volume_compares_the_last_hour_with_the_same_hour_last_week() -> None:
    last_week = NOW - timedelta(days=7)
    for when in (minutes_ago(30), minutes_ago(59), minutes_ago(60), minutes_ago(61), NOW):
        captured(when)
    for when in (minutes_ago(30, last_week), minutes_ago(60, last_week), minutes_ago(61, last_week), last_week):
        captured(when)

    assert dashboard(NOW)["volume"] == {"last_hour": 3, "same_hour_last_week": 2, "change": 0.5}


# --- Spikes ---------------------------------------------------------------------------------------


def test_it_flags_a_category_whose_negative_posts_jump_against_the_same_hour_of_previous_weeks() -> None:
    for i in range(6):
        sentiment = Sentiment.NEGATIVE if i < 5 else Sentiment.NEUTRAL
        captured(minutes_ago(10 + i), category="outage", sentiment=sentiment, text=f"outage post {i}")
    for week, count in ((1, 2), (2, 1), (3, 0), (4, 1)):
        for _ in range(count):
            captured(minutes_ago(30, NOW - timedelta(weeks=week)), category="outage", sentiment=Sentiment.NEGATIVE)
    # Busy but usual: 5 now against 4 an hour in each previous week.
    for _ in range(5):
        captured(minutes_ago(20), category="billing")
    for week in range(1, 5):
        for _ in range(4):
            captured(minutes_ago(20, NOW - timedelta(weeks=week)), category="billing")

    [spike] = dashboard(NOW)["spikes"]

    assert spike["category"] == "outage"
    assert (spike["total"], spike["total_baseline"], spike["volume_spike"]) == (6, 1.0, True)
    assert (spike["negative"], spike["negative_baseline"], spike["negative_spike"]) == (5, 1.0, True)
    assert spike["baseline"] == "same hour, previous 4 weeks"
    # Negative posts first, newest first; at most three.
    assert spike["samples"] == ["outage post 0", "outage post 1", "outage post 2"]


def test_without_history_it_compares_with_the_previous_24_hours() -> None:
    for _ in range(5):
        captured(minutes_ago(5), category="billing")
        captured(minutes_ago(5), category="delivery")
    for hour in range(24):
        for _ in range(2):  # 2 an hour: 5 is a spike
            captured(minutes_ago(90 + 60 * hour), category="billing")
        for _ in range(3):  # 3 an hour: 5 is not
            captured(minutes_ago(90 + 60 * hour), category="delivery")

    spikes = dashboard(NOW)["spikes"]

    assert [(s["category"], s["total_baseline"], s["baseline"]) for s in spikes] == [
        ("billing", 2.0, "previous 24 hours")
    ]
    assert not spikes[0]["negative_spike"]


def test_no_spike_below_five_posts_however_quiet_it_was() -> None:
    for _ in range(4):
        captured(minutes_ago(5), category="outage", sentiment=Sentiment.NEGATIVE)

    assert dashboard(NOW)["spikes"] == []


# --- Query count ----------------------------------------------------------------------------------


def _floor(size: int, prefix: str = "") -> None:
    """``size`` agents and queues, each with work, and a spiking category."""
    for n in range(size):
        i = f"{prefix}{n}"
        user = make_agent(f"agent{i}", presence=Presence.AVAILABLE)
        queue = Queue.objects.create(name=f"Queue {i}")
        conversation(queue=queue, waiting_since=minutes_ago(n + 1), sla_status=SLAStatus.AT_RISK)
        conversation(S.ASSIGNED, agent=user, queue=queue, first_response_due=minutes_ago(n))
        for _ in range(5):
            captured(minutes_ago(5), category=f"category {i}", sentiment=Sentiment.NEGATIVE)


@pytest.mark.parametrize("size", [1, 20])
def test_the_dashboard_takes_a_fixed_number_of_queries(size: int, django_assert_max_num_queries: Any) -> None:
    _floor(size)
    with django_assert_max_num_queries(9):
        figures = dashboard(NOW)
        # The urgent list's related rows come with it.
        [(c.contact.display_name, c.queue and c.queue.name, c.assigned_agent) for c in figures["sla"]["urgent"]]
    assert len(figures["agents"]) == size and len(figures["spikes"]) == size


def test_the_query_count_does_not_grow_with_the_floor() -> None:
    counts = []
    for size, prefix in ((1, "a"), (20, "b")):
        _floor(size, prefix)
        with CaptureQueriesContext(connection) as queries:
            dashboard(NOW)
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- The page -------------------------------------------------------------------------------------


def test_the_page_shows_the_dashboard_refreshing_every_15_seconds(supervisor: Any) -> None:
    now = timezone.now()
    for _ in range(5):
        captured(now - timedelta(minutes=5), category="outage", text="<script>alert('x')</script>")

    page = client_for(supervisor).get("/").content.decode()

    assert 'data-live-every="15"' in page and "data-dashboard" in page
    assert "Spike: outage" in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script>alert(" not in page
    assert "Service level today" in page


def test_the_live_fragment_carries_the_dashboard_and_the_conversation_list(supervisor: Any) -> None:
    conversation(S.QUEUED, waiting_since=timezone.now() - timedelta(minutes=3), subject="Router down in Leeds")

    fragment = client_for(supervisor).get("/live/").content.decode()

    assert "data-dashboard" in fragment and "Router down in Leeds" in fragment
    assert 'class="count state-queued"><span class="n">1</span>' in fragment


def test_agents_are_sent_to_their_inbox_and_see_no_floor_figures(agent: Any) -> None:
    client = client_for(agent)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    assert "data-dashboard" not in client.get("/live/").content.decode()
