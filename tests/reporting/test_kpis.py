"""KPI queries against small hand-built ledgers whose answers are worked out by hand.

The ledger is the input of every KPI, so these tests write ``Conversation``
and ``Event`` rows directly, with exact times and values, the way the actions
write them (``captured`` and ``filtered`` rows carry no queue). The same
assertions run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.models import AgentProfile, Presence, PresenceChange
from core.errors import Invalid
from core.models import Channel, Contact, Conversation, Event, EventKind
from core.models import ConversationState as S
from reporting import kpis
from reporting.aggregates import PercentileCont, percentile_cont
from reporting.kpis import KpiFilter
from routing.models import Queue

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_source")]

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
DAY_1, DAY_2 = MONDAY, MONDAY + timedelta(days=1)
PERIOD = KpiFilter(MONDAY, MONDAY + timedelta(days=2))
QUIET_WEEK = KpiFilter(MONDAY + timedelta(days=7), MONDAY + timedelta(days=14))

X, FB = Channel.X_PUBLIC, Channel.FACEBOOK_PUBLIC
_threads = itertools.count(1)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """``day`` 0 is Monday 2 March 2026 (UTC)."""
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute, seconds=second)


def conversation(
    channel: str = X,
    *,
    created_at: datetime,
    contact: Contact | None = None,
    category: str = "",
    queue: Queue | None = None,
    due: datetime | None = None,
    state: str = S.CLOSED,
    agent: Any = None,
) -> Conversation:
    return Conversation.objects.create(
        contact=contact or Contact.objects.create(display_name="Dana"),
        channel=channel,
        thread_key=f"thread-{next(_threads)}",
        category=category,
        queue=queue,
        first_response_due=due,
        state=state,
        assigned_agent=agent,
        created_at=created_at,
    )


def event(
    kind: str,
    when: datetime,
    conv: Conversation | None = None,
    *,
    agent: Any = None,
    value_seconds: float | None = None,
    data: dict[str, Any] | None = None,
    channel: str | None = None,
) -> Event:
    """A ledger row; like the real ledger, rows written before queueing carry no queue."""
    before_queue = kind in (EventKind.CAPTURED, EventKind.FILTERED)
    return Event.objects.create(
        kind=kind,
        at=when,
        conversation=conv,
        agent=agent,
        channel=channel or (conv.channel if conv else ""),
        queue=None if before_queue or conv is None else conv.queue,
        value_seconds=value_seconds,
        data=data or {},
    )


def team_of(user: Any) -> int:
    return AgentProfile.objects.get(user=user).team_id  # type: ignore[return-value]


# --- The filter and the grouping --------------------------------------------------------------


def test_a_period_must_be_aware_and_run_forwards() -> None:
    with pytest.raises(Invalid):
        KpiFilter(datetime(2026, 3, 2), datetime(2026, 3, 3))
    with pytest.raises(Invalid):
        KpiFilter(DAY_2, DAY_1)


@pytest.mark.parametrize("group_by", ["year", ("day", "week"), ("channel", "agent")])
def test_it_refuses_an_unknown_grouping(group_by: Any) -> None:
    with pytest.raises(Invalid):
        kpis.volumes(PERIOD, group_by)


# --- Percentiles ------------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile_cont([40, 10, 30, 20], 0.5) == 25
    assert percentile_cont([40, 10, 30, 20], 0.9) == 37
    assert percentile_cont([30, 10, 20], 0.5) == 20
    assert percentile_cont([30, 10, 20], 0.9) == 28
    assert percentile_cont([7], 0.9) == 7
    assert percentile_cont([], 0.5) is None


def test_the_database_percentile_equals_the_python_one_exactly() -> None:
    values = [0.1, 0.7, 3.3, 12.9, 100.01, 2.2, 57.3]
    for value in values:
        event(EventKind.ASSIGNED, at(0, 9), value_seconds=value, channel=X)
    event(EventKind.ASSIGNED, at(0, 9), value_seconds=None, channel=X)
    fractions = [0.0, 0.1, 0.25, 0.5, 0.9, 0.99, 1.0]
    figures = Event.objects.aggregate(**{f"p{i}": PercentileCont("value_seconds", f) for i, f in enumerate(fractions)})
    assert [figures[f"p{i}"] for i in range(len(fractions))] == [percentile_cont(values, f) for f in fractions]


def test_a_percentile_fraction_lies_between_0_and_1() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        PercentileCont("value_seconds", 1.5)


# --- Volumes ----------------------------------------------------------------------------------


@pytest.fixture
def volume_ledger(queue: Queue, agent: Any, other_agent: Any) -> dict[str, Any]:
    second_queue = Queue.objects.create(name="Escalations")
    c1 = conversation(X, created_at=at(0, 9), category="billing", queue=queue)
    c2 = conversation(X, created_at=at(0, 10), category="outage", queue=queue)
    c3 = conversation(FB, created_at=at(0, 11), category="billing", queue=second_queue)
    c4 = conversation(X, created_at=at(1, 9), category="billing", queue=queue)
    outside = conversation(X, created_at=at(2, 0))
    event(EventKind.CAPTURED, at(0, 9), c1, value_seconds=2)
    event(EventKind.FIRST_RESPONSE, at(0, 9, 30), c1, agent=agent)
    event(EventKind.CAPTURED, at(0, 10), c2)
    event(EventKind.CAPTURED, at(0, 11), c3)
    event(EventKind.FIRST_RESPONSE, at(1, 8), c3, agent=other_agent)
    event(EventKind.FILTERED, at(0, 12), channel=X, data={"reason": "spam"})
    event(EventKind.CAPTURED, at(1, 9), c4)
    event(EventKind.FIRST_RESPONSE, at(1, 10), c4, agent=agent)
    event(EventKind.FILTERED, at(1, 13), channel=FB)
    # Just outside the period on either side: the end is exclusive.
    event(EventKind.CAPTURED, at(2, 0), outside)
    event(EventKind.FILTERED, at(0, 0) - timedelta(seconds=1), channel=X)
    return {"second_queue": second_queue}


def test_volumes_over_the_whole_period(volume_ledger: dict[str, Any]) -> None:
    assert kpis.volumes(PERIOD) == [{"captured": 4, "filtered": 2, "handled": 3}]


def test_volumes_by_day(volume_ledger: dict[str, Any]) -> None:
    assert kpis.volumes(PERIOD, "day") == [
        {"period": DAY_1, "captured": 3, "filtered": 1, "handled": 1},
        {"period": DAY_2, "captured": 1, "filtered": 1, "handled": 2},
    ]


def test_volumes_by_channel(volume_ledger: dict[str, Any]) -> None:
    assert kpis.volumes(PERIOD, "channel") == [
        {"channel": FB, "captured": 1, "filtered": 1, "handled": 1},
        {"channel": X, "captured": 3, "filtered": 1, "handled": 2},
    ]


def test_volumes_by_day_and_channel(volume_ledger: dict[str, Any]) -> None:
    assert kpis.volumes(PERIOD, ("day", "channel")) == [
        {"period": DAY_1, "channel": FB, "captured": 1, "filtered": 0, "handled": 0},
        {"period": DAY_1, "channel": X, "captured": 2, "filtered": 1, "handled": 1},
        {"period": DAY_2, "channel": FB, "captured": 0, "filtered": 1, "handled": 1},
        {"period": DAY_2, "channel": X, "captured": 1, "filtered": 0, "handled": 1},
    ]


def test_volumes_by_hour_week_and_month(volume_ledger: dict[str, Any]) -> None:
    morning = KpiFilter(at(0, 9), at(0, 11))
    assert kpis.volumes(morning, "hour") == [
        {"period": at(0, 9), "captured": 1, "filtered": 0, "handled": 1},
        {"period": at(0, 10), "captured": 1, "filtered": 0, "handled": 0},
    ]
    assert kpis.volumes(PERIOD, "week") == [{"period": MONDAY, "captured": 4, "filtered": 2, "handled": 3}]
    assert kpis.volumes(PERIOD, "month") == [
        {"period": datetime(2026, 3, 1, tzinfo=UTC), "captured": 4, "filtered": 2, "handled": 3}
    ]


def test_volumes_under_each_filter(volume_ledger: dict[str, Any], queue: Queue, agent: Any, other_agent: Any) -> None:
    def only(**narrowing: Any) -> dict[str, Any]:
        return kpis.volumes(KpiFilter(PERIOD.start, PERIOD.end, **narrowing))[0]

    assert only(channel=X) == {"captured": 3, "filtered": 1, "handled": 2}
    # Captured and filtered rows precede queueing, so a queue sees only its answers.
    assert only(queue_id=volume_ledger["second_queue"].pk) == {"captured": 0, "filtered": 0, "handled": 1}
    assert only(category="billing") == {"captured": 3, "filtered": 0, "handled": 3}
    assert only(agent_id=agent.pk) == {"captured": 0, "filtered": 0, "handled": 2}
    assert only(team_id=team_of(other_agent)) == {"captured": 0, "filtered": 0, "handled": 1}


def test_volumes_of_an_empty_period(volume_ledger: dict[str, Any]) -> None:
    assert kpis.volumes(QUIET_WEEK) == [{"captured": 0, "filtered": 0, "handled": 0}]
    assert kpis.volumes(QUIET_WEEK, ("day", "channel")) == []


def test_days_are_cut_in_the_configured_time_zone(settings: Any) -> None:
    settings.TIME_ZONE = "America/New_York"
    c1 = conversation(X, created_at=at(0, 3))
    c2 = conversation(X, created_at=at(0, 6))
    event(EventKind.CAPTURED, at(0, 3), c1)  # Sunday 22:00 in New York
    event(EventKind.CAPTURED, at(0, 6), c2)  # Monday 01:00 in New York
    new_york = ZoneInfo("America/New_York")
    rows = kpis.volumes(PERIOD, "day")
    assert rows == [
        {"period": datetime(2026, 3, 1, tzinfo=new_york), "captured": 1, "filtered": 0, "handled": 0},
        {"period": datetime(2026, 3, 2, tzinfo=new_york), "captured": 1, "filtered": 0, "handled": 0},
    ]
    assert rows[0]["period"].utcoffset() == timedelta(hours=-5)


# --- Speed ------------------------------------------------------------------------------------


@pytest.fixture
def speed_ledger(agent: Any, other_agent: Any) -> None:
    # First response times (post → first reply): X on Monday 10, 20, 30, 40 (even count),
    # Facebook on Tuesday 10, 20, 30 (odd count), and one reply with no inbound post.
    for seconds in (40, 10, 30, 20):
        c = conversation(X, created_at=at(0, 8))
        event(EventKind.FIRST_RESPONSE, at(0, 9), c, agent=agent, data={"since_post_seconds": seconds})
    for seconds in (30, 10, 20):
        c = conversation(FB, created_at=at(1, 8))
        event(EventKind.FIRST_RESPONSE, at(1, 9), c, agent=other_agent, data={"since_post_seconds": seconds})
    c = conversation(X, created_at=at(0, 8))
    event(EventKind.FIRST_RESPONSE, at(0, 9), c, agent=agent, data={"since_post_seconds": None})
    # Speed of answer (queue entry → assignment): X 5, 15; Facebook 60.
    for channel, day, seconds, who in ((X, 0, 5, agent), (X, 0, 15, agent), (FB, 1, 60, other_agent)):
        c = conversation(channel, created_at=at(day, 8))
        event(EventKind.ASSIGNED, at(day, 8, 30), c, agent=who, value_seconds=seconds)


# The speed ledger holds no assignment → first reply and no business-hours values (rows written
# before the actions stored them): those figures are empty, and the calendar ones unaffected.
NO_NEWER_SPEED_FIGURES = {
    f"{prefix}_{figure}": (0 if figure == "count" else None)
    for prefix in ("assignment_to_reply", "first_response_business", "asa_business", "assignment_to_reply_business")
    for figure in ("count", "mean_seconds", "median_seconds", "p90_seconds")
}


def test_speed_by_day(speed_ledger: None) -> None:
    assert kpis.speed(PERIOD, "day") == [
        {
            "period": DAY_1,
            "first_response_count": 4,
            "first_response_mean_seconds": 25.0,
            "first_response_median_seconds": 25.0,
            "first_response_p90_seconds": 37.0,
            "asa_count": 2,
            "asa_mean_seconds": 10.0,
            "asa_median_seconds": 10.0,
            "asa_p90_seconds": 14.0,
            **NO_NEWER_SPEED_FIGURES,
        },
        {
            "period": DAY_2,
            "first_response_count": 3,
            "first_response_mean_seconds": 20.0,
            "first_response_median_seconds": 20.0,
            "first_response_p90_seconds": 28.0,
            "asa_count": 1,
            "asa_mean_seconds": 60.0,
            "asa_median_seconds": 60.0,
            "asa_p90_seconds": 60.0,
            **NO_NEWER_SPEED_FIGURES,
        },
    ]


def test_speed_over_the_period_by_channel_and_filtered(speed_ledger: None, agent: Any, other_agent: Any) -> None:
    (whole,) = kpis.speed(PERIOD)
    # 10, 10, 20, 20, 30, 30, 40: the median is the 4th; p90 sits 0.4 of the way from 30 to 40.
    assert whole["first_response_count"] == 7
    assert whole["first_response_mean_seconds"] == pytest.approx(160 / 7)
    assert whole["first_response_median_seconds"] == 20.0
    assert whole["first_response_p90_seconds"] == pytest.approx(34.0)
    assert (whole["asa_count"], whole["asa_mean_seconds"], whole["asa_median_seconds"]) == (3, 80 / 3, 15.0)
    assert whole["asa_p90_seconds"] == pytest.approx(51.0)

    by_channel = {row["channel"]: row for row in kpis.speed(PERIOD, "channel")}
    assert by_channel[X]["first_response_median_seconds"] == 25.0
    assert by_channel[FB]["first_response_p90_seconds"] == 28.0
    (billing_team,) = kpis.speed(KpiFilter(PERIOD.start, PERIOD.end, team_id=team_of(other_agent)))
    assert (billing_team["first_response_count"], billing_team["asa_count"]) == (3, 1)
    (x_only,) = kpis.speed(KpiFilter(PERIOD.start, PERIOD.end, channel=X, agent_id=agent.pk))
    assert (x_only["first_response_p90_seconds"], x_only["asa_p90_seconds"]) == (37.0, 14.0)


def test_speed_of_an_empty_period(speed_ledger: None) -> None:
    assert kpis.speed(QUIET_WEEK) == [
        {
            "first_response_count": 0,
            "first_response_mean_seconds": None,
            "first_response_median_seconds": None,
            "first_response_p90_seconds": None,
            "asa_count": 0,
            "asa_mean_seconds": None,
            "asa_median_seconds": None,
            "asa_p90_seconds": None,
            **NO_NEWER_SPEED_FIGURES,
        }
    ]


# --- Handle -----------------------------------------------------------------------------------


@pytest.fixture
def handle_ledger(agent: Any, other_agent: Any) -> None:
    c1 = conversation(X, created_at=at(0, 8), category="billing")
    event(EventKind.REPLY, at(0, 9), c1, agent=agent, value_seconds=30)
    event(EventKind.WORK, at(0, 9, 5), c1, agent=agent, value_seconds=300)
    event(EventKind.TRANSFERRED, at(0, 9, 6), c1, agent=agent)
    event(EventKind.REPLY, at(0, 10), c1, agent=agent, value_seconds=None)
    event(EventKind.WORK, at(0, 10, 2), c1, agent=agent, value_seconds=120)
    event(EventKind.WRAP_UP, at(0, 10, 3), c1, agent=agent, value_seconds=60)
    c2 = conversation(FB, created_at=at(1, 8), category="outage")
    event(EventKind.REPLY, at(1, 9), c2, agent=other_agent, value_seconds=10)
    event(EventKind.WORK, at(1, 9, 4), c2, agent=other_agent, value_seconds=200)
    event(EventKind.WRAP_UP, at(1, 9, 5), c2, agent=other_agent, value_seconds=40)


def test_handle_over_the_period(handle_ledger: None) -> None:
    assert kpis.handle(PERIOD) == [
        {
            "handle_seconds": 720.0,
            "work_seconds": 620.0,
            "wrap_up_seconds": 100.0,
            "worked": 2,
            "wrap_ups": 2,
            "average_wrap_up_seconds": 50.0,
            "transfers": 1,
            "holds": 3,
            "waits": 2,
            "average_wait_seconds": 20.0,
            "aht_seconds": 360.0,
        }
    ]


def test_handle_by_day_and_filtered(handle_ledger: None, agent: Any, other_agent: Any) -> None:
    monday = {
        "handle_seconds": 480.0,
        "work_seconds": 420.0,
        "wrap_up_seconds": 60.0,
        "worked": 1,
        "wrap_ups": 1,
        "average_wrap_up_seconds": 60.0,
        "transfers": 1,
        "holds": 2,
        "waits": 1,
        "average_wait_seconds": 30.0,
        "aht_seconds": 480.0,
    }
    tuesday = {
        "handle_seconds": 240.0,
        "work_seconds": 200.0,
        "wrap_up_seconds": 40.0,
        "worked": 1,
        "wrap_ups": 1,
        "average_wrap_up_seconds": 40.0,
        "transfers": 0,
        "holds": 1,
        "waits": 1,
        "average_wait_seconds": 10.0,
        "aht_seconds": 240.0,
    }
    assert kpis.handle(PERIOD, "day") == [{"period": DAY_1, **monday}, {"period": DAY_2, **tuesday}]
    assert kpis.handle(PERIOD, "channel") == [{"channel": FB, **tuesday}, {"channel": X, **monday}]
    assert kpis.handle(KpiFilter(PERIOD.start, PERIOD.end, agent_id=agent.pk)) == [monday]
    assert kpis.handle(KpiFilter(PERIOD.start, PERIOD.end, team_id=team_of(other_agent))) == [tuesday]
    assert kpis.handle(KpiFilter(PERIOD.start, PERIOD.end, category="billing")) == [monday]


def test_handle_of_an_empty_period(handle_ledger: None) -> None:
    assert kpis.handle(QUIET_WEEK) == [
        {
            "handle_seconds": 0.0,
            "work_seconds": 0.0,
            "wrap_up_seconds": 0.0,
            "worked": 0,
            "wrap_ups": 0,
            "average_wrap_up_seconds": None,
            "transfers": 0,
            "holds": 0,
            "waits": 0,
            "average_wait_seconds": None,
            "aht_seconds": None,
        }
    ]


# --- Abandonment ------------------------------------------------------------------------------


@pytest.fixture
def abandon_ledger(agent: Any) -> None:
    quick = conversation(X, created_at=at(0, 9), category="billing")
    event(EventKind.CAPTURED, at(0, 9), quick)
    event(EventKind.ABANDONED, at(0, 9, 0, 5), quick, value_seconds=5)
    slow = conversation(X, created_at=at(0, 10))
    event(EventKind.CAPTURED, at(0, 10), slow)
    event(EventKind.ABANDONED, at(0, 10, 2), slow, value_seconds=120)
    unanswered = conversation(FB, created_at=at(0, 11), category="billing")
    event(EventKind.CAPTURED, at(0, 11), unanswered)
    event(EventKind.RESOLVED, at(1, 8), unanswered, agent=agent, value_seconds=75600)
    event(EventKind.CLOSED, at(1, 9), unanswered, agent=agent, value_seconds=3600)
    answered = conversation(FB, created_at=at(1, 8))
    event(EventKind.CAPTURED, at(1, 8), answered)
    event(EventKind.REPLY, at(1, 8, 30), answered, agent=agent, value_seconds=1800)
    event(EventKind.RESOLVED, at(1, 9), answered, agent=agent)
    event(EventKind.CLOSED, at(1, 10), answered, agent=agent)
    still_open = conversation(X, created_at=at(1, 9), state=S.QUEUED)
    event(EventKind.CAPTURED, at(1, 9), still_open)


def test_abandonment_counts_withdrawals_and_unanswered_closes(abandon_ledger: None) -> None:
    assert kpis.abandonment(PERIOD) == [
        {
            "captured": 5,
            "withdrawn": 2,
            "short_abandons": 0,
            "closed_unanswered": 1,
            "abandoned": 3,
            "abandonment_rate": 0.6,
        }
    ]


def test_short_abandons_are_left_out(abandon_ledger: None) -> None:
    (row,) = kpis.abandonment(PERIOD, short_abandon_seconds=10)
    assert (row["withdrawn"], row["short_abandons"], row["abandoned"], row["abandonment_rate"]) == (1, 1, 2, 0.4)
    (row,) = kpis.abandonment(PERIOD, short_abandon_seconds=120)  # the threshold itself is not short
    assert (row["withdrawn"], row["short_abandons"]) == (1, 1)


def test_abandonment_by_channel_day_and_category(abandon_ledger: None) -> None:
    rows = kpis.abandonment(PERIOD, "channel")
    assert [(r["channel"], r["captured"], r["abandoned"], r["abandonment_rate"]) for r in rows] == [
        (FB, 2, 1, 0.5),
        (X, 3, 2, pytest.approx(2 / 3)),
    ]
    rows = kpis.abandonment(PERIOD, "day")
    assert [(r["period"], r["captured"], r["withdrawn"], r["closed_unanswered"]) for r in rows] == [
        (DAY_1, 3, 2, 0),
        (DAY_2, 2, 0, 1),
    ]
    (billing,) = kpis.abandonment(KpiFilter(PERIOD.start, PERIOD.end, category="billing"), short_abandon_seconds=10)
    assert (billing["captured"], billing["short_abandons"], billing["abandoned"]) == (2, 1, 1)


def test_abandonment_of_an_empty_period(abandon_ledger: None) -> None:
    (row,) = kpis.abandonment(QUIET_WEEK)
    assert row == {
        "captured": 0,
        "withdrawn": 0,
        "short_abandons": 0,
        "closed_unanswered": 0,
        "abandoned": 0,
        "abandonment_rate": None,
    }


# --- Service level ----------------------------------------------------------------------------


@pytest.fixture
def sla_ledger(agent: Any) -> None:
    target = at(0, 10)
    on_time = conversation(X, created_at=at(0, 9), due=target)
    event(EventKind.FIRST_RESPONSE, at(0, 9, 30), on_time, agent=agent)
    at_the_target = conversation(X, created_at=at(0, 9), due=target)
    event(EventKind.FIRST_RESPONSE, target, at_the_target, agent=agent)
    late = conversation(FB, created_at=at(0, 9), due=target)
    event(EventKind.FIRST_RESPONSE, at(0, 11), late, agent=agent)
    left_early = conversation(X, created_at=at(0, 9), due=target)
    event(EventKind.ABANDONED, at(0, 9, 45), left_early, value_seconds=2700)
    left_late = conversation(FB, created_at=at(0, 9), due=target)
    event(EventKind.ABANDONED, at(0, 10, 30), left_late, value_seconds=5400)
    no_target = conversation(X, created_at=at(0, 9))
    event(EventKind.FIRST_RESPONSE, at(0, 15), no_target, agent=agent)
    # Answered in time, then the customer withdrew: an answer, not an abandon.
    answered_then_left = conversation(X, created_at=at(0, 8), due=target)
    event(EventKind.FIRST_RESPONSE, at(0, 9), answered_then_left, agent=agent)
    event(EventKind.ABANDONED, at(0, 12), answered_then_left, value_seconds=600)


@pytest.mark.parametrize(
    ("treatment", "eligible", "in_time", "level"),
    [
        ("ignored", 4, 3, 0.75),
        ("met", 6, 5, 5 / 6),
        ("missed", 6, 3, 0.5),
        ("after_target", 5, 3, 0.6),
    ],
)
def test_service_level_under_each_abandon_treatment(
    sla_ledger: None, treatment: str, eligible: int, in_time: int, level: float
) -> None:
    assert kpis.service_level(PERIOD, abandon_treatment=treatment) == [
        {
            "answered": 4,
            "answered_in_time": 3,
            "abandoned_before_target": 1,
            "abandoned_after_target": 1,
            "eligible": eligible,
            "in_time": in_time,
            "service_level": pytest.approx(level),
        }
    ]


def test_service_level_by_channel(sla_ledger: None) -> None:
    rows = kpis.service_level(PERIOD, "channel", abandon_treatment="missed")
    assert [(r["channel"], r["eligible"], r["in_time"], r["service_level"]) for r in rows] == [
        (FB, 2, 0, 0.0),
        (X, 4, 3, 0.75),
    ]


def test_service_level_of_an_empty_period_and_an_unknown_treatment(sla_ledger: None) -> None:
    (row,) = kpis.service_level(QUIET_WEEK, abandon_treatment="met")
    assert (row["eligible"], row["in_time"], row["service_level"]) == (0, 0, None)
    with pytest.raises(Invalid):
        kpis.service_level(PERIOD, abandon_treatment="forgiven")


# --- Resolution -------------------------------------------------------------------------------


@pytest.fixture
def resolution_ledger(agent: Any, other_agent: Any) -> None:
    came_back = Contact.objects.create(display_name="Came back in 2 days")
    r1 = conversation(X, created_at=at(0, 8), contact=came_back)
    event(EventKind.CAPTURED, at(0, 8), r1)
    event(EventKind.ESCALATED, at(0, 8, 30), r1, agent=agent, data={"reason": "angry"})
    event(EventKind.RESOLVED, at(0, 9), r1, agent=agent, data={"disposition": "answered"})
    conversation(X, created_at=at(2, 9), contact=came_back)  # 48 hours later

    came_back_late = Contact.objects.create(display_name="Came back after 73 hours")
    r3 = conversation(X, created_at=at(0, 10), contact=came_back_late)
    event(EventKind.CAPTURED, at(0, 10), r3)
    event(EventKind.RESOLVED, at(0, 11), r3, agent=agent, data={"disposition": "dispatched"})
    event(EventKind.CLOSED, at(1, 11), r3, agent=agent)
    conversation(X, created_at=at(0, 11) + timedelta(hours=73), contact=came_back_late)

    reopened = conversation(FB, created_at=at(0, 11))
    event(EventKind.CAPTURED, at(0, 11), reopened)
    event(EventKind.RESOLVED, at(0, 12), reopened, agent=other_agent, data={"disposition": "answered"})
    event(EventKind.REOPENED, at(1, 8), reopened, value_seconds=72000)  # 20 hours later
    event(EventKind.RESOLVED, at(1, 10), reopened, agent=other_agent, data={"disposition": "answered"})

    reopened_late = conversation(FB, created_at=at(1, 11))
    event(EventKind.CAPTURED, at(1, 11), reopened_late)
    event(EventKind.RESOLVED, at(1, 12), reopened_late, agent=other_agent, data={"disposition": "answered"})
    event(EventKind.REOPENED, at(1, 12) + timedelta(hours=80), reopened_late)


def test_resolution_over_the_period(resolution_ledger: None) -> None:
    assert kpis.resolution(PERIOD) == [
        {
            "opened": 4,
            "resolved": 5,
            "closed": 1,
            "first_contact_resolved": 2,
            "reopened": 1,
            "escalations": 1,
            "dispatches": 1,
            "fcr_rate": 0.4,
            "reopen_rate": 0.2,
        }
    ]


@pytest.mark.parametrize(("hours", "first_contact_resolved"), [(24, 3), (72, 2), (100, 0)])
def test_first_contact_resolution_window(resolution_ledger: None, hours: int, first_contact_resolved: int) -> None:
    (row,) = kpis.resolution(PERIOD, fcr_window_hours=hours)
    assert row["first_contact_resolved"] == first_contact_resolved
    assert row["fcr_rate"] == pytest.approx(first_contact_resolved / 5)


def test_resolution_by_channel_and_day(resolution_ledger: None, other_agent: Any) -> None:
    rows = kpis.resolution(PERIOD, "channel")
    assert [
        (r["channel"], r["opened"], r["resolved"], r["first_contact_resolved"], r["reopened"], r["dispatches"])
        for r in rows
    ] == [(FB, 2, 3, 1, 1, 0), (X, 2, 2, 1, 0, 1)]
    rows = kpis.resolution(PERIOD, "day")
    assert [(r["period"], r["resolved"], r["escalations"], r["reopened"], r["closed"]) for r in rows] == [
        (DAY_1, 3, 1, 0, 0),
        (DAY_2, 2, 0, 1, 1),
    ]
    (team,) = kpis.resolution(KpiFilter(PERIOD.start, PERIOD.end, team_id=team_of(other_agent)))
    assert (team["resolved"], team["first_contact_resolved"], team["reopened"]) == (3, 1, 0)


def test_resolution_of_an_empty_period(resolution_ledger: None) -> None:
    (row,) = kpis.resolution(QUIET_WEEK)
    assert (row["opened"], row["resolved"], row["fcr_rate"], row["reopen_rate"]) == (0, 0, None, None)


# --- Backlog aging ----------------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def backlog(agent: Any, queue: Queue) -> None:
    for age, channel, state in [
        (timedelta(minutes=30), X, S.NEW),
        (timedelta(hours=1), X, S.QUEUED),  # exactly an hour: the 1-4 h bucket
        (timedelta(hours=3), FB, S.ASSIGNED),
        (timedelta(hours=5), FB, S.WAITING),
        (timedelta(days=2), X, S.ASSIGNED),
        (timedelta(days=4), X, S.QUEUED),
        (timedelta(days=1), X, S.RESOLVED),
        (timedelta(days=5), FB, S.CLOSED),
    ]:
        owner = agent if state in (S.ASSIGNED, S.WAITING) else None
        conversation(channel, created_at=NOW - age, state=state, agent=owner, queue=queue, category="billing")


def test_backlog_counts_open_items_by_age(backlog: None) -> None:
    assert kpis.backlog_aging(now=NOW) == [
        {
            "total": 6,
            "oldest_created_at": NOW - timedelta(days=4),
            "under_1h": 1,
            "1h_to_4h": 2,
            "4h_to_24h": 1,
            "1d_to_3d": 1,
            "over_3d": 1,
        }
    ]


def test_backlog_by_channel_and_filtered(backlog: None, agent: Any, other_agent: Any, queue: Queue) -> None:
    rows = kpis.backlog_aging(group_by="channel", now=NOW)
    assert [(r["channel"], r["total"], r["1h_to_4h"], r["4h_to_24h"], r["over_3d"]) for r in rows] == [
        (FB, 2, 1, 1, 0),
        (X, 4, 1, 0, 1),
    ]
    (mine,) = kpis.backlog_aging(KpiFilter(PERIOD.start, PERIOD.end, agent_id=agent.pk), now=NOW)
    assert (mine["total"], mine["1h_to_4h"], mine["4h_to_24h"], mine["1d_to_3d"]) == (3, 1, 1, 1)
    (team,) = kpis.backlog_aging(KpiFilter(PERIOD.start, PERIOD.end, team_id=team_of(other_agent)), now=NOW)
    assert (team["total"], team["oldest_created_at"]) == (0, None)
    (in_queue,) = kpis.backlog_aging(KpiFilter(PERIOD.start, PERIOD.end, queue_id=queue.pk, channel=FB), now=NOW)
    assert in_queue["total"] == 2
    with pytest.raises(Invalid):
        kpis.backlog_aging(group_by="day", now=NOW)


# --- Agents -----------------------------------------------------------------------------------


def test_time_in_state_and_occupancy_per_agent(agent: Any, other_agent: Any) -> None:
    ana, ben = AgentProfile.objects.get(user=agent), AgentProfile.objects.get(user=other_agent)
    for profile, when, previous, seconds in [
        (ana, at(0, 9), Presence.OFFLINE, 50000),
        (ana, at(0, 13), Presence.AVAILABLE, 14400),
        (ana, at(0, 14), Presence.BUSY, 3600),
        (ana, at(0, 15), Presence.AWAY, 3600),
        (ben, at(1, 10), Presence.AVAILABLE, 7200),
    ]:
        PresenceChange.objects.create(
            agent=profile, at=when, presence=Presence.AVAILABLE, previous=previous, previous_seconds=seconds
        )
    c = conversation(X, created_at=at(0, 9))
    event(EventKind.WORK, at(0, 12), c, agent=agent, value_seconds=3600)
    event(EventKind.WRAP_UP, at(0, 12), c, agent=agent, value_seconds=600)
    event(EventKind.WORK, at(1, 9), c, agent=other_agent, value_seconds=1800)

    rows = kpis.agent_time(PERIOD)
    assert rows == [
        {
            "agent_id": agent.pk,
            "offline_seconds": 50000.0,
            "available_seconds": 14400.0,
            "busy_seconds": 3600.0,
            "away_seconds": 3600.0,
            "handle_seconds": 4200.0,
            "staffed_seconds": 18000.0,
            "occupancy": pytest.approx(4200 / 18000),
        },
        {
            "agent_id": other_agent.pk,
            "offline_seconds": 0.0,
            "available_seconds": 7200.0,
            "busy_seconds": 0.0,
            "away_seconds": 0.0,
            "handle_seconds": 1800.0,
            "staffed_seconds": 7200.0,
            "occupancy": 0.25,
        },
    ]
    by_day = kpis.agent_time(KpiFilter(PERIOD.start, PERIOD.end, team_id=team_of(other_agent)), "day")
    assert [(r["period"], r["agent_id"], r["available_seconds"], r["occupancy"]) for r in by_day] == [
        (DAY_2, other_agent.pk, 7200.0, 0.25)
    ]
    assert kpis.agent_time(QUIET_WEEK) == []
