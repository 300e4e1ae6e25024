"""The websocket: authenticate, join the user's groups, forward events. Nothing more.

The browser acts over HTTP; over the socket it only says it is alive,
``{"type": "heartbeat"}``. How the server closes a socket (the codes are also
listed in docs/operations.md):

======  ==============================================================================
 code   when
======  ==============================================================================
 1009   a message longer than :data:`MAX_MESSAGE_BYTES`
 4400   a malformed frame: binary, or text that is not JSON (nesting too deep included)
 4401   not signed in, or no longer: logged out, deactivated, deleted, session ended
 4403   the user's role changed: reconnecting joins the groups the role now allows
======  ==============================================================================

A refused frame is logged as one line (no traceback, nothing of its content)
and closes the socket, so flooding the log costs a new handshake a line.
Well-formed JSON that is no message the server knows (not an object, another
``type``) is ignored, whatever it asks for.
"""

from __future__ import annotations

import json
import logging
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest

from agents.actions import do_heartbeat
from agents.models import AgentProfile
from core import realtime

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4096
"""The longest message a browser may send; its one message, the heartbeat, is 20 bytes."""
MESSAGE_TOO_BIG = 1009
MALFORMED_FRAME = 4400


class RefusedFrame(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def parse_frame(text_data: str | None, bytes_data: bytes | None) -> Any:
    """The JSON value a frame carries; :class:`RefusedFrame` when it is too big, binary or not JSON."""
    if text_data is None:
        size = len(bytes_data or b"")
        if size > MAX_MESSAGE_BYTES:
            raise RefusedFrame(MESSAGE_TOO_BIG, f"binary message of {size} bytes")
        raise RefusedFrame(MALFORMED_FRAME, "binary frame")
    # Characters first: a huge message is refused without encoding it.
    if len(text_data) > MAX_MESSAGE_BYTES or len(text_data.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
        raise RefusedFrame(MESSAGE_TOO_BIG, f"text message of {len(text_data)} characters")
    try:
        return json.loads(text_data)
    except RecursionError:  # json raises it for deep nesting, before it sees the text is unterminated
        raise RefusedFrame(MALFORMED_FRAME, "JSON nested too deep") from None
    except ValueError:
        raise RefusedFrame(MALFORMED_FRAME, "not JSON") from None


def session_still_valid(scope: dict[str, Any]) -> bool:
    """Whether the socket's user is still signed in with its session, read afresh (as Django reads it per request).

    False once the session was flushed (logout), has expired, or no longer
    matches the user's password, and once the user is inactive or gone.
    """
    user = scope["user"]
    session = scope.get("session")
    if session is None:  # a socket authenticated without a session: the user must still be active
        return bool(type(user)._default_manager.filter(pk=user.pk, is_active=True).exists())
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)
    return bool(auth.get_user(request).pk == user.pk)


def heartbeat(user: Any) -> None:
    profile = AgentProfile.objects.filter(user=user).first()
    if profile is not None:
        do_heartbeat(profile)


class EventsConsumer(AsyncWebsocketConsumer):
    joined_groups: list[str]
    closing: bool

    async def connect(self) -> None:
        self.joined_groups, self.closing = [], False
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=realtime.SESSION_ENDED)
            return
        # The user's own group first: whatever ends or changes the user's access
        # from now on reaches this socket there (core.socket_sessions), and
        # anything that did so before is seen by the reads below.
        own_group = realtime.user_group(user.pk)
        await self.channel_layer.group_add(own_group, self.channel_name)
        self.joined_groups = [own_group]
        if not await database_sync_to_async(session_still_valid)(self.scope):
            await self.channel_layer.group_discard(own_group, self.channel_name)
            self.joined_groups = []
            await self.close(code=realtime.SESSION_ENDED)
            return
        groups = await database_sync_to_async(realtime.groups_for_user)(user)
        await database_sync_to_async(heartbeat)(user)
        for group in groups:
            if group not in self.joined_groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.joined_groups.append(group)
        await self.accept()
        await self.send(text_data=json.dumps({"type": "hello", "groups": len(self.joined_groups)}))

    async def disconnect(self, code: int) -> None:
        if code == MESSAGE_TOO_BIG and not self.closing:
            # The server refused the message before it reached us (uvicorn's
            # ws_max_size, set by `serve`): its one log line is written here.
            self.log_refused(RefusedFrame(code, f"message over {MAX_MESSAGE_BYTES} bytes, refused by the server"))
        self.closing = True
        for group in self.joined_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return  # frames still in flight after we closed
        try:
            content = parse_frame(text_data, bytes_data)
        except RefusedFrame as refused:
            self.log_refused(refused)
            await self.end(refused.code)
            return
        if isinstance(content, dict) and content.get("type") == "heartbeat":
            # A heartbeat also re-reads the session: one that expired or was
            # ended some way no signal reports stops the socket here.
            if not await database_sync_to_async(session_still_valid)(self.scope):
                await self.end(realtime.SESSION_ENDED)
                return
            await database_sync_to_async(heartbeat)(self.scope["user"])

    def log_refused(self, refused: RefusedFrame) -> None:
        user_id = getattr(self.scope.get("user"), "pk", None)
        logger.warning("websocket of user %s closed with %s: %s", user_id, refused.code, refused.reason)

    async def event_forward(self, message: dict[str, Any]) -> None:
        if not self.closing:
            await self.send(text_data=json.dumps(message["event"]))

    async def session_end(self, message: dict[str, Any]) -> None:
        """The user's access ended or changed (``core.realtime.end_sockets``): close with its code."""
        await self.end(int(message["code"]))

    async def end(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)
