"""Offer KPIs from a hand-made ledger: acceptance rate and time to accept, per queue and per agent.

Monday 2 March 2026 (UTC), written the way routing.offers writes it:

- queue Chat, Ana: 4 offers; accepted after 10 s, 20 s and 30 s, one declined;
- queue Chat, Ben: 2 offers; one rang out (20 s), one accepted after 40 s;
- queue Email, Ana: 1 offer, rang out;
- an offer made on Sunday and accepted on Monday after 50 s (the answer counts on Monday, the offer on Sunday).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agents.actions import do_create_user
from core.models import Channel, Contact, Conversation, Event, EventKind
from core.roles import AGENT
from reporting import kpis
from reporting.kpis import KpiFilter
from routing.models import Queue

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
DAY = KpiFilter(MONDAY, MONDAY + timedelta(days=1))
_threads = itertools.count(1)


def offer(queue: Queue, agent: Any, *, answer: str | None, seconds: float, when: datetime) -> None:
    conversation = Conversation.objects.create(
        contact=Contact.objects.create(display_name="Dana"),
        channel=Channel.X_DM,
        thread_key=f"offers-{next(_threads)}",
        queue=queue,
    )

    def row(kind: str, at: datetime, value: float | None = None) -> None:
        Event.objects.create(
            kind=kind,
            at=at,
            conversation=conversation,
            agent=agent,
            channel=Channel.X_DM,
            queue=queue,
            value_seconds=value,
        )

    row(EventKind.OFFERED, when)
    if answer is not None:
        row(answer, when + timedelta(seconds=seconds), seconds)


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    chat, email = Queue.objects.create(name="Chat"), Queue.objects.create(name="Email")
    ana = do_create_user("ana", "pw-ana-12345", role=AGENT, first_name="Ana")
    ben = do_create_user("ben", "pw-ben-12345", role=AGENT, first_name="Ben")
    nine = MONDAY + timedelta(hours=9)
    for minute, answer, seconds in (
        (0, EventKind.OFFER_ACCEPTED, 10),
        (5, EventKind.OFFER_ACCEPTED, 20),
        (10, EventKind.OFFER_ACCEPTED, 30),
        (15, EventKind.OFFER_DECLINED, 3),
    ):
        offer(chat, ana, answer=answer, seconds=seconds, when=nine + timedelta(minutes=minute))
    offer(chat, ben, answer=EventKind.OFFER_TIMED_OUT, seconds=20, when=nine)
    offer(chat, ben, answer=EventKind.OFFER_ACCEPTED, seconds=40, when=nine + timedelta(minutes=1))
    offer(email, ana, answer=EventKind.OFFER_TIMED_OUT, seconds=20, when=nine)
    offer(chat, ben, answer=EventKind.OFFER_ACCEPTED, seconds=50, when=MONDAY - timedelta(seconds=10))
    return {"chat": chat, "email": email, "ana": ana, "ben": ben}


def test_the_whole_day(world: dict[str, Any]) -> None:
    [row] = kpis.offers(DAY)

    # Offers made on Monday: 7 (Sunday's offer is Sunday's); answers on Monday: 5 accepted (Sunday's among them),
    # 1 declined, 2 rang out.
    assert (row["offered"], row["accepted"], row["declined"], row["timed_out"]) == (7, 5, 1, 2)
    assert row["acceptance_rate"] == pytest.approx(5 / 8)
    # Accepted after 10, 20, 30, 40, 50 s: mean 30, median 30, p90 46 (linear interpolation: 40 + 0.6 * 10).
    assert row["time_to_accept_count"] == 5
    assert row["time_to_accept_mean_seconds"] == pytest.approx(30)
    assert row["time_to_accept_median_seconds"] == pytest.approx(30)
    assert row["time_to_accept_p90_seconds"] == pytest.approx(46)


def test_per_queue(world: dict[str, Any]) -> None:
    rows = {row["queue"]: row for row in kpis.offers_by_queue(DAY)}

    assert set(rows) == {"Chat", "Email"}
    chat, email = rows["Chat"], rows["Email"]
    assert (chat["offered"], chat["accepted"], chat["declined"], chat["timed_out"]) == (6, 5, 1, 1)
    assert chat["acceptance_rate"] == pytest.approx(5 / 7)
    assert chat["time_to_accept_mean_seconds"] == pytest.approx(30)
    assert (email["offered"], email["accepted"], email["timed_out"], email["acceptance_rate"]) == (1, 0, 1, 0.0)
    assert email["time_to_accept_count"] == 0 and email["time_to_accept_mean_seconds"] is None


def test_per_agent(world: dict[str, Any]) -> None:
    rows = {row["agent"]: row for row in kpis.offers_by_agent(DAY)}

    ana, ben = rows["Ana"], rows["Ben"]
    assert ana["agent_id"] == world["ana"].pk
    assert (ana["offered"], ana["accepted"], ana["declined"], ana["timed_out"]) == (5, 3, 1, 1)
    assert ana["acceptance_rate"] == pytest.approx(3 / 5)
    assert ana["time_to_accept_mean_seconds"] == pytest.approx(20)
    assert ana["time_to_accept_p90_seconds"] == pytest.approx(28)  # 10, 20, 30: 20 + 0.8 * 10
    assert (ben["offered"], ben["accepted"], ben["timed_out"]) == (2, 2, 1)
    assert ben["acceptance_rate"] == pytest.approx(2 / 3)
    assert ben["time_to_accept_median_seconds"] == pytest.approx(45)


def test_per_agent_of_one_queue_and_by_hour(world: dict[str, Any]) -> None:
    rows = kpis.offers(KpiFilter(DAY.start, DAY.end, queue_id=world["chat"].pk), ["hour", "agent"])

    figures = {(row["period"].hour, row["agent_id"]): (row["offered"], row["accepted"]) for row in rows}
    assert figures == {(0, world["ben"].pk): (0, 1), (9, world["ana"].pk): (4, 3), (9, world["ben"].pk): (2, 1)}


def test_nothing_offered_gives_one_empty_row(db: None) -> None:
    [row] = kpis.offers(DAY)

    assert row["offered"] == 0 and row["acceptance_rate"] is None and row["time_to_accept_mean_seconds"] is None
