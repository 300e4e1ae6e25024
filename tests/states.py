"""Bring a conversation to any state through the same actions users trigger."""

from __future__ import annotations

from typing import Any

from core.actions import (
    do_assign_conversation,
    do_close_conversation,
    do_queue_conversation,
    do_record_reply,
    do_resolve_conversation,
)
from core.capture import do_capture_post
from core.models import Conversation
from core.models import ConversationState as S
from core.posts import InboundPost

PATH = [S.NEW, S.QUEUED, S.ASSIGNED, S.WAITING, S.RESOLVED, S.CLOSED]


def conversation_in_state(state: str, post: InboundPost, *, queue: Any, agent: Any) -> Conversation:
    conversation = do_capture_post(post).conversation
    steps = {
        S.QUEUED: lambda c: do_queue_conversation(c, queue),
        S.ASSIGNED: lambda c: do_assign_conversation(c, agent),
        S.WAITING: lambda c: do_record_reply(c, agent, "We're on it."),
        S.RESOLVED: lambda c: do_resolve_conversation(c, actor=agent, disposition="answered"),
        S.CLOSED: lambda c: do_close_conversation(c),
    }
    for step in PATH[1 : PATH.index(state) + 1]:
        steps[step](conversation)
    conversation.refresh_from_db()
    assert conversation.state == state
    return conversation
