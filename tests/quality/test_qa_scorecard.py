"""Per-agent scorecards on a hand-built ledger: QA, CSAT, handled, AHT and FCR for one agent, and who may see them.

Monday 2 March 2026 (UTC), each conversation from its own customer:

- Ana, c1: first response 09:30, work 300 s + wrap-up 60 s, resolved 10:00,
  CSAT 5, QA 90 (passed);
- Ana, c2: first response 11:00, work 240 s, resolved 11:30 and reopened at
  12:00 (so not resolved at first contact), CSAT 3, QA 70 (failed);
- Ben, c3: first response, work 1,000 s, resolved, CSAT 1, QA 0 (critical fail);
- Ana, a QA review a week later: outside the period.

Ana: 2 reviews, mean 80.0, pass rate 50 %; CSAT 2 responses, rate 50 %, mean
4.0; handled 2; AHT (300 + 60 + 240) / 2 = 300 s; 2 resolved, FCR 50 %.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from core.models import Channel, Contact, Conversation, Event, EventKind
from core.models import ConversationState as S
from quality.queries import scorecard

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
DAY = {"start": "2026-03-02", "end": "2026-03-02"}
_threads = itertools.count(1)


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    return MONDAY + timedelta(days=days, hours=hour, minutes=minute)


def conversation() -> Conversation:
    return Conversation.objects.create(
        contact=Contact.objects.create(display_name="Dana"),
        channel=Channel.X_PUBLIC,
        thread_key=f"scorecard-{next(_threads)}",
        state=S.RESOLVED,
        created_at=at(9),
    )


def event(kind: str, when: datetime, conv: Conversation, agent: Any, **fields: Any) -> None:
    Event.objects.create(kind=kind, at=when, conversation=conv, agent=agent, channel=conv.channel, **fields)


def qa(when: datetime, conv: Conversation, agent: Any, score: float, *, passed: bool, critical: bool = False) -> None:
    event(EventKind.QA, when, conv, agent, value=score, data={"passed": passed, "critical_failed": critical})


@pytest.fixture
def ledger(agent: Any, other_agent: Any) -> None:
    c1, c2, c3 = conversation(), conversation(), conversation()
    event(EventKind.FIRST_RESPONSE, at(9, 30), c1, agent, data={"since_post_seconds": 1800})
    event(EventKind.WORK, at(9, 40), c1, agent, value_seconds=300)
    event(EventKind.WRAP_UP, at(9, 50), c1, agent, value_seconds=60)
    event(EventKind.RESOLVED, at(10), c1, agent)
    event(EventKind.FIRST_RESPONSE, at(11), c2, agent, data={"since_post_seconds": 600})
    event(EventKind.WORK, at(11, 10), c2, agent, value_seconds=240)
    event(EventKind.RESOLVED, at(11, 30), c2, agent)
    event(EventKind.REOPENED, at(12), c2, None)
    event(EventKind.CSAT, at(13), c1, agent, value=5)
    event(EventKind.CSAT, at(13, 10), c2, agent, value=3)
    qa(at(14), c1, agent, 90, passed=True)
    qa(at(14, 10), c2, agent, 70, passed=False)
    qa(at(14, days=7), c1, agent, 10, passed=False)  # next week
    event(EventKind.FIRST_RESPONSE, at(9, 5), c3, other_agent, data={"since_post_seconds": 60})
    event(EventKind.WORK, at(9, 20), c3, other_agent, value_seconds=1000)
    event(EventKind.RESOLVED, at(9, 30), c3, other_agent)
    event(EventKind.CSAT, at(10), c3, other_agent, value=1)
    qa(at(15), c3, other_agent, 0, passed=False, critical=True)


def test_the_scorecard_figures_are_the_agents_kpis(ledger: None, agent: Any, other_agent: Any) -> None:
    assert scorecard(agent.pk, MONDAY, MONDAY + timedelta(days=1)) == {
        "qa_reviews": 2,
        "qa_mean_score": 80.0,
        "qa_pass_rate": 0.5,
        "qa_critical_fails": 0,
        "csat_responses": 2,
        "csat_rate": 0.5,
        "csat_mean": 4.0,
        "handled": 2,
        "aht_seconds": 300.0,
        "resolved": 2,
        "fcr_rate": 0.5,
    }
    ben = scorecard(other_agent.pk, MONDAY, MONDAY + timedelta(days=1))
    assert (ben["qa_reviews"], ben["qa_mean_score"], ben["qa_pass_rate"], ben["qa_critical_fails"]) == (1, 0.0, 0.0, 1)
    assert (ben["csat_rate"], ben["aht_seconds"], ben["fcr_rate"]) == (0.0, 1000.0, 1.0)


def test_a_quiet_period_has_empty_figures(ledger: None, agent: Any) -> None:
    figures = scorecard(agent.pk, MONDAY - timedelta(days=7), MONDAY)
    assert figures["qa_reviews"] == 0 and figures["handled"] == 0
    assert figures["qa_mean_score"] is None and figures["csat_rate"] is None and figures["aht_seconds"] is None


def figure(page: str, name: str) -> str:
    marker = f'data-figure="{name}">'
    start = page.index(marker) + len(marker)
    return page[start : page.index("</span>", start)]


def test_the_scorecard_page_shows_them(client: Client, ledger: None, supervisor: Any, agent: Any) -> None:
    client.force_login(supervisor)
    page = client.get(reverse("qa-scorecard", args=[agent.pk]), DAY).content.decode()
    assert figure(page, "qa-mean") == "80.0"
    assert figure(page, "qa-reviews") == "2 reviews"
    assert figure(page, "qa-pass-rate") == "50.0 %"
    assert figure(page, "csat-rate") == "50.0 %"
    assert figure(page, "csat-mean") == "mean 4.00 of 2 responses"
    assert figure(page, "handled") == "2"
    assert figure(page, "aht") == "300 s"
    assert figure(page, "fcr") == "50.0 %"
    assert "Assign training" in page


def test_the_scorecards_list_has_every_agents_qa_figures(
    client: Client, ledger: None, supervisor: Any, agent: Any, other_agent: Any
) -> None:
    client.force_login(supervisor)
    page = client.get(reverse("qa-scorecards"), DAY).content.decode()
    ana = page[page.index(f'<tr data-agent="{agent.pk}">') :]
    ana = ana[: ana.index("</tr>")]
    assert "<td>2</td>" in ana and "<td>80.0</td>" in ana and "<td>50.0 %</td>" in ana
    ben = page[page.index(f'<tr data-agent="{other_agent.pk}">') :]
    ben = ben[: ben.index("</tr>")]
    assert "<td>1</td>" in ben and "<td>0.0</td>" in ben and "<td>0.0 %</td>" in ben


def test_an_agent_sees_their_own_scorecard_and_no_one_elses(
    client: Client, ledger: None, agent: Any, other_agent: Any
) -> None:
    client.force_login(agent)
    response = client.get(reverse("qa-scorecards"), DAY)
    assert response.status_code == 302 and response["Location"] == reverse("qa-scorecard", args=[agent.pk])
    page = client.get(reverse("qa-scorecard", args=[agent.pk]), DAY).content.decode()
    assert figure(page, "qa-mean") == "80.0"
    assert "Assign training" not in page
    assert client.get(reverse("qa-scorecard", args=[other_agent.pk]), DAY).status_code == 403


def test_a_bad_period_is_shown_not_computed(client: Client, supervisor: Any, agent: Any) -> None:
    client.force_login(supervisor)
    response = client.get(reverse("qa-scorecard", args=[agent.pk]), {"start": "2026-03-09", "end": "2026-03-02"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "The end date must not be before the start date." in page and 'data-figure="qa-mean"' not in page


def test_an_unknown_agent_is_404(client: Client, supervisor: Any) -> None:
    client.force_login(supervisor)
    assert client.get(reverse("qa-scorecard", args=[987654])).status_code == 404
