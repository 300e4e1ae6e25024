"""Keyword trends: customers' posts mentioning each keyword, counted by the database in one query.

Monday 2 and Tuesday 3 March 2026 (UTC). Keywords by default: the tracked
keyword "Refund" (stored lower case), the listening query's keyword "outage"
and phrase "late delivery", and the classification rule's "outage" again
(counted once); a disabled tracked keyword is left out.

- Monday, X: "I want a REFUND now" (refund), "Refunds please, it was a late
  delivery" (refund, late delivery); Facebook: "still an outage?" (outage);
- Tuesday, X: "outage again", and our reply "refund processed" (outbound, not
  counted);
- a post filtered out ("refund refund") has no conversation and is not counted.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import Invalid
from core.models import Channel, Contact, Conversation, Direction, Message, Platform
from monitoring.models import ClassificationRule, ListeningQuery, SocialAccount, SocialPlatform, TrackedKeyword
from reporting import kpis
from reporting.kpis import KpiFilter

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
PERIOD = KpiFilter(MONDAY, MONDAY + timedelta(days=2))
X, FB = Channel.X_PUBLIC, Channel.FACEBOOK_PUBLIC
_ids = itertools.count(1)


def post(text: str, when: datetime, channel: str | None = X, direction: str = Direction.INBOUND) -> Message:
    conversation = None
    if channel is not None:
        conversation = Conversation.objects.create(
            contact=Contact.objects.create(display_name="Dana"),
            channel=channel,
            thread_key=f"keyword-thread-{next(_ids)}",
            created_at=when,
            category="billing" if "refund" in text.lower() else "",
        )
    return Message.objects.create(
        conversation=conversation,
        direction=direction,
        platform=Platform.X,
        external_id=f"kw-{next(_ids)}",
        text=text,
        is_public=True,
        sent_at=when,
        received_at=when,
    )


@pytest.fixture
def posts() -> None:
    TrackedKeyword.objects.create(keyword="refund")
    TrackedKeyword.objects.create(keyword="retired", enabled=False)
    account = SocialAccount.objects.create(platform=SocialPlatform.X, external_id="1", name="Brand")
    ListeningQuery.objects.create(account=account, name="Issues", keywords=["outage"], phrases=["Late  Delivery"])
    ClassificationRule.objects.create(name="Outages", keywords=["Outage"], category="outage")
    monday, tuesday = MONDAY + timedelta(hours=9), MONDAY + timedelta(days=1, hours=9)
    post("I want a REFUND now", monday)
    post("Refunds please, it was a late delivery", monday)
    post("still an outage?", monday, channel=FB)
    post("outage again", tuesday)
    post("refund processed", tuesday, direction=Direction.OUTBOUND)
    post("refund refund", monday, channel=None)


def test_the_default_keywords_come_from_tracked_keywords_listening_queries_and_rules(posts: None) -> None:
    assert kpis.tracked_keywords() == ["refund", "outage", "late delivery"]


def test_keywords_over_the_period(posts: None) -> None:
    assert kpis.keywords(PERIOD) == [
        {"keyword": "late delivery", "mentions": 1, "posts": 4, "share": 0.25},
        {"keyword": "outage", "mentions": 2, "posts": 4, "share": 0.5},
        {"keyword": "refund", "mentions": 2, "posts": 4, "share": 0.5},
    ]


def test_keywords_by_day_and_channel_in_one_query(posts: None) -> None:
    with CaptureQueriesContext(connection) as queries:
        rows = kpis.keywords(PERIOD, ("day", "channel"), keywords=["refund", "outage"])
    # One read; on PostgreSQL the report's transaction also sets its sort memory.
    assert len([q for q in queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))]) == 1
    monday, tuesday = MONDAY, MONDAY + timedelta(days=1)
    assert [(row["period"], row["channel"], row["keyword"], row["mentions"], row["posts"]) for row in rows] == [
        (monday, FB, "outage", 1, 1),
        (monday, FB, "refund", 0, 1),
        (monday, X, "outage", 0, 2),
        (monday, X, "refund", 2, 2),
        (tuesday, X, "outage", 1, 1),
        (tuesday, X, "refund", 0, 1),
    ]


def test_keyword_filters(posts: None, agent: Any) -> None:
    billing = KpiFilter(PERIOD.start, PERIOD.end, category="billing")
    assert [(row["keyword"], row["mentions"]) for row in kpis.keywords(billing, keywords=["refund"])] == [("refund", 2)]
    facebook = KpiFilter(PERIOD.start, PERIOD.end, channel=FB)
    assert kpis.keywords(facebook, keywords=["outage"])[0]["mentions"] == 1
    assert kpis.keywords(KpiFilter(PERIOD.start, PERIOD.end, agent_id=agent.pk)) == []
    assert kpis.keywords(KpiFilter(MONDAY + timedelta(days=7), MONDAY + timedelta(days=8))) == []


def test_keywords_are_matched_literally_and_capped(posts: None) -> None:
    post("100% sure", MONDAY + timedelta(hours=10))
    assert kpis.keywords(PERIOD, keywords=["100%", "1_0"])[0] == {
        "keyword": "100%",
        "mentions": 1,
        "posts": 5,
        "share": 0.2,
    }
    with pytest.raises(Invalid):
        kpis.keywords(PERIOD, keywords=[f"word {n}" for n in range(kpis.MAX_KEYWORDS + 1)])


def test_the_keywords_page_and_api(posts: None, client: Any, supervisor: Any) -> None:
    client.force_login(supervisor)
    html = client.get("/reports/keywords/?start=2026-03-02&end=2026-03-03&keywords=Refund, outage").content.decode()
    assert "<td>refund</td>" in html and "<td>50.0 %</td>" in html and "<svg" in html
    body = client.get("/api/v1/reports/keywords/?start=2026-03-02&end=2026-03-03&group_by=day").json()
    assert body["filters"]["keywords"] == ["refund", "outage", "late delivery"]
    assert len(body["rows"]) == 6
    csv = client.get("/reports/keywords/?start=2026-03-02&end=2026-03-03&format=csv").content.decode()
    assert csv.splitlines()[0] == "keyword,mentions,posts,share"


def test_the_keyword_chart_labels_each_keyword(posts: None, client: Any, supervisor: Any) -> None:
    client.force_login(supervisor)
    html = client.get("/reports/keywords/?start=2026-03-02&end=2026-03-03&keywords=refund,outage").content.decode()
    assert "<title>outage · Posts mentioning it: 2</title>" in html
    assert "<title>refund · Posts mentioning it: 2</title>" in html
