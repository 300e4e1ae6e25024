"""The quality report: QA reviews from the ledger, counted and averaged in the database, on hand-computed data.

Monday 2 and Tuesday 3 March 2026 (UTC). ``qa`` rows (value = score, agent =
the agent reviewed, ``data.passed``, ``data.critical_failed``):

| when       | channel  | queue   | category | agent | score | passed | critical |
|------------|----------|---------|----------|-------|-------|--------|----------|
| Mon 10:00  | X        | General | billing  | Ana   | 90    | yes    |          |
| Mon 11:00  | X        | General | billing  | Ana   | 70    |        |          |
| Mon 12:00  | Facebook | VIP     | outage   | Ben   | 0     |        | yes      |
| Tue 09:00  | X        | General | outage   | Ben   | 85    | yes    |          |

Whole period: 4 reviews, mean 61.25, 2 passed (rate 0.5), 1 critical fail.
Monday: 3, mean 53.33..., 1 passed; Tuesday: 1, 85, 1 passed.
Ana: 2, mean 80, rate 0.5; Ben: 2, mean 42.5, rate 0.5, 1 critical fail.
"""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from agents.models import AgentProfile
from core.models import Channel, Contact, Conversation, Event, EventKind
from reporting import kpis
from reporting.kpis import KpiFilter
from routing.models import Queue

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
PERIOD = KpiFilter(MONDAY, MONDAY + timedelta(days=2))
X, FB = Channel.X_PUBLIC, Channel.FACEBOOK_PUBLIC
_threads = itertools.count(1)


def at(day: int, hour: int) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour)


def review(when: datetime, channel: str, queue: Queue, category: str, agent: Any, score: float, **data: bool) -> None:
    conversation = Conversation.objects.create(
        contact=Contact.objects.create(display_name="Dana"),
        channel=channel,
        thread_key=f"qa-report-{next(_threads)}",
        category=category,
        queue=queue,
        state="resolved",
    )
    Event.objects.create(
        kind=EventKind.QA,
        at=when,
        conversation=conversation,
        agent=agent,
        channel=channel,
        queue=queue,
        value=score,
        data={"passed": data.get("passed", False), "critical_failed": data.get("critical", False)},
    )


@pytest.fixture
def vip(db: None) -> Queue:
    return Queue.objects.create(name="VIP")


@pytest.fixture
def ledger(queue: Queue, vip: Queue, agent: Any, other_agent: Any) -> None:
    review(at(0, 10), X, queue, "billing", agent, 90, passed=True)
    review(at(0, 11), X, queue, "billing", agent, 70)
    review(at(0, 12), FB, vip, "outage", other_agent, 0, critical=True)
    review(at(1, 9), X, queue, "outage", other_agent, 85, passed=True)
    # Other kinds are not reviews.
    Event.objects.create(kind=EventKind.CSAT, at=at(0, 13), agent=agent, channel=X, value=5)


def test_the_whole_period(ledger: None) -> None:
    assert kpis.quality(PERIOD) == [
        {"reviews": 4, "mean_score": 61.25, "passed": 2, "critical_fails": 1, "pass_rate": 0.5}
    ]


def test_an_empty_period_has_one_row_of_zeroes(ledger: None) -> None:
    empty = KpiFilter(MONDAY + timedelta(days=7), MONDAY + timedelta(days=8))
    assert kpis.quality(empty) == [
        {"reviews": 0, "mean_score": None, "passed": 0, "critical_fails": 0, "pass_rate": None}
    ]


def test_by_day_and_channel(ledger: None) -> None:
    by_day = kpis.quality(PERIOD, "day")
    assert [(row["period"], row["reviews"], row["passed"]) for row in by_day] == [(at(0, 0), 3, 1), (at(1, 0), 1, 1)]
    assert by_day[0]["mean_score"] == pytest.approx(160 / 3)
    assert by_day[0]["pass_rate"] == pytest.approx(1 / 3)
    by_channel = {row["channel"]: row for row in kpis.quality(PERIOD, "channel")}
    assert (by_channel[X]["reviews"], by_channel[X]["mean_score"]) == (3, pytest.approx(245 / 3))
    assert (by_channel[FB]["reviews"], by_channel[FB]["critical_fails"], by_channel[FB]["pass_rate"]) == (1, 1, 0.0)


def test_by_agent_reviewed(ledger: None, agent: Any, other_agent: Any) -> None:
    rows = {row["agent_id"]: row for row in kpis.quality(PERIOD, "agent")}
    assert rows[agent.pk] == {
        "agent_id": agent.pk,
        "reviews": 2,
        "mean_score": 80.0,
        "passed": 1,
        "critical_fails": 0,
        "pass_rate": 0.5,
    }
    assert (rows[other_agent.pk]["mean_score"], rows[other_agent.pk]["critical_fails"]) == (42.5, 1)


def test_filters(ledger: None, vip: Queue, agent: Any, other_agent: Any) -> None:
    def only(**fields: Any) -> tuple[int, float | None]:
        (row,) = kpis.quality(KpiFilter(PERIOD.start, PERIOD.end, **fields))
        return row["reviews"], row["mean_score"]

    assert only(agent_id=agent.pk) == (2, 80.0)
    assert only(team_id=AgentProfile.objects.get(user=other_agent).team_id) == (2, 42.5)
    assert only(queue_id=vip.pk) == (1, 0.0)
    assert only(channel=X) == (3, pytest.approx(245 / 3))
    assert only(category="outage") == (2, 42.5)
    assert only(category="billing", channel=FB) == (0, None)


def test_the_page_api_and_csv(client: Client, ledger: None, supervisor: Any, agent: Any) -> None:
    client.force_login(supervisor)
    query = {"start": "2026-03-02", "end": "2026-03-03", "group_by": "day"}
    page = client.get("/reports/quality/", query)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "<td>85.0</td>" in html and "<td>33.3 %</td>" in html

    body = client.get("/api/v1/reports/quality/", {**query, "agent": agent.pk}).json()
    assert body["report"] == "quality" and body["filters"]["agent"] == agent.pk
    assert [(row["reviews"], row["mean_score"], row["pass_rate"]) for row in body["rows"]] == [(2, 80.0, 0.5)]

    response = client.get("/reports/quality/", {**query, "format": "csv"})
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines[0] == ["period", "reviews", "mean_score", "passed", "pass_rate", "critical_fails"]
    assert lines[2][1:] == ["1", "85.0", "1", "1.0", "0"]


def test_agents_get_403(client: Client, agent: Any) -> None:
    client.force_login(agent)
    assert client.get("/reports/quality/").status_code == 403
    assert client.get("/api/v1/reports/quality/").status_code == 403
