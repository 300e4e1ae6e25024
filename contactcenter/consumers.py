"""The websocket: authenticate, join the user's groups, forward events. Nothing more."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from contactcenter import realtime


class EventsConsumer(AsyncJsonWebsocketConsumer):
    joined_groups: list[str]

    async def connect(self) -> None:
        self.joined_groups = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.joined_groups = await database_sync_to_async(realtime.groups_for_user)(user)
        for group in self.joined_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "groups": len(self.joined_groups)})

    async def disconnect(self, code: int) -> None:
        for group in self.joined_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Clients only listen; anything they send is ignored (the browser acts over HTTP).
        return

    async def event_forward(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
