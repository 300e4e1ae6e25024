"""Report options (short abandons, abandon treatment, FCR window) from the settings and per request, and the
social account filter, on small hand-built ledgers (written the way the actions write them).

Service level, Monday 2 March 2026, every conversation due at 10:00:
answered at 09:30 (in time), answered at 10:30 (late), abandoned at 09:45
(before the target) and abandoned at 10:15 (after it), neither answered.

- ignored: 1 in time of 2 answered → 0.5;
- met: the 2 abandons count as in time → 3 / 4 = 0.75;
- missed: they count as missed → 1 / 4 = 0.25;
- after_target: only the abandon after 10:00 counts, as missed → 1 / 3.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from core.models import Channel, Contact, Conversation, Direction, Event, EventKind, Message, Platform
from monitoring.models import SocialAccount, SocialPlatform
from reporting import kpis
from reporting.kpis import KpiFilter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_source")]

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
ONE_DAY = {"start": "2026-03-02", "end": "2026-03-02"}
THREE_DAYS = KpiFilter(MONDAY, MONDAY + timedelta(days=3))
X = Channel.X_PUBLIC
_threads = itertools.count(1)


def at(hour: int, minute: int = 0, *, day: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def conversation(**fields: Any) -> Conversation:
    fields.setdefault("contact", Contact.objects.create(display_name="Dana"))
    return Conversation.objects.create(
        channel=X, thread_key=f"options-thread-{next(_threads)}", created_at=at(9), **fields
    )


def event(kind: str, when: datetime, conv: Conversation, **fields: Any) -> Event:
    return Event.objects.create(kind=kind, at=when, conversation=conv, channel=conv.channel, **fields)


@pytest.fixture
def supervisor_client(client: Client, supervisor: Any) -> Client:
    client.force_login(supervisor)
    return client


def api(client: Client, name: str, **params: Any) -> Any:
    return client.get(f"/api/v1/reports/{name}/?{urlencode({**ONE_DAY, **params})}")


# --- Service level: each abandon treatment ---------------------------------------------------


@pytest.fixture
def service_ledger(agent: Any) -> None:
    due = at(10)
    for answered_at in (at(9, 30), at(10, 30)):
        c = conversation(first_response_due=due)
        event(EventKind.FIRST_RESPONSE, answered_at, c, agent=agent)
    for abandoned_at in (at(9, 45), at(10, 15)):
        c = conversation(first_response_due=due)
        event(EventKind.ABANDONED, abandoned_at, c, value_seconds=600)


@pytest.mark.parametrize(
    ("treatment", "eligible", "in_time", "service_level"),
    [("ignored", 2, 1, 0.5), ("met", 4, 3, 0.75), ("missed", 4, 1, 0.25), ("after_target", 3, 1, 1 / 3)],
)
def test_each_abandon_treatment_on_one_dataset(
    service_ledger: None,
    supervisor_client: Client,
    treatment: str,
    eligible: int,
    in_time: int,
    service_level: float,
) -> None:
    (row,) = kpis.service_level(THREE_DAYS, abandon_treatment=treatment)
    assert (row["eligible"], row["in_time"], row["service_level"]) == (eligible, in_time, pytest.approx(service_level))

    body = api(supervisor_client, "service-level", abandon_treatment=treatment).json()
    assert body["filters"]["abandon_treatment"] == treatment
    [api_row] = body["rows"]
    assert (api_row["eligible"], api_row["in_time"]) == (eligible, in_time)


def test_the_abandon_treatment_defaults_to_the_setting(
    service_ledger: None, supervisor_client: Client, settings: Any
) -> None:
    settings.SERVICE_LEVEL_ABANDONS = "missed"
    assert kpis.service_level(THREE_DAYS)[0]["service_level"] == 0.25
    body = api(supervisor_client, "service-level").json()
    assert body["filters"]["abandon_treatment"] == "missed"
    assert body["rows"][0]["service_level"] == 0.25


def test_the_page_shows_the_treatment_applied(service_ledger: None, supervisor_client: Client) -> None:
    html = supervisor_client.get(f"/reports/service-level/?{urlencode({**ONE_DAY, 'abandon_treatment': 'met'})}")
    text = html.content.decode()
    assert "Applied: Abandons = met." in text and "<td>75.0 %</td>" in text
    assert 'name="abandon_treatment"' in text and 'name="fcr_window_hours"' not in text


# --- Short abandons and the FCR window -------------------------------------------------------


@pytest.fixture
def abandon_ledger() -> None:
    for wait in (5, 30, 90):
        c = conversation()
        event(EventKind.CAPTURED, at(9), c)
        event(EventKind.ABANDONED, at(9, 5), c, value_seconds=wait)


def test_short_abandons_per_request_and_from_the_setting(
    abandon_ledger: None, supervisor_client: Client, settings: Any
) -> None:
    body = api(supervisor_client, "abandonment", short_abandon_seconds="30").json()
    assert body["filters"]["short_abandon_seconds"] == 30.0
    [row] = body["rows"]
    assert (row["withdrawn"], row["short_abandons"], row["abandonment_rate"]) == (2, 1, pytest.approx(2 / 3))

    settings.SHORT_ABANDON_SECONDS = 60.0
    [row] = api(supervisor_client, "abandonment").json()["rows"]
    assert (row["withdrawn"], row["short_abandons"]) == (1, 2)
    assert kpis.abandonment(THREE_DAYS, short_abandon_seconds=0)[0]["withdrawn"] == 3


@pytest.fixture
def resolution_ledger(agent: Any) -> None:
    # Resolved Monday 10:00 and reopened 48 hours later: first-contact only under a window shorter than 48 h.
    c = conversation()
    event(EventKind.RESOLVED, at(10), c, agent=agent)
    event(EventKind.REOPENED, at(10, day=2), c)


def test_the_fcr_window_per_request_and_from_the_setting(
    resolution_ledger: None, supervisor_client: Client, settings: Any
) -> None:
    assert api(supervisor_client, "resolution").json()["rows"][0]["first_contact_resolved"] == 0  # 72 h
    body = api(supervisor_client, "resolution", fcr_window_hours="24").json()
    assert body["filters"]["fcr_window_hours"] == 24.0
    assert body["rows"][0]["fcr_rate"] == 1.0
    settings.FCR_WINDOW_HOURS = 47.5
    assert api(supervisor_client, "resolution").json()["rows"][0]["first_contact_resolved"] == 1


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("abandonment", {"short_abandon_seconds": "-1"}, "short_abandon_seconds"),
        ("abandonment", {"short_abandon_seconds": "soon"}, "short_abandon_seconds"),
        ("service-level", {"abandon_treatment": "sometimes"}, "abandon_treatment"),
        ("resolution", {"fcr_window_hours": "100000"}, "fcr_window_hours"),
        ("keywords", {"keywords": "refund,,outage"}, "keywords"),
        ("volumes", {"account": "999"}, "account"),
    ],
)
def test_bad_options_get_a_400_naming_the_field(
    supervisor_client: Client, name: str, params: dict[str, str], field: str
) -> None:
    response = api(supervisor_client, name, **params)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    page = supervisor_client.get(f"/reports/{name}/?{urlencode({**ONE_DAY, **params})}")
    assert page.status_code == 200 and 'class="error"' in page.content.decode()


def test_the_kpis_refuse_bad_thresholds() -> None:
    from core.errors import Invalid

    with pytest.raises(Invalid):
        kpis.abandonment(THREE_DAYS, short_abandon_seconds=-1)
    with pytest.raises(Invalid):
        kpis.resolution(THREE_DAYS, fcr_window_hours=-1)


# --- The social account filter --------------------------------------------------------------


def test_reports_filter_by_the_social_account_that_captured_the_conversation(supervisor_client: Client) -> None:
    brand = SocialAccount.objects.create(platform=SocialPlatform.X, external_id="1", name="Brand")
    support = SocialAccount.objects.create(platform=SocialPlatform.X, external_id="2", name="Support")
    for account, count in ((brand, 2), (support, 1)):
        for _ in range(count):
            c = conversation()
            Message.objects.create(
                conversation=c,
                direction=Direction.INBOUND,
                platform=Platform.X,
                text="hello",
                is_public=True,
                sent_at=at(9),
                received_at=at(9),
                account=account,
            )
            event(EventKind.CAPTURED, at(9), c)
    Event.objects.create(kind=EventKind.FILTERED, at=at(9), channel=X)

    assert kpis.volumes(KpiFilter(MONDAY, MONDAY + timedelta(days=1), account_id=brand.pk))[0]["captured"] == 2
    body = api(supervisor_client, "volumes", account=support.pk).json()
    assert body["filters"]["account"] == support.pk
    assert body["rows"] == [{"captured": 1, "filtered": 0, "handled": 0}]
    assert api(supervisor_client, "volumes").json()["rows"][0] == {"captured": 3, "filtered": 1, "handled": 0}
    assert api(supervisor_client, "keywords", account=brand.pk, keywords="hello").json()["rows"] == [
        {"keyword": "hello", "mentions": 2, "posts": 2, "share": 1.0}
    ]
