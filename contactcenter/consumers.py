"""The websocket: authenticate, join the user's groups, forward events. Nothing more."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from agents.actions import do_heartbeat
from agents.models import AgentProfile
from core import realtime


def heartbeat(user: Any) -> None:
    profile = AgentProfile.objects.filter(user=user).first()
    if profile is not None:
        do_heartbeat(profile)


class EventsConsumer(AsyncJsonWebsocketConsumer):
    joined_groups: list[str]

    async def connect(self) -> None:
        self.joined_groups = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.joined_groups = await database_sync_to_async(realtime.groups_for_user)(user)
        await database_sync_to_async(heartbeat)(user)
        for group in self.joined_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "groups": len(self.joined_groups)})

    async def disconnect(self, code: int) -> None:
        for group in self.joined_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The browser acts over HTTP; over the socket it only says it is alive.
        if isinstance(content, dict) and content.get("type") == "heartbeat":
            await database_sync_to_async(heartbeat)(self.scope["user"])

    async def event_forward(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
