"""The staffing plan (/staffing/ and GET /api/v1/staffing/plan) on a small history worked out by hand.

The day planned is Tuesday 24 March 2026 (UTC), seen at 12:10 that day. With
4 weeks of history the forecast averages Tuesdays 17, 10 and 3 March and
24 February:

- 09:00-09:30: 3 + 1 + 0 + 4 = 8 conversations → 2.0; 09:30-10:00: 2 → 0.5.
  In 15-minute intervals: 09:00-09:15: 2 → 0.5, 09:15-09:30: 6 → 1.5.
- A fifth Tuesday, 17 February, has 7 at 09:05: with 5 weeks, 09:00 → 15 / 5 = 3.0.
- Not counted: Monday 23 March, and the planned day itself.
- AHT: two conversations worked 300 s and 600 s in those weeks → 450 s (a
  work row on Friday 20 March lies outside them).

At 2.0 conversations per 30 minutes and 450 s each the traffic is 0.5
erlangs: one agent answers 1 - 0.5·e^(-0.5·20/450) ≈ 51 % within 20 s, two
answer 1 - 0.1·e^(-1.5·20/450) ≈ 90.6 %, so 80 % in 20 s needs 2 agents, and
3 to schedule at 30 % shrinkage (2 / 0.7 = 2.86).

Presence on the day: A available 08:50-09:10; B available since Monday 22:00;
C away 09:40-09:50; E only on Monday (10:00-18:00); F available exactly
10:00-10:30.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client

from agents.actions import do_create_user, do_set_presence
from agents.models import AgentProfile, AwayReason, Presence
from core.models import Channel, Contact, Conversation, Event, EventKind
from core.roles import AGENT
from reporting.models import Forecast
from reporting.planning import PlanInputs, day_intervals, history_days, staffing_plan

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 24)
NOW = datetime(2026, 3, 24, 12, 10, tzinfo=UTC)
URL = "/api/v1/staffing/plan"
X = Channel.X_PUBLIC
_threads = itertools.count(1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def tuesday(weeks_ago: int) -> date:
    return DAY - timedelta(days=7 * weeks_ago)


def conversation(when: datetime) -> Conversation:
    return Conversation.objects.create(
        contact=Contact.objects.create(display_name="Dana"),
        channel=X,
        thread_key=f"plan-thread-{next(_threads)}",
        created_at=when,
    )


def captured(*times: datetime) -> None:
    for when in times:
        Event.objects.create(kind=EventKind.CAPTURED, at=when, conversation=conversation(when), channel=X)


def worked(when: datetime, seconds: float) -> None:
    Event.objects.create(
        kind=EventKind.WORK, at=when, conversation=conversation(when), channel=X, value_seconds=seconds
    )


@pytest.fixture
def history(settings: Any) -> None:
    settings.TIME_ZONE = "UTC"
    captured(at(tuesday(1), 9), at(tuesday(1), 9, 10), at(tuesday(1), 9, 29))
    captured(at(tuesday(1), 9, 30), at(tuesday(1), 9, 59))
    captured(at(tuesday(2), 9, 15))
    captured(*[at(tuesday(4), 9, 20)] * 4)
    captured(*[at(tuesday(5), 9, 5)] * 7)
    captured(at(DAY - timedelta(days=1), 9, 10), *[at(DAY, 9)] * 5)
    worked(at(tuesday(1), 11), 300)
    worked(at(tuesday(3), 15), 600)
    worked(at(DAY - timedelta(days=4), 11), 10_000)


def agent_named(name: str) -> AgentProfile:
    user = do_create_user(name, f"pw-{name}-12345", role=AGENT, first_name=name)
    return AgentProfile.objects.get(user=user)


@pytest.fixture
def presence(db: None) -> None:
    monday = DAY - timedelta(days=1)
    a, b, c, e, f = (agent_named(name) for name in ("a", "b", "c", "e", "f"))
    do_set_presence(e, Presence.AVAILABLE, at=at(monday, 10))
    do_set_presence(e, Presence.OFFLINE, at=at(monday, 18))
    do_set_presence(b, Presence.AVAILABLE, at=at(monday, 22))
    do_set_presence(a, Presence.AVAILABLE, at=at(DAY, 8, 50))
    do_set_presence(a, Presence.OFFLINE, at=at(DAY, 9, 10))
    do_set_presence(c, Presence.AWAY, reason=AwayReason.BREAK, at=at(DAY, 9, 40))
    do_set_presence(c, Presence.OFFLINE, at=at(DAY, 9, 50))
    do_set_presence(f, Presence.AVAILABLE, at=at(DAY, 10))
    do_set_presence(f, Presence.OFFLINE, at=at(DAY, 10, 30))


@pytest.fixture
def supervisor_client(client: Client, supervisor: Any) -> Client:
    client.force_login(supervisor)
    return client


def get_plan(client: Client, **params: Any) -> Any:
    with time_machine.travel(NOW, tick=False):
        return client.get(f"{URL}?{urlencode(params)}")


def by_start(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["start"][11:16]: row for row in body["intervals"]}


# --- The pieces ----------------------------------------------------------------------------------


def test_history_days_are_the_latest_ended_days_of_the_weekday() -> None:
    assert history_days(DAY, 2, today=DAY) == [tuesday(1), tuesday(2)]
    assert history_days(DAY + timedelta(days=7), 1, today=DAY) == [tuesday(1)], "today has not ended"
    assert history_days(DAY, 1, today=DAY + timedelta(days=30)) == [tuesday(1)]


def test_a_day_has_its_intervals_also_when_the_clocks_change(settings: Any) -> None:
    assert len(day_intervals(DAY, 30)) == 48
    settings.TIME_ZONE = "Europe/Madrid"
    assert len(day_intervals(date(2026, 3, 29), 60)) == 23  # clocks go forward
    assert len(day_intervals(date(2026, 10, 25), 15)) == 100  # and back


# --- The plan ------------------------------------------------------------------------------------


def test_the_forecast_comes_from_the_same_weekday_and_interval(history: None, supervisor_client: Client) -> None:
    response = get_plan(supervisor_client, date="2026-03-24", shrinkage="0.3")

    assert response.status_code == 200
    body = response.json()
    assert body["history_days"] == ["2026-03-17", "2026-03-10", "2026-03-03", "2026-02-24"]
    assert (body["aht_seconds"], body["aht_source"]) == (450.0, "history")
    assert body["inputs"] == {
        "day": "2026-03-24",
        "interval_minutes": 30,
        "target_service_level": 0.8,
        "answer_seconds": 20.0,
        "target_asa_seconds": None,
        "shrinkage": 0.3,
        "concurrency": 1.0,
        "aht_seconds": None,
        "weeks": 4,
    }
    rows = by_start(body)
    assert len(rows) == 48
    nine = rows["09:00"]
    assert (nine["volume"], nine["volume_source"], nine["traffic_erlangs"]) == (2.0, "history", 0.5)
    assert (nine["agents"], nine["scheduled_agents"]) == (2, 3)
    assert nine["service_level"] == pytest.approx(1 - 0.1 * math.exp(-1.5 * 20 / 450), abs=1e-4)
    assert nine["occupancy"] == 0.25
    assert rows["09:30"]["volume"] == 0.5
    quiet = rows["03:00"]
    assert (quiet["volume"], quiet["agents"], quiet["scheduled_agents"], quiet["service_level"]) == (0.0, 0, 0, 1.0)


def test_fifteen_minute_intervals_and_more_weeks(history: None, supervisor_client: Client) -> None:
    rows = by_start(get_plan(supervisor_client, date="2026-03-24", interval_minutes="15").json())
    assert len(rows) == 96
    assert (rows["09:00"]["volume"], rows["09:15"]["volume"], rows["09:30"]["volume"]) == (0.5, 1.5, 0.25)

    five_weeks = by_start(get_plan(supervisor_client, date="2026-03-24", weeks="5").json())
    assert five_weeks["09:00"]["volume"] == 3.0


def test_a_hand_entered_forecast_replaces_history_and_aht_can_be_given(
    history: None, supervisor_client: Client
) -> None:
    Forecast.objects.create(starts_at=at(DAY, 9, 30), interval_minutes=30, volume=10, note="campaign")
    Forecast.objects.create(starts_at=at(DAY, 9, 30), interval_minutes=60, volume=99)  # other interval length

    body = get_plan(supervisor_client, date="2026-03-24", aht_seconds="180", concurrency="2").json()

    assert (body["aht_seconds"], body["aht_source"]) == (180.0, "given")
    rows = by_start(body)
    assert (rows["09:30"]["volume"], rows["09:30"]["volume_source"]) == (10.0, "forecast")
    assert rows["09:30"]["traffic_erlangs"] == 10 * 90 / 1800  # effective AHT 180 / 2
    assert (rows["09:00"]["volume"], rows["09:00"]["volume_source"]) == (2.0, "history")


def test_the_agents_logged_in_per_interval(history: None, presence: None, supervisor_client: Client) -> None:
    rows = by_start(get_plan(supervisor_client, date="2026-03-24").json())
    logged_in = {start: rows[start]["logged_in"] for start in ("00:00", "08:00", "08:30", "09:00", "09:30")}
    assert logged_in == {"00:00": 1, "08:00": 1, "08:30": 2, "09:00": 2, "09:30": 2}
    assert (rows["10:00"]["logged_in"], rows["10:30"]["logged_in"]) == (2, 1)
    assert rows["12:00"]["logged_in"] == 1, "the current interval"
    assert rows["12:30"]["logged_in"] is None, "the future"

    # A past day: E on Monday 10:00-18:00 and B from 22:00; nobody before 10:00.
    with time_machine.travel(NOW, tick=False):
        plan = staffing_plan(PlanInputs(day=DAY - timedelta(days=1), interval_minutes=60, aht_seconds=300))
    monday = {timezone_hour(interval.start): interval.logged_in for interval in plan.intervals}
    assert (monday[9], monday[10], monday[17], monday[18], monday[21], monday[22], monday[23]) == (0, 1, 1, 0, 0, 1, 1)


def timezone_hour(moment: datetime) -> int:
    return moment.astimezone(UTC).hour


def test_the_staffing_page_shows_the_plan_and_chart(history: None, presence: None, supervisor_client: Client) -> None:
    with time_machine.travel(NOW, tick=False):
        response = supervisor_client.get("/staffing/?date=2026-03-24&shrinkage=0.3")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in html and "Required on the floor" in html and "Logged in" in html
    assert "<td>09:00 to 09:30</td><td>2.0</td><td>0.50</td><td>2</td><td>3</td>" in html
    assert "AHT 450.0 s (from history)" in html


# --- Bad input and permissions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval_minutes": "20"}, "interval_minutes"),
        ({"weeks": "0"}, "weeks"),
        ({"weeks": "53"}, "weeks"),
        ({"date": "2026-02-30"}, "date"),
        ({"shrinkage": "1"}, "shrinkage"),
        ({"concurrency": "0.5"}, "concurrency"),
        ({"target_service_level": "1.5", "answer_seconds": "20"}, "target_service_level"),
        ({"target_service_level": "0.8"}, "answer_seconds"),
        ({"target_asa_seconds": "-3"}, "target_asa_seconds"),
        ({"aht_seconds": "0"}, "aht_seconds"),
    ],
)
def test_bad_parameters_get_a_400_naming_them(
    history: None, supervisor_client: Client, params: dict[str, str], field: str
) -> None:
    response = get_plan(supervisor_client, **params)
    assert response.status_code == 400
    assert field in response.json()["fields"]

    with time_machine.travel(NOW, tick=False):
        page = supervisor_client.get(f"/staffing/?{urlencode(params)}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="error"' in html and "<svg" not in html


def test_without_handle_history_the_aht_must_be_given(supervisor_client: Client) -> None:
    response = get_plan(supervisor_client, date="2026-03-24")
    assert response.status_code == 400
    assert "give aht_seconds" in response.json()["fields"]["aht_seconds"][0]
    assert get_plan(supervisor_client, date="2026-03-24", aht_seconds="200").status_code == 200


def test_only_supervisors_plan_staffing(client: Client, agent: Any) -> None:
    assert client.get(URL).status_code in (401, 403)
    assert client.get("/staffing/").status_code == 302  # to the login page
    client.force_login(agent)
    assert client.get(URL).status_code == 403
    assert client.get("/staffing/").status_code == 403


def test_a_forecast_starts_on_its_interval(settings: Any) -> None:
    from django.core.exceptions import ValidationError

    settings.TIME_ZONE = "UTC"
    with pytest.raises(ValidationError, match="multiple of 30 minutes"):
        Forecast(starts_at=at(DAY, 9, 15), interval_minutes=30, volume=3).full_clean()
    Forecast(starts_at=at(DAY, 9, 15), interval_minutes=15, volume=3).full_clean()


# --- Forecasts entered on the page ---------------------------------------------------------------


def post_forecast(client: Client, query: str, **fields: str) -> Any:
    with time_machine.travel(NOW, tick=False):
        return client.post(f"/staffing/?{query}", fields)


def test_a_supervisor_enters_and_removes_a_forecast_on_the_page(history: None, supervisor_client: Client) -> None:
    query = "date=2026-03-24&interval_minutes=30"
    response = post_forecast(supervisor_client, query, start="09:30", volume="12", note="campaign")
    assert response.status_code == 302 and response["Location"] == f"/staffing/?{query}"
    forecast = Forecast.objects.get()
    assert (forecast.starts_at, forecast.interval_minutes, forecast.volume, forecast.note) == (
        at(DAY, 9, 30),
        30,
        12.0,
        "campaign",
    )
    rows = by_start(get_plan(supervisor_client, date="2026-03-24").json())
    assert (rows["09:30"]["volume"], rows["09:30"]["volume_source"]) == (12.0, "forecast")

    post_forecast(supervisor_client, query, start="09:30", volume="7")
    assert Forecast.objects.get().volume == 7.0, "one forecast per interval, replaced"
    post_forecast(supervisor_client, query, start="09:30", volume="")
    assert not Forecast.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start": "09:15", "volume": "3"}, "multiple of 30 minutes"),
        ({"start": "09:30", "volume": "-1"}, "greater than or equal to 0"),
        ({"start": "half past nine", "volume": "3"}, "Enter a valid time"),
    ],
)
def test_bad_forecasts_are_refused_on_the_page(
    history: None, supervisor_client: Client, fields: dict[str, str], message: str
) -> None:
    response = post_forecast(supervisor_client, "date=2026-03-24&interval_minutes=30", **fields)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Forecast.objects.exists()


def test_agents_cannot_enter_forecasts(client: Client, agent: Any) -> None:
    client.force_login(agent)
    assert post_forecast(client, "date=2026-03-24", start="09:30", volume="3").status_code == 403
    assert not Forecast.objects.exists()
