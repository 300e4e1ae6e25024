"""The sandbox's chats: visitors write on the demo chat channel through the chat use cases, like real visitors.

What the requirement says, checked from the outside: the messages are captured as conversations on channel
``chat`` of the demo channel and routed to the available agent; a seed makes the visitors and their words
repeatable; a visitor writing again in an open chat joins it; nothing comes while the sandbox is off or while
nobody can answer; the rate follows ``SANDBOX_CHATS_PER_MINUTE`` from the periodic task's runs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from chat.demo import seed_demo_chat_channel
from chat.models import ChatChannel
from chat.sandbox import VISITOR_DOMAIN, SandboxChat, do_produce_sandbox_chats
from chat.tasks import produce_sandbox_chats
from contactcenter.celery import BEAT_SCHEDULE, app
from core.models import Channel, Conversation, ConversationState, Direction, EventKind, Message
from routing.models import Queue
from tests.chat.conftest import save_channel

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_tasks")]


@pytest.fixture
def demo(queue: Queue) -> ChatChannel:
    return seed_demo_chat_channel(queue, None)


def chats(channel: ChatChannel) -> Any:
    """The conversations whose messages came in on ``channel``."""
    return Conversation.objects.filter(messages__account_id=channel.account_id).distinct()


def said(channel: ChatChannel) -> list[tuple[str, str, str]]:
    """(visitor's name, the chat's topic, the text) of every visitor message on ``channel``, in order."""
    messages = Message.objects.filter(account_id=channel.account_id, direction=Direction.INBOUND).select_related(
        "author_identity", "conversation"
    )
    return [
        (m.author_identity.display_name if m.author_identity else "", m.conversation.subject, m.text)
        for m in messages.order_by("pk")
    ]


def test_the_sandbox_writes_chats_that_are_captured_and_routed(demo: ChatChannel, available_agent: Any) -> None:
    stored = SandboxChat(7).write(demo, 6, now=timezone.now())
    assert stored == 6
    conversations = chats(demo)
    assert conversations.exists()
    assert {c.channel for c in conversations} == {Channel.CHAT}
    assert {c.platform for c in conversations} == {"chat"}
    # Routed like any chat: the available agent has them (chat's weight is 1 here, so all fit).
    assert {c.assigned_agent_id for c in conversations} == {available_agent.pk}
    assert {c.state for c in conversations} == {ConversationState.ASSIGNED}
    assert Message.objects.filter(conversation__in=conversations, direction=Direction.INBOUND).count() == 6
    # Each visitor said who they are in the pre-chat form.
    assert all(
        m.author_identity and m.author_identity.handle.endswith(f"@{VISITOR_DOMAIN}")
        for m in Message.objects.filter(conversation__in=conversations).select_related("author_identity")
    )


def test_a_seed_makes_the_visitors_and_their_words_repeatable(
    demo: ChatChannel, queue: Queue, available_agent: Any
) -> None:
    like_demo = {"queue": str(queue.pk), "prechat_topic": "optional", "topics": demo.topics}
    other = save_channel({"key": "other", **like_demo})
    third = save_channel({"key": "third", **like_demo})
    now = timezone.now()
    SandboxChat(7).write(demo, 8, now=now)
    SandboxChat(7).write(other, 8, now=now)
    SandboxChat(8).write(third, 8, now=now)
    assert len(said(demo)) == 8
    assert said(demo) == said(other)
    assert said(third) != said(demo)


def test_a_follow_up_joins_the_visitors_open_chat(demo: ChatChannel, available_agent: Any) -> None:
    SandboxChat(7).write(demo, 20, now=timezone.now())
    conversations = chats(demo)
    messages = Message.objects.filter(conversation__in=conversations, direction=Direction.INBOUND)
    assert messages.count() == 20
    assert conversations.count() < 20  # some messages were follow-ups
    for conversation in conversations:
        # One visitor per chat: a follow-up went into its own writer's open chat, never another's.
        authors = {m.author_identity_id for m in messages.filter(conversation=conversation)}
        assert len(authors) == 1
    assert any(messages.filter(conversation=c).count() >= 2 for c in conversations)


def test_nobody_available_means_no_new_chats(demo: ChatChannel, agent: Any) -> None:
    assert SandboxChat(7).write(demo, 5, now=timezone.now()) == 0  # the agent is offline: the widget says so
    assert not chats(demo).exists()


def test_the_periodic_task_writes_at_the_configured_rate(
    demo: ChatChannel, available_agent: Any, settings: Any
) -> None:
    settings.SANDBOX_ENABLED = True
    settings.SANDBOX_CHATS_PER_MINUTE = 6
    assert BEAT_SCHEDULE["sandbox-chats"]["task"] == "chat.tasks.produce_sandbox_chats"
    assert "chat.tasks.produce_sandbox_chats" in app.tasks  # the worker and the embedded scheduler know it
    start = timezone.now()
    assert do_produce_sandbox_chats(now=start) == 0  # the first run only starts the clock
    assert do_produce_sandbox_chats(now=start + timedelta(seconds=25)) == 2  # 2.5 owed: 2, and half a chat carried
    assert do_produce_sandbox_chats(now=start + timedelta(seconds=60)) == 4  # 3.5 more + 0.5 carried
    assert produce_sandbox_chats() >= 0  # the task itself runs the same share
    assert len(said(demo)) >= 6


def test_nothing_while_the_sandbox_is_off(demo: ChatChannel, available_agent: Any, settings: Any) -> None:
    settings.SANDBOX_ENABLED = False
    settings.SANDBOX_CHATS_PER_MINUTE = 60
    start = timezone.now()
    do_produce_sandbox_chats(now=start)
    assert do_produce_sandbox_chats(now=start + timedelta(minutes=5)) == 0
    assert not chats(demo).exists()


def test_a_visitor_nobody_answers_gives_up_after_a_few_minutes(demo: ChatChannel, available_agent: Any) -> None:
    start = timezone.now()
    writer = SandboxChat(7)
    assert writer.write(demo, 1, now=start) == 1
    (conversation,) = chats(demo)
    writer.write(demo, 0, now=start + timedelta(minutes=2))
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ASSIGNED  # still waiting for Ana
    writer.write(demo, 0, now=start + timedelta(minutes=4))
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.CLOSED  # the visitor closed the chat: an abandon
    assert conversation.events.filter(kind=EventKind.ABANDONED).exists()
