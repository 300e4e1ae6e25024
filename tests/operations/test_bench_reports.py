"""``bench reports``: the generated history is consistent with what the actions write, and the run reports its figures.

A small history (2,000 conversations over 14 days) on the test database,
generated once for the module's tests through ``bench.reports.run``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.db.models import Count, F, Max, Min, Q

from bench import reports
from core.models import OPEN_STATES, Conversation, Event, EventKind, Message
from core.models import ConversationState as S
from reporting.forms import REPORTS

pytestmark = pytest.mark.django_db

CONVERSATIONS = 2_000


@pytest.fixture
def figures() -> dict[str, Any]:
    return reports.run({"conversations": CONVERSATIONS, "days": 14, "window_days": 7, "repeat": 1, "seed": 3})


def generation_time() -> datetime:
    return reports._existing_dataset(reports.Params(CONVERSATIONS, 14, 3)) or datetime.max


def test_it_generates_a_consistent_history_and_times_every_report(figures: dict[str, Any]) -> None:
    reports_every_report_and_the_dashboard(figures)
    every_conversation_has_the_rows_its_life_wrote()
    ledger_rows_carry_what_the_actions_copy_onto_them()


def reports_every_report_and_the_dashboard(figures: dict[str, Any]) -> None:
    assert figures["conversations"] == CONVERSATIONS == Conversation.objects.count()
    assert figures["rows"] == Event.objects.count() > 8 * CONVERSATIONS
    assert set(figures["reports_ms"]) == set(REPORTS)
    assert figures["report_ms"] == max(figures["reports_ms"].values())
    assert figures["reports_ms"][figures["slowest_report"]] == figures["report_ms"]
    assert figures["dashboard_ms"] > 0 and figures["live_view_ms"] > 0
    assert 5 <= figures["dashboard_queries"] <= 12
    assert figures["reused_dataset"] is False
    # A week grouped by day and channel: every report but the backlog and listening has up to 7 x 4 rows.
    assert 7 * 4 - 4 <= figures["report_rows"]["volumes"] <= 8 * 4
    assert figures["report_rows"]["listening"] > 0
    assert 0 < figures["open_conversations"] < CONVERSATIONS // 10


def every_conversation_has_the_rows_its_life_wrote() -> None:
    now = generation_time()
    assert not Event.objects.filter(at__gte=now).exists()
    per_conversation = Event.objects.filter(conversation__isnull=False).values("conversation_id")
    captured = per_conversation.filter(kind=EventKind.CAPTURED).annotate(n=Count("id"))
    assert captured.count() == CONVERSATIONS and not captured.filter(n__gt=1).exists()
    assert not per_conversation.filter(kind=EventKind.FIRST_RESPONSE).annotate(n=Count("id")).filter(n__gt=1).exists()
    # Captured at creation; nothing before it.
    assert not Event.objects.filter(kind=EventKind.CAPTURED).exclude(at=F("conversation__created_at")).exists()
    first = per_conversation.annotate(first=Min("at")).filter(first__lt=F("conversation__created_at"))
    assert not first.exists()
    # Each state has the row that put it there.
    resolved = Conversation.objects.filter(state=S.RESOLVED)
    assert resolved.exists()
    assert resolved.filter(events__kind=EventKind.RESOLVED).distinct().count() == resolved.count()
    closed = Conversation.objects.filter(state=S.CLOSED)
    closed_by_row = Q(events__kind__in=[EventKind.CLOSED, EventKind.ABANDONED])
    assert closed.filter(closed_by_row).distinct().count() == closed.count()
    answered = Conversation.objects.filter(first_response_at__isnull=False)
    assert answered.filter(events__kind=EventKind.FIRST_RESPONSE, events__at=F("first_response_at")).count() == (
        answered.count()
    )
    assert not Conversation.objects.filter(state=S.ASSIGNED, assigned_agent__isnull=True).exists()
    # Open ones were not resolved after their last reopen.
    for conversation in Conversation.objects.filter(state__in=OPEN_STATES)[:200]:
        kinds = list(conversation.events.order_by("at", "id").values_list("kind", flat=True))
        if EventKind.RESOLVED in kinds:
            assert EventKind.REOPENED in kinds[kinds.index(EventKind.RESOLVED) :]


def ledger_rows_carry_what_the_actions_copy_onto_them() -> None:
    rows = Event.objects.filter(conversation__isnull=False)
    assert not rows.exclude(channel=F("conversation__channel")).exists()
    assert not rows.exclude(kind=EventKind.CAPTURED).exclude(queue_id=F("conversation__queue_id")).exists()
    # Capture writes captured (no queue) and queued (the queue), neither with an agent.
    assert not Event.objects.filter(kind=EventKind.CAPTURED, queue__isnull=False).exists()
    assert not Event.objects.filter(kind__in=[EventKind.CAPTURED, EventKind.QUEUED], agent__isnull=False).exists()
    by_agent = [EventKind.ASSIGNED, EventKind.FIRST_RESPONSE, EventKind.REPLY, EventKind.WORK, EventKind.RESOLVED]
    assert not Event.objects.filter(kind__in=by_agent, agent__isnull=True).exists()
    first_responses = Event.objects.filter(kind=EventKind.FIRST_RESPONSE)
    assert first_responses.exists()
    assert not first_responses.filter(data__since_post_seconds__isnull=True).exists()
    # The customer posted before capture: post → reply is longer than queue entry → reply.
    for data, queued_to_reply in first_responses.values_list("data", "value_seconds"):
        assert data["since_post_seconds"] > queued_to_reply
    assert Event.objects.filter(kind=EventKind.FILTERED, conversation__isnull=True).exists()
    assert Event.objects.filter(kind=EventKind.CSAT, value__gte=1, value__lte=5).exists()
    assert Event.objects.filter(kind=EventKind.RESOLVED, data__disposition="dispatched").exists()
    # Spread over the whole period, busier in office hours.
    span = Event.objects.aggregate(first=Min("at"), last=Max("at"))
    assert (span["last"] - span["first"]).days >= 13
    by_hour = {h: 0 for h in range(24)}
    for created in Conversation.objects.values_list("created_at", flat=True):
        by_hour[created.hour] += 1
    assert by_hour[10] > 3 * by_hour[3]
    # Listening posts have their query; the report reads them.
    assert Message.objects.filter(listening_query__isnull=False).exists()


def test_a_kept_database_with_the_same_parameters_is_reused(figures: dict[str, Any]) -> None:
    rows = Event.objects.count()
    again = reports.run({"conversations": CONVERSATIONS, "days": 14, "window_days": 7, "repeat": 1, "seed": 3})
    assert again["reused_dataset"] is True
    assert Event.objects.count() == rows == again["rows"]
    with pytest.raises(ValueError, match="generated with"):
        reports.run({"conversations": CONVERSATIONS + 1, "days": 14, "window_days": 7, "repeat": 1, "seed": 3})
