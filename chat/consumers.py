"""The customer websocket ``ws/chat/<channel key>/``: the widget's one connection.

The handshake is refused (4403) unless its Origin is one of the channel's allowed origins (not the agents'
same-origin rule: the widget runs on the agency's own site). Frames are JSON text; the first is ``hello``. A bad
frame is answered with an ``error`` frame and the socket stays open, so the widget keeps what the visitor typed.
The frames are listed in docs/chat.md.

======  ==============================================================================
 code   when the server closes
======  ==============================================================================
 4401   the hello's token is forged, expired or another channel's (start a new visitor)
 4403   no such enabled channel, or the page's origin is not allowed
======  ==============================================================================
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from chat import actions
from chat.actions import ChatRefused
from chat.models import ChatChannel, Visitor
from chat.queries import online_for

logger = logging.getLogger(__name__)

BAD_TOKEN = 4401
FORBIDDEN = 4403
STATUS_EVERY_SECONDS = 30.0
"""How often an open socket re-checks whether anyone can answer, and says so when it changed."""


def origin_of(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", []):
        if name == b"origin":
            return value.decode("latin-1").strip().rstrip("/").lower()
    return ""


def client_address(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def channel_for(key: str) -> ChatChannel | None:
    return actions.open_channel(key)


class ChatConsumer(AsyncWebsocketConsumer):
    channel: ChatChannel
    visitor: Visitor | None
    online: bool | None
    status_task: asyncio.Task[None] | None

    async def connect(self) -> None:
        self.visitor, self.online, self.status_task = None, None, None
        key = str(self.scope["url_route"]["kwargs"]["key"])
        channel = await database_sync_to_async(channel_for)(key)
        origin = origin_of(self.scope)
        if channel is None or not channel.allows_origin(origin):
            logger.info("chat socket for %r refused: origin %r not allowed", key[:64], origin[:100])
            await self.close(code=FORBIDDEN)
            return
        self.channel = channel
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.status_task is not None:
            self.status_task.cancel()
        if self.visitor is not None:
            await self.channel_layer.group_discard(self.visitor.group, self.channel_name)
            await database_sync_to_async(actions.do_visitor_gone)(self.visitor.pk)
            self.visitor = None

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))

    async def refuse(self, code: str, message: str, *, retry_after: int | None = None, **extra: Any) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message, **extra}
        if retry_after is not None:
            frame["retry_after"] = retry_after
        await self.send_json(frame)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        limit = settings.CHAT_MAX_FRAME_BYTES
        if text_data is None:
            await self.refuse("bad_frame", "Send JSON text frames only.")
            return
        if len(text_data) > limit or len(text_data.encode("utf-8", "replace")) > limit:
            await self.refuse("too_big", f"A frame allows {limit:,} bytes; this one is larger. Nothing was sent.")
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            await self.refuse("bad_frame", "This frame is not JSON.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.refuse("bad_frame", 'A frame is a JSON object with a "type".')
            return
        try:
            await self.dispatch_frame(content)
        except ChatRefused as refused:
            extra = {"client_id": content.get("client_id")} if content.get("type") == "message" else {}
            await self.refuse(refused.code, refused.message, retry_after=refused.retry_after, **extra)

    async def dispatch_frame(self, content: dict[str, Any]) -> None:
        kind = content["type"]
        if kind == "hello":
            await self.hello(content)
            return
        visitor = actions.check_visitor_frame_allowed(self.visitor)
        address = client_address(self.scope)
        if kind == "message":
            message = await database_sync_to_async(actions.do_receive_chat_message)(
                visitor, content.get("client_id"), content.get("text"), address=address
            )
            await self.send_json({"type": "ack", "client_id": content.get("client_id"), "id": message.pk})
        elif kind == "typing":
            await database_sync_to_async(actions.do_visitor_typing)(visitor, content.get("on"))
        elif kind == "read":
            await database_sync_to_async(actions.do_visitor_read)(visitor, content.get("up_to"))
        elif kind == "leave_message":
            message = await database_sync_to_async(actions.do_leave_message)(
                visitor, content.get("name"), content.get("email"), content.get("text"), address=address
            )
            await self.send_json({"type": "left", "id": message.pk})
        elif kind == "transcript":
            await database_sync_to_async(actions.do_send_transcript)(visitor, content.get("email"), address=address)
            await self.send_json({"type": "transcript_sent"})
        elif kind == "end":
            await database_sync_to_async(actions.do_end_chat)(visitor)
            await self.send_json({"type": "ended"})
        else:
            await self.refuse("bad_frame", f"Unknown frame type {kind[:40]!r}.")

    async def hello(self, content: dict[str, Any]) -> None:
        if self.visitor is not None:
            raise ChatRefused("bad_frame", "This socket already said hello.")
        try:
            welcome = await database_sync_to_async(actions.do_visitor_hello)(
                self.channel, content.get("token"), content.get("identity"), content.get("prechat")
            )
        except ChatRefused as refused:
            if refused.code == "bad_token":
                await self.refuse(refused.code, refused.message)
                await self.close(code=BAD_TOKEN)
                return
            raise
        self.visitor = welcome.visitor
        await self.channel_layer.group_add(self.visitor.group, self.channel_name)
        self.online = await database_sync_to_async(online_for)(self.visitor, timezone.now())
        await self.send_json(
            {
                "type": "welcome",
                "token": welcome.token,
                "visitor": {
                    "name": welcome.visitor.name,
                    "verified": bool(welcome.visitor.verified_id),
                },
                "online": self.online,
                "history": welcome.history,
                "conversation_id": welcome.conversation_id,
            }
        )
        self.status_task = asyncio.create_task(self.watch_status())

    async def watch_status(self) -> None:
        while True:
            await asyncio.sleep(STATUS_EVERY_SECONDS)
            if self.visitor is None:
                return
            online = await database_sync_to_async(online_for)(self.visitor, timezone.now())
            if online != self.online:
                self.online = online
                await self.send_json({"type": "status", "online": online})

    async def event_forward(self, message: dict[str, Any]) -> None:
        """A frame for the visitor's sockets (``core.realtime.send_event`` to ``chat.visitor.<uuid>``)."""
        await self.send_json(message["event"])
