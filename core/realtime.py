"""Realtime events: the one way state changes reach browsers.

Only actions call :func:`send_event`, after their transaction commits. Who
receives what is decided here and nowhere else: :func:`conversation_audience`
is a security decision (an agent sees their own work; supervisors see all).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

SUPERVISORS_GROUP = "supervisors"

SESSION_ENDED = 4401
"""Close code: the socket's user is no longer signed in (logged out, deactivated, deleted, session gone)."""
ACCESS_CHANGED = 4403
"""Close code: the user's role changed; the browser reconnects and joins the groups its role now allows."""


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def send_event(event: dict[str, Any], groups: Iterable[str]) -> None:
    """Deliver ``event`` (a small ``{type, op, ...}`` dict) to every socket in ``groups``.

    A realtime failure never fails the action that caused it: browsers also
    refresh what they show on reconnect, so a lost event is only a delay.
    """
    send_events([(group, event) for group in groups])


def send_events(deliveries: list[tuple[str, dict[str, Any]]]) -> None:
    """Deliver many ``(group, event)`` pairs in one trip to the channel layer (see :func:`send_event`)."""
    _group_send([(group, {"type": "event.forward", "event": event}) for group, event in deliveries])


def end_sockets(user_ids: Iterable[int], code: int) -> None:
    """Close every open socket of these users, in every process, with ``code``, once the transaction commits.

    Every socket joins its user's group (:func:`groups_for_user`), so one
    message to that group through the channel layer reaches all of them,
    whichever web process holds them. After commit: a browser that reconnects
    at once must find the change already visible (the role it lost, the user
    gone), or it would join its old groups again.
    """
    messages = [(user_group(user_id), {"type": "session.end", "code": code}) for user_id in dict.fromkeys(user_ids)]
    if messages:
        transaction.on_commit(lambda: _group_send(messages))


def _group_send(messages: list[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None or not messages:
        return

    async def deliver() -> None:
        for group, message in messages:
            try:
                await layer.group_send(group, message)
            except Exception:
                logger.warning("realtime %s to %s not delivered", message["type"], group, exc_info=True)

    async_to_sync(deliver)()


def groups_for_user(user: Any) -> list[str]:
    """The groups a connected user's socket joins."""
    from core.roles import is_supervisor

    groups = [user_group(user.pk)]
    if is_supervisor(user):
        groups.append(SUPERVISORS_GROUP)
    return groups


def conversation_audience(assigned_agent_id: int | None, previous_agent_id: int | None = None) -> list[str]:
    """Who hears about a change to a conversation: supervisors, its agent, and the agent who lost it."""
    groups = [SUPERVISORS_GROUP]
    for agent_id in (assigned_agent_id, previous_agent_id):
        if agent_id is not None and user_group(agent_id) not in groups:
            groups.append(user_group(agent_id))
    return groups
