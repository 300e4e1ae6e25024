"""Email goes through the same router as the social channels: rules on channel email, channel weight, and a
contact's email address as one more identity, so a returning customer goes back to their agent across channels."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from agents.actions import do_set_presence
from agents.models import Presence
from core.actions import do_merge_contacts, do_record_reply, do_resolve_conversation
from core.models import Channel, Conversation, Identity
from core.posts import InboundPost
from monitoring.models import Mailbox, SocialAccount
from monitoring.pipeline import ingest
from routing.actions import do_route_queued
from routing.models import ChannelWeight, Queue, RoutingRule
from tests.emails import ADDRESS, deliver, mail

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mailbox(db: None, queue: Queue) -> Mailbox:
    account = SocialAccount.objects.create(platform="email", external_id=ADDRESS, handle=ADDRESS, name="help")
    return Mailbox.objects.create(account=account, address=ADDRESS, smtp_host="127.0.0.1")


def email_conversation(message_id: str) -> Conversation:
    return Conversation.objects.get(messages__external_id=message_id)


def test_routing_rules_on_channel_email_place_mail_in_their_queue(clock: Any, mailbox: Mailbox, queue: Queue) -> None:
    letters = Queue.objects.create(name="Letters", sla_policy=queue.sla_policy)
    RoutingRule.objects.create(name="Email to letters", channel=Channel.EMAIL, queue=letters)
    raw, message_id = mail()
    deliver(raw)
    assert email_conversation(message_id).queue == letters


def test_an_email_takes_its_channel_weight_of_the_agents_capacity(
    clock: Any, mailbox: Mailbox, queue: Queue, agent: Any
) -> None:
    ChannelWeight.objects.create(channel=Channel.EMAIL, weight=3)
    do_set_presence(agent.agent_profile, Presence.AVAILABLE)
    raw, message_id = mail()
    deliver(raw)
    do_route_queued()
    conversation = email_conversation(message_id)
    assert conversation.assigned_agent == agent
    assert conversation.weight == 3


def test_a_customer_known_on_x_who_writes_by_email_goes_back_to_their_agent(
    clock: time_machine.Traveller,
    make_post: Callable[..., InboundPost],
    mailbox: Mailbox,
    queue: Queue,
    agent: Any,
    other_agent: Any,
) -> None:
    ingest([make_post(external_id="5001", thread_key="5001")])
    do_set_presence(other_agent.agent_profile, Presence.AVAILABLE)
    do_route_queued()
    on_x = Conversation.objects.get(thread_key="5001")
    assert on_x.assigned_agent == other_agent
    do_record_reply(on_x, other_agent, "Restarting it should help.")
    do_resolve_conversation(on_x, actor=other_agent, disposition="answered")
    do_set_presence(other_agent.agent_profile, Presence.AWAY, reason="lunch")

    # The first mail comes from a new address: a new contact, whom an agent then recognises and merges.
    # Nobody is available, so it waits in the queue and no agent of its own is remembered.
    raw, first = mail("Dana White <dana@example.org>", "Router", "It is me, Dana from X.")
    deliver(raw)
    by_email = email_conversation(first)
    do_merge_contacts(on_x.contact, by_email.contact, actor=other_agent, reason="same person")
    assert set(Identity.objects.filter(contact=on_x.contact).values_list("platform", flat=True)) == {"x", "email"}
    do_resolve_conversation(email_conversation(first), actor=None, disposition="no_action")
    do_set_presence(other_agent.agent_profile, Presence.AVAILABLE)
    do_set_presence(agent.agent_profile, Presence.AVAILABLE)

    clock.shift(timedelta(hours=1))
    again, second = mail("dana@example.org", "Router again", "Down again, by email this time.")
    deliver(again)
    returning = email_conversation(second)
    assert returning.contact_id == on_x.contact_id
    assert returning.preferred_agent == other_agent
    do_route_queued()
    returning.refresh_from_db()
    assert returning.assigned_agent == other_agent
