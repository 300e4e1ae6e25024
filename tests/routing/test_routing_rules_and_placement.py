"""Placement: routing rules pick a captured post's queue, skills and priority; its SLA runs in business hours."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from agents.actions import do_create_user, do_set_agent_skill, do_set_presence
from agents.models import Presence
from core.models import Channel, Contact, Conversation, ConversationSkill, Event, EventKind, Message
from core.posts import InboundPost
from core.roles import AGENT
from monitoring.models import ClassificationRule, ListeningQuery, SocialAccount
from monitoring.pipeline import ingest
from routing.actions import do_route_queued
from routing.models import Holiday, Queue, RoutingRule, Skill, SLAPolicy
from routing.sla import Calendar

pytestmark = pytest.mark.django_db

MakePost = Callable[..., InboundPost]


def conversation_of(post: InboundPost) -> Conversation:
    conversation = Message.objects.get(platform=post.platform, external_id=post.external_id).conversation
    assert conversation is not None
    return conversation


def required_skills(conversation: Conversation) -> dict[str, int]:
    rows = ConversationSkill.objects.filter(conversation=conversation).values_list("skill__name", "min_level")
    return dict(rows)


def placement_of(conversation: Conversation) -> dict[str, Any]:
    return Event.objects.get(conversation=conversation, kind=EventKind.QUEUED).data


def triage_priority(post: InboundPost) -> int:
    return Message.objects.get(platform=post.platform, external_id=post.external_id).triage["priority"]["score"]


@pytest.fixture
def billing_queue(db: None) -> Queue:
    return Queue.objects.create(name="Billing")


@pytest.fixture
def billing(db: None) -> Skill:
    return Skill.objects.create(name="billing")


@pytest.fixture
def invoices_are_billing(db: None) -> ClassificationRule:
    return ClassificationRule.objects.create(order=1, name="Invoices", keywords=["invoice"], category="billing")


def test_a_classified_post_lands_in_its_rules_queue_with_extra_skills_and_boost_then_goes_to_a_skilled_agent(
    make_post: MakePost,
    queue: Queue,
    billing_queue: Queue,
    billing: Skill,
    invoices_are_billing: ClassificationRule,
) -> None:
    rule = RoutingRule.objects.create(
        order=10,
        name="Billing questions",
        category="billing",
        queue=billing_queue,
        extra_skill_level=6,
        priority_boost=15,
    )
    rule.extra_skills.set([billing])
    post = make_post(text="Where is my invoice for March?")

    ingest([post])

    conversation = conversation_of(post)
    assert conversation.queue == billing_queue and conversation.category == "billing"
    assert required_skills(conversation) == {"billing": 6}
    assert conversation.priority == triage_priority(post) + 15
    assert placement_of(conversation) == {
        "rule": "Billing questions",
        "queue": "Billing",
        "extra_skills": ["billing"],
        "priority_boost": 15,
        "preferred_agent_id": None,
    }

    novice = do_create_user("novice", "pw-novice-12345", role=AGENT)  # the lower id: first on a tie
    do_set_agent_skill(novice.agent_profile, billing.pk, 5)
    expert = do_create_user("expert", "pw-expert-12345", role=AGENT)
    do_set_agent_skill(expert.agent_profile, billing.pk, 6)
    for user in (novice, expert):
        do_set_presence(user.agent_profile, Presence.AVAILABLE)

    assert do_route_queued().assigned == 1
    conversation.refresh_from_db()
    assert conversation.assigned_agent == expert


def test_a_post_no_rule_matches_goes_to_the_default_queue(
    make_post: MakePost, queue: Queue, billing_queue: Queue, invoices_are_billing: ClassificationRule
) -> None:
    RoutingRule.objects.create(name="Billing questions", category="billing", queue=billing_queue, priority_boost=15)
    post = make_post(text="My router keeps restarting")

    ingest([post])

    conversation = conversation_of(post)
    assert conversation.queue == queue and conversation.priority == triage_priority(post)
    assert placement_of(conversation)["rule"] is None
    assert placement_of(conversation)["queue"] == "General"


def test_the_first_enabled_rule_in_order_wins(
    make_post: MakePost, queue: Queue, billing_queue: Queue, invoices_are_billing: ClassificationRule
) -> None:
    vip_desk = Queue.objects.create(name="VIP desk")
    RoutingRule.objects.create(order=1, name="Switched off", enabled=False, queue=vip_desk)
    RoutingRule.objects.create(order=3, name="Anything else", queue=vip_desk)
    RoutingRule.objects.create(order=2, name="Billing questions", category="billing", queue=billing_queue)
    post = make_post(text="Where is my invoice?")

    ingest([post])

    assert conversation_of(post).queue == billing_queue
    assert placement_of(conversation_of(post))["rule"] == "Billing questions"


def test_a_boost_never_lifts_priority_past_100(make_post: MakePost, queue: Queue, billing_queue: Queue) -> None:
    RoutingRule.objects.create(name="Everything urgent", queue=billing_queue, priority_boost=100)
    post = make_post()

    ingest([post])

    assert conversation_of(post).priority == 100


# --- Each condition --------------------------------------------------------------------------------
# A case returns the rule's condition, a post that meets it and one that does not.

Case = tuple[dict[str, Any], InboundPost, InboundPost]


def known_contact(make_post: MakePost, author_id: str, **facts: Any) -> None:
    """A customer who wrote before (to the default queue), then marked VIP or tagged by an agent."""
    ingest([make_post(author_id=author_id, text="Hello there")])
    Contact.objects.filter(identities__external_id=author_id).update(**facts)


def channel_case(make_post: MakePost) -> Case:
    return {"channel": Channel.X_DM}, make_post(channel=Channel.X_DM, author_id="a"), make_post(author_id="b")


def account_case(make_post: MakePost) -> Case:
    account = SocialAccount.objects.create(platform="x", external_id="4400100", name="Northwind Help")
    other = SocialAccount.objects.create(platform="x", external_id="4400200", name="Northwind Billing")
    return (
        {"account": account},
        replace(make_post(author_id="a"), account_id=account.pk),
        replace(make_post(author_id="b"), account_id=other.pk),
    )


def listening_query_case(make_post: MakePost) -> Case:
    account = SocialAccount.objects.create(platform="x", external_id="4400100", name="Northwind Help")
    outages = ListeningQuery.objects.create(account=account, name="Outages", keywords=["outage"])
    return (
        {"listening_query": outages},
        replace(make_post(author_id="a"), account_id=account.pk, query_id=outages.pk),
        replace(make_post(author_id="b"), account_id=account.pk),
    )


def language_case(make_post: MakePost) -> Case:
    return {"language": "es"}, replace(make_post(author_id="a"), language="es"), replace(make_post(), language="en")


def sentiment_case(make_post: MakePost) -> Case:
    return (
        {"sentiment": "negative"},
        make_post(author_id="a", text="This is terrible, the worst service ever"),
        make_post(author_id="b", text="Thanks, great help!"),
    )


LOUD = {"text": "Outage since this morning", "followers": 250_000}  # base 30 + urgent 15 + followers 15
QUIET = {"text": "A question about my plan", "followers": 0}  # base 30 only


def min_priority_case(make_post: MakePost) -> Case:
    return {"min_priority": 50}, make_post(author_id="a", **LOUD), make_post(author_id="b", **QUIET)


def max_priority_case(make_post: MakePost) -> Case:
    return {"max_priority": 40}, make_post(author_id="a", **QUIET), make_post(author_id="b", **LOUD)


def vip_case(make_post: MakePost) -> Case:
    known_contact(make_post, "a", is_vip=True)
    known_contact(make_post, "b", is_vip=False)
    return {"contact_vip": True}, make_post(author_id="a"), make_post(author_id="b")


def not_vip_case(make_post: MakePost) -> Case:
    known_contact(make_post, "b", is_vip=True)
    return {"contact_vip": False}, make_post(author_id="newcomer"), make_post(author_id="b")


def tag_case(make_post: MakePost) -> Case:
    known_contact(make_post, "a", tags=["vip-press", "press"])
    known_contact(make_post, "b", tags=["press-office"])
    return {"contact_tag": "press"}, make_post(author_id="a"), make_post(author_id="b")


@pytest.mark.parametrize(
    "case",
    [
        channel_case,
        account_case,
        listening_query_case,
        language_case,
        sentiment_case,
        min_priority_case,
        max_priority_case,
        vip_case,
        not_vip_case,
        tag_case,
    ],
    ids=lambda case: case.__name__.removesuffix("_case"),
)
def test_a_rule_condition_takes_only_the_posts_that_meet_it(
    case: Callable[[MakePost], Case], make_post: MakePost, queue: Queue
) -> None:
    special = Queue.objects.create(name="Special")
    condition, meets, misses = case(make_post)
    RoutingRule.objects.create(name="Special cases", queue=special, **condition)

    ingest([meets, misses])

    assert conversation_of(meets).queue == special
    assert conversation_of(misses).queue == queue


def test_the_priority_cases_have_the_priorities_they_claim(make_post: MakePost, queue: Queue) -> None:
    loud, quiet = make_post(author_id="a", **LOUD), make_post(author_id="b", **QUIET)
    ingest([loud, quiet])
    assert (triage_priority(loud), triage_priority(quiet)) == (60, 30)


# --- SLA in business hours -------------------------------------------------------------------------

OFFICE_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
FRIDAY_AFTERNOON = datetime(2026, 3, 13, 16, 30, tzinfo=UTC)
MONDAY = date(2026, 3, 16)


@pytest.fixture
def office(settings: Any) -> SLAPolicy:
    settings.TIME_ZONE = "UTC"
    policy = SLAPolicy.objects.create(
        name="Office hours", first_response_seconds=3600, next_response_seconds=1800, business_hours=OFFICE_HOURS
    )
    Queue.objects.create(name="Office", is_default=True, sla_policy=policy)
    return policy


def at(day: date, hour: int, minute: int = 0, zone: str = "UTC") -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(zone))


def test_the_first_response_clock_stops_outside_business_hours(make_post: MakePost, office: SLAPolicy) -> None:
    post = make_post(sent_at=FRIDAY_AFTERNOON)
    with time_machine.travel(FRIDAY_AFTERNOON + timedelta(minutes=1), tick=False):
        ingest([post])

    assert conversation_of(post).first_response_due == at(MONDAY, 9, 30)


def test_holidays_are_skipped(make_post: MakePost, office: SLAPolicy) -> None:
    Holiday.objects.create(policy=office, date=MONDAY, name="Spring holiday")
    post = make_post(sent_at=FRIDAY_AFTERNOON)
    with time_machine.travel(FRIDAY_AFTERNOON + timedelta(minutes=1), tick=False):
        ingest([post])

    assert conversation_of(post).first_response_due == at(MONDAY + timedelta(days=1), 9, 30)


def test_business_hours_are_read_in_the_configured_time_zone(
    make_post: MakePost, office: SLAPolicy, settings: Any
) -> None:
    settings.TIME_ZONE = "Europe/Madrid"  # UTC+1 in March
    friday_afternoon_in_madrid = at(FRIDAY_AFTERNOON.date(), 16, 30, "Europe/Madrid")
    post = make_post(sent_at=friday_afternoon_in_madrid)
    with time_machine.travel(friday_afternoon_in_madrid + timedelta(minutes=1), tick=False):
        ingest([post])

    assert conversation_of(post).first_response_due == at(MONDAY, 8, 30)  # 09:30 in Madrid


def test_calendar_deadlines_start_at_opening_time_and_skip_breaks(office: SLAPolicy) -> None:
    calendar = Calendar.for_policy(office)
    assert calendar.deadline(at(MONDAY, 7), 3600) == at(MONDAY, 10)
    assert calendar.deadline(at(MONDAY, 16), 8 * 3600) == at(MONDAY + timedelta(days=1), 16)

    with_lunch = Calendar(hours={0: [(time(9), time(12)), (time(13), time(17))]})
    assert with_lunch.deadline(at(MONDAY, 11, 30), 3600) == at(MONDAY, 13, 30)
    assert Calendar().deadline(at(MONDAY, 23), 3600) == at(MONDAY + timedelta(days=1), 0), "no hours: 24/7"


def test_calendar_open_seconds_counts_only_open_time(office: SLAPolicy) -> None:
    calendar = Calendar.for_policy(office)
    assert calendar.open_seconds(FRIDAY_AFTERNOON, at(MONDAY, 9, 30)) == 3600
    assert calendar.open_seconds(at(MONDAY, 10), at(MONDAY, 10, 15)) == 900
    assert calendar.open_seconds(at(MONDAY, 10), at(MONDAY, 9)) == 0

    Holiday.objects.create(policy=office, date=MONDAY)
    with_holiday = Calendar.for_policy(office)
    assert with_holiday.open_seconds(at(FRIDAY_AFTERNOON.date(), 16), at(MONDAY + timedelta(days=1), 10)) == 7200


def test_calendar_time_is_real_time_across_a_daylight_saving_change() -> None:
    # Madrid skips 02:00-03:00 on Sunday 29 March 2026: four open hours from midnight end at 05:00.
    night_shift = Calendar(hours={6: [(time(0), time(23, 59))]}, zone="Europe/Madrid")
    midnight = at(date(2026, 3, 29), 0, 0, "Europe/Madrid")

    assert night_shift.deadline(midnight, 4 * 3600) == at(date(2026, 3, 29), 5, 0, "Europe/Madrid")
    assert night_shift.open_seconds(midnight, at(date(2026, 3, 29), 4, 0, "Europe/Madrid")) == 3 * 3600
