"""Capturing posts: exactly once, threaded, with the customer's identity."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from core.capture import do_capture_post
from core.models import Contact, Conversation, EventKind, Identity, Message
from core.models import ConversationState as S
from routing.models import Queue
from tests.states import conversation_in_state


@pytest.mark.django_db
def test_a_repeated_post_is_a_no_op(make_post: Any) -> None:
    post = make_post()
    first = do_capture_post(post)
    again = do_capture_post(post)
    assert not first.duplicate and again.duplicate
    assert again.message.pk == first.message.pk
    assert Message.objects.count() == 1 and Conversation.objects.count() == 1
    assert first.conversation.events.filter(kind=EventKind.CAPTURED).count() == 1


@pytest.mark.django_db
def test_raw_payload_and_platform_fields_are_kept(make_post: Any) -> None:
    post = make_post(text="Down since 6am")
    message = do_capture_post(post).message
    message.refresh_from_db()
    assert message.raw == {"id": post.external_id, "text": "Down since 6am"}
    assert message.platform == "x" and message.direction == "in" and message.is_public
    assert message.sent_at == post.sent_at and message.received_at >= post.sent_at


@pytest.mark.django_db
def test_posts_of_one_thread_share_a_conversation_and_contact(make_post: Any) -> None:
    root = do_capture_post(make_post(external_id="100"))
    reply = do_capture_post(make_post(external_id="101", thread_key="100", text="still nothing"))
    other = do_capture_post(make_post(external_id="200", text="and another thing"))
    assert reply.conversation.pk == root.conversation.pk and not reply.new_conversation
    assert other.conversation.pk != root.conversation.pk
    assert Contact.objects.count() == 1 and Identity.objects.count() == 1
    assert root.conversation.events.filter(kind=EventKind.CUSTOMER_REPLY).count() == 1


@pytest.mark.django_db
def test_identity_profile_follows_the_latest_post(make_post: Any) -> None:
    do_capture_post(make_post(followers=10))
    do_capture_post(make_post(followers=5000, handle="dana_new"))
    identity = Identity.objects.get()
    assert identity.followers_count == 5000 and identity.handle == "dana_new"


@pytest.mark.django_db
def test_a_customer_reply_while_waiting_goes_back_to_the_agent(make_post: Any, queue: Queue, agent: Any) -> None:
    root = make_post(external_id="300")
    conversation = conversation_in_state(S.WAITING, root, queue=queue, agent=agent)
    result = do_capture_post(make_post(external_id="301", thread_key="300", text="thanks, one more question"))
    conversation.refresh_from_db()
    assert result.conversation.pk == conversation.pk
    assert conversation.state == S.ASSIGNED and conversation.assigned_agent == agent
    assert conversation.waiting_since is not None
    assert conversation.next_response_due == conversation.waiting_since + timezone.timedelta(seconds=1800)


@pytest.mark.django_db
def test_a_new_post_in_a_resolved_thread_reopens_it_for_the_last_agent(
    make_post: Any, queue: Queue, agent: Any
) -> None:
    conversation = conversation_in_state(S.RESOLVED, make_post(external_id="400"), queue=queue, agent=agent)
    result = do_capture_post(make_post(external_id="401", thread_key="400", text="it broke again"))
    conversation.refresh_from_db()
    assert result.reopened and not result.needs_routing and result.conversation_id == conversation.pk
    assert conversation.state == S.QUEUED and conversation.last_agent == agent
    assert conversation.events.filter(kind=EventKind.REOPENED).count() == 1


@pytest.mark.django_db
def test_a_new_post_in_a_closed_thread_starts_a_new_conversation(make_post: Any, queue: Queue, agent: Any) -> None:
    closed = conversation_in_state(S.CLOSED, make_post(external_id="500"), queue=queue, agent=agent)
    result = do_capture_post(make_post(external_id="501", thread_key="500"))
    assert result.new_conversation and result.conversation.pk != closed.pk
    assert result.conversation.contact_id == closed.contact_id


@pytest.mark.django_db
def test_a_post_dated_in_the_future_waits_from_now(make_post: Any) -> None:
    future = timezone.now() + timezone.timedelta(hours=2)
    conversation = do_capture_post(make_post(sent_at=future)).conversation
    assert conversation.waiting_since is not None and conversation.waiting_since <= timezone.now()


@pytest.mark.django_db
def test_an_unknown_channel_is_refused(make_post: Any) -> None:
    from dataclasses import replace

    from core.errors import Invalid

    with pytest.raises(Invalid):
        do_capture_post(replace(make_post(), channel="carrier_pigeon"))
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_nul_characters_are_dropped_from_posts_on_every_database(make_post: Any) -> None:
    message = do_capture_post(make_post(text="bro\x00ken")).message
    message.refresh_from_db()
    assert message.text == "broken"
