"""Reads of conversations, with who may see what decided here."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from agents.roles import is_supervisor
from contactcenter.core.models import OPEN_STATES, Conversation, ConversationState, Event, Message
from contactcenter.errors import NotFound, PermissionDenied


def visible_conversations(user: Any) -> QuerySet[Conversation]:
    """Supervisors see all; an agent sees what is, or was last, theirs."""
    conversations = Conversation.objects.all()
    if is_supervisor(user):
        return conversations
    return conversations.filter(Q(assigned_agent=user) | Q(last_agent=user))


def access_conversation(user: Any, conversation_id: int) -> Conversation:
    """The conversation if ``user`` may see it; ``NotFound`` either way otherwise (no probing ids)."""
    conversation = (
        visible_conversations(user)
        .select_related("contact", "queue", "assigned_agent", "last_agent")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound(f"Conversation {conversation_id} not found.")
    return conversation


def check_can_work(user: Any, conversation: Conversation) -> None:
    """Acting on a conversation (reply, transfer, escalate, resolve) is for its agent, or a supervisor."""
    if conversation.assigned_agent_id != user.pk and not is_supervisor(user):
        raise PermissionDenied("Only the agent working this conversation (or a supervisor) can do that.")


def access_worked_conversation(user: Any, conversation_id: int) -> Conversation:
    """The conversation if ``user`` may act on it.

    Invisible conversations are ``NotFound`` (no probing ids); visible ones the
    user may not work (e.g. one transferred away) are ``PermissionDenied``.
    """
    conversation = access_conversation(user, conversation_id)
    check_can_work(user, conversation)
    return conversation


def live_conversations(user: Any, limit: int = 50) -> list[Conversation]:
    """Open conversations for the live list, most urgent first."""
    return list(
        visible_conversations(user)
        .filter(state__in=OPEN_STATES)
        .select_related("contact", "queue", "assigned_agent")
        .order_by("-priority", "waiting_since", "created_at")[:limit]
    )


def state_counts(user: Any) -> dict[str, int]:
    rows = visible_conversations(user).values("state").annotate(n=Count("id"))
    counts = {state: 0 for state in ConversationState.values}
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def conversation_thread(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.select_related("author_identity", "author_agent").order_by("sent_at", "id"))


def conversation_timeline(conversation: Conversation) -> list[Event]:
    return list(conversation.events.select_related("agent", "queue").order_by("at", "id"))
