"""The report pages (/reports/, HTML and CSV) and GET /api/v1/reports/<name>/ on a small hand-built ledger.

The ledger is written directly, the way the actions write it (as in
test_kpis.py), on Monday 2 March 2026 (UTC, the test time zone):

- c1 (X, billing, queue General, agent Ana): captured 09:00 (a post of the
  listening query "Brand"), offered to Ana at 09:00 (rang out after 20 s) and again at 09:00:30 (accepted
  after 12 s), assigned after 60 s, first response 09:30 (1,800 s after the post; due 10:00), one reply,
  600 s of work, resolved 10:00, closed 11:00;
- c2 (Facebook, outage, negative, no queue): captured 11:00, withdrawn 11:30
  after 90 s (due 12:00, so before the target);
- one post filtered out on X at 12:00;
- two QA reviews of c1 (Ana): 90 (passed) at 14:00 and 60 (failed) at 14:30;
- c3 (X, open, queued): created two hours ago, for the backlog.
"""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import Team
from core.models import Channel, Contact, Conversation, Direction, Event, EventKind, Message, Platform
from core.models import ConversationState as S
from monitoring.models import ListeningQuery, SocialAccount, SocialPlatform
from reporting import charts, kpis
from reporting.forms import REPORTS
from reporting.kpis import KpiFilter
from routing.models import Queue

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
ONE_DAY = {"start": "2026-03-02", "end": "2026-03-02"}
X, FB = Channel.X_PUBLIC, Channel.FACEBOOK_PUBLIC
_threads = itertools.count(1)


def at(hour: int, minute: int = 0) -> datetime:
    return MONDAY + timedelta(hours=hour, minutes=minute)


def conversation(channel: str, *, created_at: datetime, **fields: Any) -> Conversation:
    return Conversation.objects.create(
        contact=Contact.objects.create(display_name="Dana"),
        channel=channel,
        thread_key=f"report-thread-{next(_threads)}",
        created_at=created_at,
        **fields,
    )


def event(kind: str, when: datetime, conv: Conversation | None = None, **fields: Any) -> Event:
    before_queue = kind in (EventKind.CAPTURED, EventKind.FILTERED)
    fields.setdefault("channel", conv.channel if conv else "")
    return Event.objects.create(
        kind=kind, at=when, conversation=conv, queue=None if before_queue or conv is None else conv.queue, **fields
    )


@pytest.fixture
def ledger(queue: Queue, agent: Any) -> dict[str, Any]:
    c1 = conversation(X, created_at=at(9), category="billing", queue=queue, first_response_due=at(10), state=S.CLOSED)
    event(EventKind.CAPTURED, at(9), c1)
    event(EventKind.OFFERED, at(9), c1, agent=agent, data={"offer": 1})
    event(EventKind.OFFER_TIMED_OUT, at(9) + timedelta(seconds=20), c1, agent=agent, value_seconds=20)
    event(EventKind.OFFERED, at(9) + timedelta(seconds=30), c1, agent=agent, data={"offer": 2})
    event(EventKind.OFFER_ACCEPTED, at(9) + timedelta(seconds=42), c1, agent=agent, value_seconds=12)
    event(EventKind.ASSIGNED, at(9, 1), c1, agent=agent, value_seconds=60)
    event(EventKind.FIRST_RESPONSE, at(9, 30), c1, agent=agent, data={"since_post_seconds": 1800})
    event(EventKind.REPLY, at(9, 30), c1, agent=agent)
    event(EventKind.WORK, at(9, 40), c1, agent=agent, value_seconds=600)
    event(EventKind.RESOLVED, at(10), c1, agent=agent)
    event(EventKind.CLOSED, at(11), c1, agent=agent)
    account = SocialAccount.objects.create(platform=SocialPlatform.X, external_id="1", name="Page")
    brand = ListeningQuery.objects.create(account=account, name="Brand", keywords=["brand"])
    Message.objects.create(
        conversation=c1,
        direction=Direction.INBOUND,
        platform=Platform.X,
        text="brand billed me twice",
        is_public=True,
        sent_at=at(9),
        received_at=at(9),
        listening_query=brand,
    )
    c2 = conversation(
        FB, created_at=at(11), category="outage", sentiment="negative", first_response_due=at(12), state=S.CLOSED
    )
    event(EventKind.CAPTURED, at(11), c2)
    event(EventKind.ABANDONED, at(11, 30), c2, value_seconds=90)
    event(EventKind.FILTERED, at(12), channel=X)
    event(EventKind.CSAT, at(12, 30), c1, agent=agent, value=4)
    event(EventKind.CSAT, at(13), c2, value=2)
    event(EventKind.QA, at(14), c1, agent=agent, value=90, data={"passed": True, "critical_failed": False})
    event(EventKind.QA, at(14, 30), c1, agent=agent, value=60, data={"passed": False, "critical_failed": False})
    conversation(X, created_at=timezone.now() - timedelta(hours=2), queue=queue, state=S.QUEUED)
    return {"c1": c1, "c2": c2}


@pytest.fixture
def supervisor_client(client: Client, supervisor: Any) -> Client:
    client.force_login(supervisor)
    return client


@pytest.fixture
def agent_client(client: Client, agent: Any) -> Client:
    client.force_login(agent)
    return client


def page(client: Client, name: str, **params: Any) -> Any:
    return client.get(f"/reports/{name}/?{urlencode(params)}")


def api(client: Client, name: str, **params: Any) -> Any:
    return client.get(f"/api/v1/reports/{name}/?{urlencode(params)}")


# What each page's table shows for the ledger's day, and the API's one row.
EXPECTED_CELLS = {
    "volumes": ["<td>2</td>", "<td>1</td>"],
    "speed": ["<td>1,800.0 s</td>", "<td>60.0 s</td>"],
    "handle": ["<td>600.0 s</td>"],
    "abandonment": ["<td>50.0 %</td>"],
    "service-level": ["<td>100.0 %</td>"],
    "resolution": ["<td>100.0 %</td>", "<td>2</td>"],
    "backlog": ["<td>1</td>"],
    "csat": ["<td>50.0 %</td>"],
    "quality": ["<td>75.0</td>", "<td>50.0 %</td>"],
    "trends": ["<td>50.0 %</td>", "<td>2</td>"],
    "listening": ["<td>Brand</td>", "<td>1</td>"],
    "cost": ["<td>5.0</td>"],
    "keywords": ["<td>brand</td>", "<td>100.0 %</td>"],
    "offers": ["<td>General</td>", "<td>50.0 %</td>", "<td>12.0 s</td>"],
    "offers-by-agent": ["<td>Ana</td>", "<td>50.0 %</td>", "<td>12.0 s</td>"],
}
EXPECTED_ROWS: dict[str, dict[str, Any]] = {
    "volumes": {"captured": 2, "filtered": 1, "handled": 1},
    "speed": {
        "first_response_count": 1,
        "first_response_mean_seconds": 1800.0,
        "first_response_median_seconds": 1800.0,
        "first_response_p90_seconds": 1800.0,
        "asa_count": 1,
        "asa_mean_seconds": 60.0,
        "asa_median_seconds": 60.0,
        "asa_p90_seconds": 60.0,
    },
    "handle": {"aht_seconds": 600.0, "handle_seconds": 600.0, "worked": 1, "holds": 1, "transfers": 0},
    "abandonment": {"captured": 2, "withdrawn": 1, "closed_unanswered": 0, "abandoned": 1, "abandonment_rate": 0.5},
    "service-level": {"answered": 1, "answered_in_time": 1, "abandoned_before_target": 1, "service_level": 1.0},
    "resolution": {"opened": 2, "resolved": 1, "closed": 1, "first_contact_resolved": 1, "fcr_rate": 1.0},
    "backlog": {"total": 1, "under_1h": 0, "1h_to_4h": 1, "over_3d": 0},
    "csat": {"responses": 2, "mean_score": 3.0, "satisfied": 1, "csat_rate": 0.5},
    "quality": {"reviews": 2, "mean_score": 75.0, "passed": 1, "pass_rate": 0.5, "critical_fails": 0},
    "trends": {"captured": 2, "negative": 1, "neutral": 0, "positive": 0, "unrated": 1, "negative_share": 0.5},
    "listening": {"query": "Brand", "posts": 1},
    "cost": {"contacts": 1, "cost": 5.0, "cost_per_contact": 5.0},
    "keywords": {"keyword": "brand", "mentions": 1, "posts": 1, "share": 1.0},
    "offers": {"queue": "General", "offered": 2, "accepted": 1, "timed_out": 1, "acceptance_rate": 0.5},
    "offers-by-agent": {"agent": "Ana", "offered": 2, "declined": 0, "time_to_accept_p90_seconds": 12.0},
}
# The options each report applies, with the defaults (the settings) when none are given.
APPLIED_OPTIONS: dict[str, dict[str, Any]] = {
    "abandonment": {"short_abandon_seconds": 0.0},
    "service-level": {"abandon_treatment": "ignored"},
    "resolution": {"fcr_window_hours": 72.0},
    "keywords": {"keywords": ["brand"]},
}


def test_every_report_has_an_expectation() -> None:
    assert set(EXPECTED_CELLS) == set(EXPECTED_ROWS) == set(REPORTS)


@pytest.mark.parametrize("name", list(REPORTS))
def test_a_supervisor_sees_each_report_as_a_table_and_a_chart(
    supervisor_client: Client, ledger: dict[str, Any], name: str
) -> None:
    response = page(supervisor_client, name, **ONE_DAY)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "<rect" in html
    for cell in EXPECTED_CELLS[name]:
        assert cell in html
    assert "?start=2026-03-02&amp;end=2026-03-02&amp;format=csv" in html


@pytest.mark.parametrize("name", list(REPORTS))
def test_the_api_returns_each_report(supervisor_client: Client, ledger: dict[str, Any], name: str) -> None:
    response = api(supervisor_client, name, **ONE_DAY)

    assert response.status_code == 200
    body = response.json()
    assert body["report"] == name
    assert body["filters"] == {
        "start": "2026-03-02",
        "end": "2026-03-02",
        "group_by": "none",
        "by_channel": False,
        "channel": None,
        "queue": None,
        "agent": None,
        "team": None,
        "category": None,
        "account": None,
        **APPLIED_OPTIONS.get(name, {}),
    }
    [row] = body["rows"]
    assert row.items() >= EXPECTED_ROWS[name].items()


@pytest.mark.parametrize("name", list(REPORTS))
def test_the_columns_cover_every_figure_of_the_kpi(ledger: dict[str, Any], name: str) -> None:
    report = REPORTS[name]
    [row] = report.kpi(KpiFilter(MONDAY, MONDAY + timedelta(days=1)))
    assert sorted(report.column_keys([])) == sorted(row)


def test_the_csv_holds_the_same_rows(supervisor_client: Client, ledger: dict[str, Any]) -> None:
    response = page(supervisor_client, "volumes", **ONE_DAY, group_by="day", by_channel="1", format="csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="volumes-2026-03-02-2026-03-02.csv"' in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines == [
        ["period", "channel", "captured", "filtered", "handled"],
        ["2026-03-02T00:00:00+00:00", FB, "1", "0", "0"],
        ["2026-03-02T00:00:00+00:00", X, "1", "1", "1"],
    ]
    rows = kpis.volumes(KpiFilter(MONDAY, MONDAY + timedelta(days=1)), ("day", "channel"))
    assert [[row["channel"], str(row["captured"])] for row in rows] == [[line[1], line[2]] for line in lines[1:]]


def test_the_csv_defuses_spreadsheet_formulas(supervisor_client: Client, ledger: dict[str, Any]) -> None:
    for channel in ('=HYPERLINK("http://evil")', "@SUM(A1)", "-2+3", "+1"):
        event(EventKind.FILTERED, at(13), channel=channel)

    response = page(supervisor_client, "volumes", **ONE_DAY, by_channel="true", format="csv")

    channels = [line[0] for line in csv.reader(io.StringIO(response.content.decode()))][1:]
    assert sorted(channels) == sorted(["'+1", "'-2+3", '\'=HYPERLINK("http://evil")', "'@SUM(A1)", FB, X])


def test_filters_and_grouping_pass_through(
    supervisor_client: Client, ledger: dict[str, Any], queue: Queue, agent: Any, care_team: Team
) -> None:
    def rows(name: str, **params: Any) -> list[dict[str, Any]]:
        response = api(supervisor_client, name, **ONE_DAY, **params)
        assert response.status_code == 200, response.json()
        return response.json()["rows"]

    assert rows("volumes", group_by="hour") == [
        {"period": "2026-03-02T09:00:00Z", "captured": 1, "filtered": 0, "handled": 1},
        {"period": "2026-03-02T11:00:00Z", "captured": 1, "filtered": 0, "handled": 0},
        {"period": "2026-03-02T12:00:00Z", "captured": 0, "filtered": 1, "handled": 0},
    ]
    assert rows("volumes", group_by="week", by_channel="1") == [
        {"period": "2026-03-02T00:00:00Z", "channel": FB, "captured": 1, "filtered": 0, "handled": 0},
        {"period": "2026-03-02T00:00:00Z", "channel": X, "captured": 1, "filtered": 1, "handled": 1},
    ]
    assert rows("volumes", by_channel="0") == [{"captured": 2, "filtered": 1, "handled": 1}]
    assert rows("volumes", channel=FB) == [{"captured": 1, "filtered": 0, "handled": 0}]
    assert rows("volumes", category="billing") == [{"captured": 1, "filtered": 0, "handled": 1}]
    assert rows("speed", queue=queue.pk)[0]["asa_count"] == 1
    assert rows("handle", agent=agent.pk)[0]["handle_seconds"] == 600
    assert rows("handle", team=Team.objects.create(name="Night").pk)[0]["handle_seconds"] == 0
    assert rows("handle", team=care_team.pk)[0]["handle_seconds"] == 600
    # The backlog is a snapshot of now: a time grain does not apply to it.
    response = api(supervisor_client, "backlog", group_by="day", by_channel="1", **ONE_DAY)
    assert response.json()["filters"]["group_by"] == "none"
    assert [row["channel"] for row in response.json()["rows"]] == [X]

    html = page(supervisor_client, "volumes", **ONE_DAY, group_by="day", channel=FB).content.decode()
    assert "<td>2026-03-02</td>" in html
    assert 'value="facebook_public" selected' in html


def test_the_period_defaults_to_the_last_seven_days(supervisor_client: Client, db: None) -> None:
    today = timezone.localdate()
    filters = api(supervisor_client, "volumes").json()["filters"]
    assert (filters["start"], filters["end"]) == ((today - timedelta(days=6)).isoformat(), today.isoformat())
    html = page(supervisor_client, "volumes").content.decode()
    assert f'value="{today.isoformat()}"' in html


BAD_INPUT = [
    ({"start": "2026-03-05", "end": "2026-03-04"}, "end", "must not be before the start"),
    ({"start": "2025-01-01", "end": "2026-01-02"}, "end", "at most 366 days"),
    ({"start": "yesterday"}, "start", "Enter a valid date"),
    ({"start": "9999-12-31"}, "start", "less than or equal to 2999-12-31"),
    ({"queue": "999999"}, "queue", "There is no queue with id 999999"),
    ({"agent": "abc"}, "agent", "There is no agent with id abc"),
    ({"team": "999999"}, "team", "There is no team with id 999999"),
    ({"group_by": "year"}, "group_by", "Select a valid choice"),
    ({"channel": "pigeon"}, "channel", "Select a valid choice"),
]


@pytest.mark.parametrize(("params", "field", "message"), BAD_INPUT)
def test_bad_input_shows_the_form_with_its_errors(
    supervisor_client: Client, db: None, params: dict[str, str], field: str, message: str
) -> None:
    response = page(supervisor_client, "volumes", **params)

    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert 'class="error"' in html
    assert "<svg" not in html
    assert page(supervisor_client, "volumes", format="csv", **params).status_code == 200  # the form, not a CSV


@pytest.mark.parametrize(("params", "field", "message"), BAD_INPUT)
def test_bad_input_gets_a_400_naming_the_field(
    supervisor_client: Client, db: None, params: dict[str, str], field: str, message: str
) -> None:
    response = api(supervisor_client, "volumes", **params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == [field]
    assert message in body["fields"][field][0]


def test_a_full_year_is_allowed(supervisor_client: Client, db: None) -> None:
    assert api(supervisor_client, "volumes", start="2024-01-01", end="2024-12-31").status_code == 200  # 366 days


def test_agents_get_403_on_pages_and_api(agent_client: Client) -> None:
    assert agent_client.get("/reports/").status_code == 403
    assert page(agent_client, "volumes").status_code == 403
    assert page(agent_client, "volumes", format="csv").status_code == 403
    assert api(agent_client, "volumes").status_code == 403
    assert api(agent_client, "volumes").json()["code"] == "permission_denied"


def test_reports_need_a_login(client: Client, db: None) -> None:
    assert client.get("/reports/volumes/")["Location"].startswith("/login/")
    assert api(client, "volumes").status_code == 401


def test_an_unknown_report_is_404(supervisor_client: Client) -> None:
    assert supervisor_client.get("/reports/nonsense/").status_code == 404
    response = api(supervisor_client, "nonsense")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_index_links_each_report_with_the_current_filters(supervisor_client: Client) -> None:
    response = supervisor_client.get("/reports/?channel=x_public&group_by=day")

    assert response.status_code == 200
    html = response.content.decode()
    for name in REPORTS:
        assert f'href="/reports/{name}/?channel=x_public&amp;group_by=day"' in html


def test_the_nav_shows_reports_to_staff_only(supervisor_client: Client, agent: Any) -> None:
    assert 'href="/reports/"' in supervisor_client.get("/reports/").content.decode()
    other = Client()
    other.force_login(agent)
    assert 'href="/reports/"' not in other.get("/inbox/").content.decode()


def test_a_category_named_script_shows_as_text(supervisor_client: Client, ledger: dict[str, Any]) -> None:
    html = page(supervisor_client, "volumes", **ONE_DAY, category="<script>alert(1)</script>").content.decode()

    assert "<script>alert(1)" not in html
    assert "category &lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("count", [3, charts.MAX_BARS + 5])
def test_chart_labels_and_names_are_escaped(count: int) -> None:
    labels = ["<script>go()</script>", *(f"day {n}" for n in range(count - 1))]
    series = [charts.Series("<b>captured</b>", [float(n) for n in range(count)])]

    svg = charts.chart("Volumes & <i>more</i>", labels, series)

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script>" not in svg and "<b>" not in svg and "<i>" not in svg
    assert "&lt;script&gt;go()&lt;/script&gt;" in svg
    assert "Volumes &amp; &lt;i&gt;more&lt;/i&gt;" in svg
    assert ("</rect>" in svg) == (count <= charts.MAX_BARS)  # bars carry a tooltip; legend swatches do not
    assert ("<path" in svg) == (count > charts.MAX_BARS)


def test_a_chart_without_data_says_so() -> None:
    assert "No data for this period." in charts.chart("Empty", [], [charts.Series("captured", [])])


def test_the_schema_documents_the_reports_endpoint(supervisor_client: Client) -> None:
    schema = supervisor_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/reports/{name}/"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"name", "start", "end", "group_by", "by_channel", "channel", "queue", "agent", "team"} <= names
    assert {"200", "400", "403"} <= set(operation["responses"])
