"""The sandbox's web chat: visitors of the demo chat channel who write as real ones do, for the embedded default.

Every so often a visitor opens the widget on the demo page (a new one, or a returning one of the sandbox's cast)
and writes; a visitor whose chat is still open sometimes writes again in it. Each message goes through the
use cases the customer websocket calls (``do_visitor_hello``, ``do_receive_chat_message``), so it is captured,
triaged, routed and counted like any chat. Some visitors close the tab afterwards, so an unanswered chat becomes
an abandon as a real one would, and a visitor nobody answers gives up after a few minutes. While nobody can
answer (no agent available) the widget shows the channel offline and the sandbox writes nothing new; follow-ups
in open chats still come. Given a seed the choices are repeatable. Monitoring does not know chat (it sits below
it in the layers): this module is scheduled from chat's own periodic task, ``chat.tasks.produce_sandbox_chats``.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from chat.actions import ChatRefused, do_end_chat, do_receive_chat_message, do_visitor_gone, do_visitor_hello
from chat.demo import DEMO_CHAT
from chat.identity import visitor_token
from chat.models import ChatChannel, Visitor
from chat.queries import current_conversation
from core.models import ConversationState
from monitoring.sandbox import CAST_SIZE, PEOPLE
from monitoring.sandbox_email import customer_address

VISITOR_DOMAIN = "visitors.example"
"""The sandbox's visitors give an address here in the pre-chat form: how the sandbox knows its own."""
CURSOR_KEY = "chat.sandbox.cursor"
PATIENCE_SECONDS = 180
"""A sandbox visitor nobody has answered this long after their last message closes the chat (an abandon). Below
the chat channel's default ``max_wait_seconds`` (300), so the sandbox's own waiting chats do not take the demo
channel offline, and unanswered chats do not pile up on the seeded agents, who have nobody at the keyboard."""
MAX_CATCH_UP_SECONDS = 600

OPENERS: list[tuple[str, str]] = [
    ("Outage", "Hi, my internet has been down since this morning in {city}. Is there an outage?"),
    ("Outage", "The router shows a red light and restarting it did not help. What can I do?"),
    ("Billing", "Hello, I was charged twice this month. Can you refund one of the payments?"),
    ("Billing", "Why did my bill go up by {amount}? Nobody told me about a price change."),
    ("Something else", "Can I take my contract with me when I move to {city} next month?"),
    ("Something else", "How do I switch to the cheaper plan from my next bill?"),
    ("Outage", "Hola, no tengo internet desde ayer en {city}. ¿Me pueden ayudar?"),
    ("Billing", "Bonjour, je ne comprends pas un montant de {amount} sur ma facture."),
    ("Outage", "Hallo, seit gestern habe ich in {city} kein Internet."),
]
FOLLOW_UPS = [
    "Hello? Is anyone there?",
    "My account number is {account}, in case you need it.",
    "I tried restarting it again, still nothing.",
    "Still waiting...",
    "Thanks, I'll wait a bit more.",
]
CITIES = ["Leeds", "Bristol", "Madrid", "Lyon", "Berlin"]


class SandboxChat:
    def __init__(self, seed: int | None = None) -> None:
        # Its own stream, so adding chat leaves the sandbox's posts and email what they were for a given seed.
        self.rng = random.Random(f"chat-{seed}" if seed is not None else None)

    def write(self, channel: ChatChannel, count: int, *, now: datetime) -> int:
        """``count`` visitor messages on ``channel``; how many were stored (an offline channel refuses new chats)."""
        self._give_up(channel, now=now)
        stored = 0
        for _ in range(count):
            open_chats = open_sandbox_visitors(channel)
            if open_chats and self.rng.random() < 0.35:
                visitor = self.rng.choice(open_chats)
                stored += self._send(visitor, self.rng.choice(FOLLOW_UPS), now=now)
            else:
                stored += self._new_chat(channel, now=now)
        return stored

    def _give_up(self, channel: ChatChannel, *, now: datetime) -> None:
        for visitor in open_sandbox_visitors(channel):
            conversation = current_conversation(visitor)
            if conversation is None or conversation.first_response_at is not None:
                continue
            waited = conversation.last_inbound_at or conversation.created_at
            if (now - waited).total_seconds() > PATIENCE_SECONDS:
                do_end_chat(visitor, now=now)

    def _new_chat(self, channel: ChatChannel, *, now: datetime) -> int:
        # The regulars come back; the rest of the cast mostly visit once.
        index = self.rng.randrange(len(PEOPLE)) if self.rng.random() < 0.5 else self.rng.randrange(CAST_SIZE)
        name, address = visitor_identity(index)
        topic, text = self.rng.choice(OPENERS)
        returning = Visitor.objects.filter(channel=channel, email=address).order_by("-created_at").first()
        leaves = self.rng.random() < 0.3
        if returning is None:
            welcome = do_visitor_hello(channel, None, None, {"name": name, "email": address, "topic": topic}, now=now)
        else:
            token = visitor_token(channel.key, returning.id)
            welcome = do_visitor_hello(channel, token, None, {"topic": topic}, now=now)
        stored = self._send(welcome.visitor, text, now=now)
        if leaves:
            do_visitor_gone(welcome.visitor.pk, now=now)
        return stored

    def _send(self, visitor: Visitor, template: str, *, now: datetime) -> int:
        text = template.format(
            city=self.rng.choice(CITIES),
            amount=f"£{self.rng.randrange(5, 40)}.{self.rng.randrange(100):02d}",
            account=f"{self.rng.randrange(10_000_000, 99_999_999)}",
        )
        # A fresh id, not one drawn from the seed: a restarted sandbox with the same seed must not resend old ids.
        client_id = uuid.uuid4()
        try:
            do_receive_chat_message(visitor, str(client_id), text, now=now)
        except ChatRefused:  # offline, or this visitor's rate limit: a real visitor is refused too
            return 0
        return 1


def visitor_identity(index: int) -> tuple[str, str]:
    """(name, address) a cast member gives in the pre-chat form."""
    name, email = customer_address(index)
    return name, f"{email.partition('@')[0]}@{VISITOR_DOMAIN}"


def open_sandbox_visitors(channel: ChatChannel) -> list[Visitor]:
    """The sandbox's visitors on ``channel`` whose chat is open, oldest first (a repeatable order)."""
    visitors = Visitor.objects.filter(channel=channel, email__endswith=f"@{VISITOR_DOMAIN}").order_by("created_at")
    result = []
    for visitor in visitors.select_related("channel")[:500]:
        conversation = current_conversation(visitor)
        if conversation is not None and conversation.state != ConversationState.CLOSED:
            result.append(visitor)
    return result


_writer: SandboxChat | None = None


def _shared_writer() -> SandboxChat:
    global _writer
    if _writer is None:
        _writer = SandboxChat(settings.SANDBOX_SEED or None)
    return _writer


def do_produce_sandbox_chats(*, now: datetime | None = None, writer: SandboxChat | None = None) -> int:
    """The periodic share: the chats owed at ``SANDBOX_CHATS_PER_MINUTE`` since the last run; how many were stored.

    Nothing without the sandbox (``SANDBOX_ENABLED``) or the demo chat channel (``seed_demo`` makes it). The
    cursor (last run, and the fraction of a chat owed) is kept in the cache, so the long-run rate is exact.
    """
    if not settings.SANDBOX_ENABLED or settings.SANDBOX_CHATS_PER_MINUTE <= 0:
        return 0
    channel = ChatChannel.objects.select_related("account").filter(key=DEMO_CHAT, enabled=True).first()
    if channel is None:
        return 0
    now = now or timezone.now()
    cursor = cache.get(CURSOR_KEY) or {}
    last_at = cursor.get("last_at")
    elapsed = 0.0 if not isinstance(last_at, datetime) else (now - last_at).total_seconds()
    elapsed = max(0.0, min(MAX_CATCH_UP_SECONDS, elapsed))
    expected = settings.SANDBOX_CHATS_PER_MINUTE * elapsed / 60 + float(cursor.get("carry", 0.0))
    count = math.floor(expected)
    cache.set(CURSOR_KEY, {"last_at": now, "carry": expected - count}, timeout=None)
    return (writer or _shared_writer()).write(channel, count, now=now)
