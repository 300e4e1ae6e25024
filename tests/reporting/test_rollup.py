"""The hourly rollup: reports read whole rolled hours from it and the rest from the ledger, and add up the same.

The KPI tests (test_kpis.py and its siblings) run every hand-computed answer
twice, reading the ledger and reading the rollup (the ``ledger_source``
fixture); these tests cover what is the rollup's own: which hours it holds,
how it keeps them current, and when a report must read the ledger instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contactcenter.celery import BEAT_SCHEDULE
from core.models import Channel, Contact, Conversation, Event, EventKind
from reporting import kpis, rollup
from reporting.kpis import KpiFilter
from reporting.models import LedgerHour, RollupState

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, tzinfo=UTC)
X = Channel.X_PUBLIC


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def conversation(created: datetime, *, contact: Contact | None = None, category: str = "billing") -> Conversation:
    return Conversation.objects.create(
        contact=contact or Contact.objects.create(display_name="Dana"),
        channel=X,
        thread_key=f"thread-{Conversation.objects.count()}-{created.timestamp()}",
        category=category,
        created_at=created,
    )


def event(kind: str, when: datetime, conv: Conversation, **fields: Any) -> Event:
    return Event.objects.create(kind=kind, at=when, conversation=conv, channel=conv.channel, **fields)


def captured(when: datetime, **kwargs: Any) -> Conversation:
    conv = conversation(when, **kwargs)
    event(EventKind.CAPTURED, when, conv)
    return conv


def ledger_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if '"core_event"' in q["sql"]]


def test_a_rolled_period_is_read_from_the_rollup_alone() -> None:
    for hour in range(0, 48, 5):
        captured(at(hour + 0.25))
    rollup.do_roll_up(at(72))
    period = KpiFilter(START, at(48))
    with CaptureQueriesContext(connection) as queries:
        (row,) = kpis.volumes(period)
    assert row["captured"] == 10
    assert ledger_queries(queries) == []


def test_the_edges_of_a_period_off_the_hour_come_from_the_ledger() -> None:
    for minute in range(0, 180, 7):
        captured(at(minute / 60))
    rollup.do_roll_up(at(24))
    period = KpiFilter(at(0.3), at(2.6))  # 00:18 to 02:36: 01:00-02:00 rolled, the edges not
    with CaptureQueriesContext(connection) as queries:
        (row,) = kpis.volumes(period)
    expected = Event.objects.filter(at__gte=period.start, at__lt=period.end).count()
    assert row["captured"] == expected
    assert len(ledger_queries(queries)) == 2  # the head and the tail


def test_the_hour_in_progress_is_read_from_the_ledger_until_it_is_rolled() -> None:
    captured(at(0.5))
    rollup.do_roll_up(at(2.5))  # 00:00-02:00 rolled; 02:00- not
    captured(at(2.2))
    period = KpiFilter(START, at(3))
    assert kpis.volumes(period)[0]["captured"] == 2
    rollup.do_roll_up(at(3.1))
    assert RollupState.objects.get().rolled_until == at(3)
    with CaptureQueriesContext(connection) as queries:
        assert kpis.volumes(period)[0]["captured"] == 2
    assert ledger_queries(queries) == []


def test_each_run_sums_the_last_fcr_window_again(settings: Any) -> None:
    settings.FCR_WINDOW_HOURS = 24
    conv = captured(at(1))
    event(EventKind.RESOLVED, at(2), conv)
    rollup.do_roll_up(at(5))
    period = KpiFilter(START, at(5))
    assert kpis.resolution(period)[0]["first_contact_resolved"] == 1
    # Reopened 20 hours after the resolution: inside the window, so the next run moves the rolled hour.
    event(EventKind.REOPENED, at(22), conv)
    rollup.do_roll_up(at(23))
    assert kpis.resolution(period)[0]["first_contact_resolved"] == 0


def test_an_hour_past_the_window_keeps_the_category_it_was_rolled_with(settings: Any) -> None:
    settings.FCR_WINDOW_HOURS = 24
    conv = captured(at(1), category="billing")
    rollup.do_roll_up(at(5))
    Conversation.objects.filter(pk=conv.pk).update(category="outage")
    rollup.do_roll_up(at(40))  # the hour of 01:00 is past the window: not summed again
    by_category = KpiFilter(START, at(5), category="billing")
    assert kpis.volumes(by_category)[0]["captured"] == 1
    rollup.do_roll_up(at(40), rebuild=True)
    assert kpis.volumes(by_category)[0]["captured"] == 0


def test_a_changed_setting_sets_the_rollup_aside_until_it_is_rebuilt(settings: Any) -> None:
    conv = captured(at(1))
    event(EventKind.RESOLVED, at(2), conv)
    captured(at(30), contact=conv.contact)  # 28 hours after the resolution
    rollup.do_roll_up(at(100))
    period = KpiFilter(START, at(5))
    assert kpis.resolution(period)[0]["first_contact_resolved"] == 0  # default window: 72 hours
    settings.FCR_WINDOW_HOURS = 24
    assert rollup.state() is None
    with CaptureQueriesContext(connection) as queries:
        assert kpis.resolution(period)[0]["first_contact_resolved"] == 1
    assert ledger_queries(queries)
    reach = rollup.do_roll_up(at(100))
    assert reach is not None and reach.fcr_window_hours == 24
    assert kpis.resolution(period)[0]["first_contact_resolved"] == 1


def test_other_parameters_and_per_agent_filters_read_the_ledger(agent: Any) -> None:
    conv = captured(at(1))
    event(EventKind.RESOLVED, at(2), conv, agent=agent)
    event(EventKind.ABANDONED, at(3), captured(at(2.5)), value_seconds=30)
    rollup.do_roll_up(at(100))
    period = KpiFilter(START, at(5))
    for read in (
        lambda: kpis.resolution(period, fcr_window_hours=1),
        lambda: kpis.abandonment(period, short_abandon_seconds=60),
        lambda: kpis.resolution(KpiFilter(START, at(5), agent_id=agent.pk)),
    ):
        with CaptureQueriesContext(connection) as queries:
            read()
        assert ledger_queries(queries)
    assert kpis.abandonment(period, short_abandon_seconds=60)[0]["short_abandons"] == 1
    assert kpis.abandonment(period)[0]["short_abandons"] == 0


def test_the_rollup_holds_far_fewer_rows_than_the_ledger() -> None:
    for minute in range(0, 600, 2):
        captured(at(minute / 60))
    rollup.do_roll_up(at(24))
    assert Event.objects.count() == 300
    assert LedgerHour.objects.count() == 10  # one per hour: same kind, channel, queue and category


def test_the_command_rolls_up_and_says_how_far() -> None:
    out = StringIO()
    call_command("rollup", stdout=out)
    assert "The ledger is empty" in out.getvalue()
    captured(at(1))
    out = StringIO()
    call_command("rollup", "--rebuild", stdout=out)
    assert "Rolled up 2026-03-02 01:00" in out.getvalue()
    assert LedgerHour.objects.filter(kind=EventKind.CAPTURED).count() == 1


def test_the_rollup_runs_every_five_minutes() -> None:
    assert BEAT_SCHEDULE["roll-up-ledger"] == {"task": "reporting.tasks.roll_up_ledger", "schedule": 300.0}


def test_admins_see_how_far_the_rollup_reaches_and_cannot_change_it(admin_user: Any) -> None:
    captured(at(1))
    rollup.do_roll_up(at(5))
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("admin:reporting_rollupstate_changelist")).content.decode()
    assert "March 2, 2026, 5 a.m." in page
    state = RollupState.objects.get()
    assert (
        client.post(reverse("admin:reporting_rollupstate_delete", args=[state.pk]), {"post": "yes"}).status_code == 403
    )
    assert client.get(reverse("admin:reporting_rollupstate_add")).status_code == 403
