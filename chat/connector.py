"""The outbox's connector for web chat: an agent's reply is pushed to the visitor's sockets.

Delivery is idempotent: the widget loads the chat's history on every (re)connect, so a pushed frame lost on the
way (the visitor offline for a moment) is still shown. The reply's id is ``chat:<idempotency key>``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from chat.models import visitor_group
from chat.queries import message_frame
from core import realtime
from core.models import Channel, Message
from monitoring.platforms.base import Connector, Page, PlatformError, QuerySpec, ReplyRequest


class ChatConnector(Connector):
    platform = "chat"

    def can_poll(self) -> bool:
        return False  # visitors' messages arrive over the websocket, never by polling

    def poll(self, cursor: dict[str, Any]) -> Page:
        return Page(cursor=cursor)

    def search(self, query: QuerySpec, cursor: dict[str, Any]) -> Page:
        return Page(cursor=cursor)

    def post_reply(self, request: ReplyRequest) -> str:
        if request.channel != Channel.CHAT:
            raise PlatformError(f"Web chat cannot reply on channel {request.channel!r}.", permanent=True)
        message = (
            Message.objects.select_related("conversation", "author_agent")
            .filter(idempotency_key=request.idempotency_key)
            .first()
        )
        if message is None or message.conversation is None:
            raise PlatformError("The reply to push is not stored.", permanent=True, code="no_target")
        try:
            visitor = uuid.UUID(message.conversation.thread_key.split(":")[1])
        except (IndexError, ValueError):
            raise PlatformError("The chat's thread names no visitor.", permanent=True, code="no_target") from None
        realtime.send_event(message_frame(message), [visitor_group(visitor)])
        return self.reply_id(request)

    def find_reply(self, request: ReplyRequest, since: datetime) -> str | None:
        # Pushing again is harmless (the widget shows a message id once), and history shows it anyway.
        return self.reply_id(request)

    @staticmethod
    def reply_id(request: ReplyRequest) -> str:
        return f"chat:{request.idempotency_key}"
