"""Reads for chat: a channel's queue, whether anyone can answer now, a visitor's chat and its history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Min

from agents.models import Presence
from chat.models import ChatChannel, Visitor
from core.models import Channel, Conversation, ConversationState, Delivery, Direction, Message
from monitoring.mailboxes import account_queue_id
from routing.models import Queue
from routing.queries import agents_meeting, default_queue
from routing.sla import QueueClock

HISTORY_LIMIT = 200
"""The most messages a (re)connecting widget is sent: a chat longer than this shows its latest."""


def queue_rule_name(key: str) -> str:
    return f"Chat {key}"[:100]


def channel_queue(channel: ChatChannel) -> Queue | None:
    """Where the channel's chats go: its own rule's queue, else the default queue."""
    queue_id = account_queue_id(channel.account, queue_rule_name(channel.key))
    queue = Queue.objects.filter(pk=queue_id).first() if queue_id else None
    return queue or default_queue()


def available_agents(queue: Queue | None) -> int:
    """Agents available now who could serve the queue (who have its required skills)."""
    from agents.models import AgentProfile

    agents = AgentProfile.objects.filter(presence=Presence.AVAILABLE, user__is_active=True)
    if queue is not None:
        requirements = {row.skill: row.min_level for row in queue.skill_requirements.select_related("skill")}
        if requirements:
            agents = agents.filter(pk__in=agents_meeting(requirements))
    return agents.count()


def longest_wait_seconds(queue: Queue | None, now: datetime) -> float:
    waiting = Conversation.objects.filter(
        state__in=[ConversationState.NEW, ConversationState.QUEUED], queue=queue, waiting_since__isnull=False
    ).aggregate(oldest=Min("waiting_since"))["oldest"]
    return max(0.0, (now - waiting).total_seconds()) if waiting else 0.0


def within_business_hours(queue: Queue | None, now: datetime) -> bool:
    calendar = QueueClock().calendar(queue.pk if queue else None)
    return calendar.always_open or calendar.open_seconds(now, now + timedelta(seconds=1)) > 0


def channel_online(channel: ChatChannel, now: datetime) -> bool:
    """Whether a visitor can chat now: enabled, in business hours, an agent available, the wait not too long."""
    if not channel.enabled:
        return False
    queue = channel_queue(channel)
    return (
        within_business_hours(queue, now)
        and available_agents(queue) > 0
        and longest_wait_seconds(queue, now) < channel.max_wait_seconds
    )


def current_conversation(visitor: Visitor) -> Conversation | None:
    """The visitor's current chat, if they wrote in it (closed ones too: they show their history until it ends)."""
    return (
        Conversation.objects.filter(channel=Channel.CHAT, thread_key=visitor.thread_key).order_by("-created_at").first()
    )


def online_for(visitor: Visitor, now: datetime) -> bool:
    """Online for this visitor: an agent has their chat, or the channel is online."""
    conversation = current_conversation(visitor)
    if conversation is not None and conversation.state == ConversationState.ASSIGNED:
        return True
    return channel_online(visitor.channel, now)


def message_frame(message: Message, *, client_id: str | None = None) -> dict[str, Any]:
    """A message as the widget shows it: who, what, when. Plain text only: the widget never renders HTML."""
    inbound = message.direction == Direction.INBOUND
    if inbound:
        author = message.author_identity.display_name if message.author_identity else ""
        external = message.external_id or ""
        client_id = client_id or (external.removeprefix("chat:") if external.startswith("chat:") else None)
    else:
        agent = message.author_agent
        author = (agent.first_name or agent.get_username()) if agent is not None else ""
        client_id = None
    return {
        "type": "message",
        "id": message.pk,
        "from": "visitor" if inbound else "agent",
        "author": author,
        "text": message.text,
        "at": message.sent_at.isoformat(),
        "client_id": client_id,
    }


def history(visitor: Visitor) -> tuple[Conversation | None, list[dict[str, Any]]]:
    """The visitor's current chat and its messages, oldest first: theirs, and our replies as posted."""
    conversation = current_conversation(visitor)
    if conversation is None:
        return None, []
    messages = (
        Message.objects.filter(conversation=conversation, deleted_at__isnull=True)
        .exclude(direction=Direction.OUTBOUND, delivery__in=[d for d in Delivery.values if d != Delivery.SENT])
        .select_related("author_identity", "author_agent")
        .order_by("-sent_at", "-id")[:HISTORY_LIMIT]
    )
    return conversation, [message_frame(message) for message in reversed(list(messages))]


def widget_config(channel: ChatChannel, now: datetime) -> dict[str, Any]:
    """What the widget needs before a visitor writes (``GET /chat/<key>/config/``): look, texts, pre-chat, online.

    The widget's own texts (buttons, labels in en/es/fr/de) are the widget's; these are the channel's.
    """
    return {
        "key": channel.key,
        "name": channel.name,
        "colours": {"primary": channel.primary_colour, "text": channel.text_colour},
        "greeting": channel.greeting,
        "offline_text": channel.offline_text,
        "business_hours_text": channel.business_hours_text,
        "prechat": {
            "name": channel.prechat_name,
            "email": channel.prechat_email,
            "topic": channel.prechat_topic,
            "topics": channel.topic_list(),
        },
        "leave_message": channel.mailbox_id is not None,
        "transcripts": channel.mailbox_id is not None,
        "max_message_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        "online": channel_online(channel, now),
    }
