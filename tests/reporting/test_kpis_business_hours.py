"""Speed in business hours and assignment → first reply, written by the actions and aggregated by the speed report.

Office hours are Monday to Friday 09:00 to 17:00 (UTC), in the default queue's SLA
policy; the queue "Always" has no policy, so it is always open.

- A (queue Office): the customer posts on Friday 13 March 2026 at 16:30 and it
  is queued at 16:31; assigned on Monday 16 at 09:10; first reply at 09:30.
  Queue → assignment: 232,740 s in calendar time, 29 + 10 minutes = 2,340 s of
  open time. Post → first reply: 234,000 s, 30 + 30 minutes = 3,600 s of open
  time. Assignment → first reply: 1,200 s both ways (all of it open).
- B (moved to "Always", no policy): posted on Saturday 14 at 10:00, moved to
  "Always" at 10:01, assigned at 10:05, first reply at 10:15: 240 s, 900 s and
  600 s in both calendar and business time.
- An older ``assigned`` row (100 s) from before the business values were stored:
  it counts in the calendar ASA only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from core.actions import do_assign_conversation, do_record_reply, do_transfer_to_queue
from core.models import Conversation, Event, EventKind
from core.posts import InboundPost
from monitoring.pipeline import ingest
from reporting import kpis
from reporting.kpis import KpiFilter
from routing.models import Queue, SLAPolicy

pytestmark = pytest.mark.django_db

OFFICE_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
FRIDAY = datetime(2026, 3, 13, tzinfo=UTC)
PERIOD = KpiFilter(FRIDAY, FRIDAY + timedelta(days=4))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """``day`` 0 is Friday 13 March 2026 (UTC)."""
    return FRIDAY + timedelta(days=day, hours=hour, minutes=minute)


@pytest.fixture
def office(settings: Any) -> Queue:
    settings.TIME_ZONE = "UTC"
    policy = SLAPolicy.objects.create(
        name="Office hours", first_response_seconds=3600, next_response_seconds=1800, business_hours=OFFICE_HOURS
    )
    return Queue.objects.create(name="Office", is_default=True, sla_policy=policy)


def capture(post: InboundPost, when: datetime) -> Conversation:
    with time_machine.travel(when, tick=False):
        ingest([post])
    return Conversation.objects.get(thread_key=post.thread_key)


@pytest.fixture
def ledger(office: Queue, agent: Any, make_post: Callable[..., InboundPost]) -> None:
    a = capture(make_post(sent_at=at(0, 16, 30)), at(0, 16, 31))
    assert a.queue == office and a.queued_at == at(0, 16, 31)
    do_assign_conversation(a, agent, at=at(3, 9, 10))
    do_record_reply(a, agent, "Sorry about that, looking now.", at=at(3, 9, 30))

    always = Queue.objects.create(name="Always")
    b = capture(make_post(sent_at=at(1, 10)), at(1, 10))
    with time_machine.travel(at(1, 10, 1), tick=False):
        do_transfer_to_queue(b, always, actor=None, reason="weekend desk")
    do_assign_conversation(b, agent, at=at(1, 10, 5))
    do_record_reply(b, agent, "Hello!", at=at(1, 10, 15))

    Event.objects.create(kind=EventKind.ASSIGNED, at=at(1, 12), agent=agent, channel=b.channel, value_seconds=100)


def test_the_actions_store_business_hours_beside_calendar_durations(ledger: None) -> None:
    assigned = Event.objects.filter(kind=EventKind.ASSIGNED, conversation__isnull=False).order_by("at")
    assert [(row.value_seconds, row.data["business_seconds"]) for row in assigned] == [(240, 240), (232_740, 2_340)]
    first = Event.objects.filter(kind=EventKind.FIRST_RESPONSE).order_by("at")
    assert [{key: row.data[key] for key in row.data if key.startswith("since_")} for row in first] == [
        {
            "since_post_seconds": 900,
            "since_assignment_seconds": 600,
            "since_post_business_seconds": 900,
            "since_assignment_business_seconds": 600,
        },
        {
            "since_post_seconds": 234_000,
            "since_assignment_seconds": 1_200,
            "since_post_business_seconds": 3_600,
            "since_assignment_business_seconds": 1_200,
        },
    ]


def test_speed_reports_business_hours_across_a_closed_weekend(ledger: None) -> None:
    (row,) = kpis.speed(PERIOD)

    # Calendar: every assignment, the older row too.
    assert (row["asa_count"], row["asa_mean_seconds"]) == (3, (232_740 + 240 + 100) / 3)
    # Business: 2,340 and 240; the older row has no business value and is left out.
    assert row["asa_business_count"] == 2
    assert row["asa_business_mean_seconds"] == 1_290
    assert row["asa_business_median_seconds"] == 1_290
    assert row["asa_business_p90_seconds"] == pytest.approx(240 + 0.9 * 2_100)
    # Post → first reply: 234,000 and 900 in calendar time, 3,600 and 900 in open time.
    assert row["first_response_mean_seconds"] == (234_000 + 900) / 2
    assert row["first_response_business_count"] == 2
    assert row["first_response_business_mean_seconds"] == 2_250
    assert row["first_response_business_p90_seconds"] == pytest.approx(900 + 0.9 * 2_700)
    # Assignment → first reply: 1,200 and 600, all of it open time.
    for prefix in ("assignment_to_reply", "assignment_to_reply_business"):
        assert row[f"{prefix}_count"] == 2
        assert row[f"{prefix}_mean_seconds"] == 900
        assert row[f"{prefix}_median_seconds"] == 900
        assert row[f"{prefix}_p90_seconds"] == pytest.approx(1_140)


def test_business_speed_by_day(ledger: None) -> None:
    by_day = {row["period"]: row for row in kpis.speed(PERIOD, "day")}
    assert set(by_day) == {at(1, 0), at(3, 0)}
    saturday, monday = by_day[at(1, 0)], by_day[at(3, 0)]
    assert (saturday["asa_count"], saturday["asa_business_count"], saturday["asa_business_mean_seconds"]) == (2, 1, 240)
    assert (monday["first_response_business_median_seconds"], monday["asa_business_median_seconds"]) == (3_600, 2_340)


def test_the_speed_page_shows_the_business_figures(ledger: None, client: Any, supervisor: Any) -> None:
    client.force_login(supervisor)
    response = client.get("/reports/speed/?start=2026-03-13&end=2026-03-16")
    html = response.content.decode()
    assert response.status_code == 200
    assert "ASA (business hours): mean" in html and "<td>1,290.0 s</td>" in html
    assert "Assignment to first reply: mean" in html and "<td>900.0 s</td>" in html
