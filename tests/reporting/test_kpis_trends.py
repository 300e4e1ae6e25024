"""Trends, listening and cost KPIs against a small hand-built ledger (SQLite and PostgreSQL).

Monday 2 March 2026 (UTC) and the Tuesday after:

- Monday: a (X, billing, negative) captured 09:00, 1,800 s work + 600 s wrap-up;
  b (X, billing, positive) captured 10:00, 1,200 s work; c (Facebook, outage,
  negative) captured 11:00, never worked.
- Tuesday: d (X, outage, no sentiment) captured 09:00, 3,600 s work; an idle
  ``assigned`` row (never counted as cost).
- Listening: query "Brand" caught a (Monday) and d (Tuesday) plus a filtered
  post (Monday, no conversation); query "Rival" caught b (Monday).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from core.errors import Invalid
from core.models import Channel, Contact, Conversation, Direction, Event, EventKind, Message, Platform
from monitoring.models import ListeningQuery, SocialAccount, SocialPlatform
from reporting import kpis
from reporting.kpis import KpiFilter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_source")]

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
TUESDAY = MONDAY + timedelta(days=1)
PERIOD = KpiFilter(MONDAY, MONDAY + timedelta(days=2))
X, FB = Channel.X_PUBLIC, Channel.FACEBOOK_PUBLIC
_threads = itertools.count(1)


def at(day: int, hour: int) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour)


def captured(channel: str, when: datetime, category: str, sentiment: str) -> Conversation:
    conv = Conversation.objects.create(
        contact=Contact.objects.create(display_name="Dana"),
        channel=channel,
        thread_key=f"trend-thread-{next(_threads)}",
        category=category,
        sentiment=sentiment,
        created_at=when,
    )
    Event.objects.create(kind=EventKind.CAPTURED, at=when, conversation=conv, channel=channel)
    return conv


def worked(conv: Conversation, when: datetime, kind: str, seconds: float, agent: Any) -> None:
    Event.objects.create(
        kind=kind, at=when, conversation=conv, channel=conv.channel, agent=agent, value_seconds=seconds
    )


def post(query: ListeningQuery, when: datetime, conv: Conversation | None) -> None:
    Message.objects.create(
        conversation=conv,
        direction=Direction.INBOUND,
        platform=Platform.X,
        text="…",
        is_public=True,
        sent_at=when,
        received_at=when,
        listening_query=query,
    )


@pytest.fixture
def ledger(agent: Any) -> dict[str, Conversation]:
    a = captured(X, at(0, 9), "billing", "negative")
    b = captured(X, at(0, 10), "billing", "positive")
    c = captured(FB, at(0, 11), "outage", "negative")
    d = captured(X, at(1, 9), "outage", "")
    worked(a, at(0, 9), EventKind.WORK, 1800, agent)
    worked(a, at(0, 10), EventKind.WRAP_UP, 600, agent)
    worked(b, at(0, 11), EventKind.WORK, 1200, agent)
    worked(d, at(1, 10), EventKind.WORK, 3600, agent)
    worked(d, at(1, 9), EventKind.ASSIGNED, 999, agent)
    account = SocialAccount.objects.create(platform=SocialPlatform.X, external_id="1", name="Brand account")
    brand = ListeningQuery.objects.create(account=account, name="Brand", keywords=["brand"])
    rival = ListeningQuery.objects.create(account=account, name="Rival", keywords=["rival"])
    post(brand, at(0, 9), a)
    post(brand, at(0, 12), None)
    post(brand, at(1, 9), d)
    post(rival, at(0, 10), b)
    return {"a": a, "b": b, "c": c, "d": d}


# --- Trends -----------------------------------------------------------------------------------


def test_trends_count_sentiment_of_captured_conversations(ledger: dict[str, Conversation]) -> None:
    assert kpis.trends(PERIOD) == [
        {"captured": 4, "negative": 2, "neutral": 0, "positive": 1, "unrated": 1, "negative_share": 0.5}
    ]


def test_trends_per_day_and_category(ledger: dict[str, Conversation]) -> None:
    rows = kpis.trends(PERIOD, ("day", "category"))

    assert [(r["period"], r["category"], r["captured"], r["negative"], r["negative_share"]) for r in rows] == [
        (MONDAY, "billing", 2, 1, 0.5),
        (MONDAY, "outage", 1, 1, 1.0),
        (TUESDAY, "outage", 1, 0, 0.0),
    ]


def test_trends_by_channel_and_filtered_by_category(ledger: dict[str, Conversation]) -> None:
    rows = kpis.trends(PERIOD, "channel")
    assert [(r["channel"], r["captured"], r["positive"]) for r in rows] == [(FB, 1, 0), (X, 3, 1)]
    [outage] = kpis.trends(KpiFilter(PERIOD.start, PERIOD.end, category="outage"))
    assert (outage["captured"], outage["negative"], outage["unrated"]) == (2, 1, 1)


def test_an_empty_period_has_one_row_without_a_share(db: None) -> None:
    assert kpis.trends(PERIOD)[0]["negative_share"] is None
    assert kpis.trends(PERIOD, "category") == []


def test_trends_refuse_an_unknown_grouping(db: None) -> None:
    with pytest.raises(Invalid):
        kpis.trends(PERIOD, ("day", "agent"))


# --- Listening --------------------------------------------------------------------------------


def test_listening_counts_posts_per_query(ledger: dict[str, Conversation]) -> None:
    assert kpis.listening_trends(PERIOD) == [{"query": "Brand", "posts": 3}, {"query": "Rival", "posts": 1}]


def test_listening_per_day(ledger: dict[str, Conversation]) -> None:
    rows = kpis.listening_trends(PERIOD, "day")

    assert [(r["period"], r["query"], r["posts"]) for r in rows] == [
        (MONDAY, "Brand", 2),
        (MONDAY, "Rival", 1),
        (TUESDAY, "Brand", 1),
    ]


def test_listening_filters_use_the_posts_conversation(ledger: dict[str, Conversation], agent: Any) -> None:
    # The filtered post has no conversation: a channel or category filter leaves it out.
    assert kpis.listening_trends(KpiFilter(PERIOD.start, PERIOD.end, channel=X)) == [
        {"query": "Brand", "posts": 2},
        {"query": "Rival", "posts": 1},
    ]
    assert kpis.listening_trends(KpiFilter(PERIOD.start, PERIOD.end, category="outage")) == [
        {"query": "Brand", "posts": 1}
    ]
    assert kpis.listening_trends(KpiFilter(PERIOD.start, PERIOD.end, agent_id=agent.pk)) == []


# --- Cost -------------------------------------------------------------------------------------


def test_cost_prices_handle_time_at_the_setting(ledger: dict[str, Conversation]) -> None:
    # 1,800 + 600 + 1,200 + 3,600 s = 2 h; 3 conversations with a work row; the assigned row is not work.
    with override_settings(COST_PER_AGENT_HOUR=30.0):
        assert kpis.cost(PERIOD) == [{"contacts": 3, "agent_hours": 2.0, "cost": 60.0, "cost_per_contact": 20.0}]
    with override_settings(COST_PER_AGENT_HOUR=45.0):
        assert kpis.cost(PERIOD)[0]["cost"] == 90.0
    assert kpis.cost(PERIOD, cost_per_agent_hour=12.0)[0]["cost_per_contact"] == 8.0


def test_cost_per_category_and_day(ledger: dict[str, Conversation]) -> None:
    with override_settings(COST_PER_AGENT_HOUR=36.0):
        rows = kpis.cost(PERIOD, ("day", "category"))

    # Monday billing: 3,600 s = 1 h for a and b; Tuesday outage: 1 h for d.
    assert rows == [
        {
            "period": MONDAY,
            "category": "billing",
            "contacts": 2,
            "agent_hours": 1.0,
            "cost": 36.0,
            "cost_per_contact": 18.0,
        },
        {
            "period": TUESDAY,
            "category": "outage",
            "contacts": 1,
            "agent_hours": 1.0,
            "cost": 36.0,
            "cost_per_contact": 36.0,
        },
    ]


def test_cost_without_work_has_no_cost_per_contact(db: None) -> None:
    assert kpis.cost(PERIOD) == [{"contacts": 0, "agent_hours": 0.0, "cost": 0.0, "cost_per_contact": None}]


def test_the_cost_setting_defaults_to_30() -> None:
    assert settings.COST_PER_AGENT_HOUR == 30.0
