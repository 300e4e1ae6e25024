"""Chat channels and their visitors.

A chat channel is a capture source like a mailbox: its :class:`ChatChannel` row hangs off a ``SocialAccount`` on
platform ``chat``, so capture, routing rules, reports and the API treat it like any other account. The identity
secret is stored encrypted in that account's credentials (``monitoring.credentials``), never on this row.
"""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from monitoring.models import Mailbox, SocialAccount

HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Give a colour as # and six hex digits, e.g. #0b5394.")


class PrechatField(models.TextChoices):
    OFF = "off", "Not asked"
    OPTIONAL = "optional", "Optional"
    REQUIRED = "required", "Required"


class ChatChannel(models.Model):
    account = models.OneToOneField(
        SocialAccount, on_delete=models.CASCADE, primary_key=True, related_name="chat_channel"
    )
    key = models.SlugField(
        max_length=64, unique=True, help_text="The public key in the widget tag (data-channel), e.g. 'help'."
    )
    name = models.CharField(max_length=100, help_text="Shown at the top of the widget.")
    allowed_origins = models.TextField(
        blank=True,
        help_text="The sites the widget may run on, one origin a line (scheme://host[:port], e.g. "
        "https://www.agency.example). Checked on every widget request and websocket; empty: none.",
    )
    greeting = models.CharField(max_length=300, blank=True, default="Hello! How can we help?")
    offline_text = models.CharField(
        max_length=300, blank=True, default="Nobody can answer right now. Leave a message and we will write back."
    )
    business_hours_text = models.CharField(max_length=300, blank=True, help_text="e.g. 'Mon-Fri 9:00-17:00'.")
    primary_colour = models.CharField(max_length=7, default="#0b5394", validators=[HEX_COLOUR])
    text_colour = models.CharField(max_length=7, default="#ffffff", validators=[HEX_COLOUR])
    prechat_name = models.CharField(max_length=8, choices=PrechatField.choices, default=PrechatField.OPTIONAL)
    prechat_email = models.CharField(max_length=8, choices=PrechatField.choices, default=PrechatField.OPTIONAL)
    prechat_topic = models.CharField(max_length=8, choices=PrechatField.choices, default=PrechatField.OFF)
    topics = models.TextField(blank=True, help_text="The topics a visitor may pick, one a line.")
    max_wait_seconds = models.PositiveIntegerField(
        default=300,
        validators=[MinValueValidator(0), MaxValueValidator(86_400)],
        help_text="When the queue's longest wait is over this, the chat is offline (leave a message).",
    )
    mailbox = models.ForeignKey(
        Mailbox,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Where a message left while offline becomes an email conversation, and from where "
        "transcripts are mailed. Empty: neither is offered.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def origins(self) -> list[str]:
        return [line.strip().rstrip("/").lower() for line in self.allowed_origins.splitlines() if line.strip()]

    def allows_origin(self, origin: str) -> bool:
        """Whether a page at ``origin`` (an ``Origin`` header) may use this channel: the websocket and HTTP check."""
        origin = origin.strip().rstrip("/").lower()
        return bool(origin) and origin in self.origins()

    def topic_list(self) -> list[str]:
        return [line.strip() for line in self.topics.splitlines() if line.strip()]


class Visitor(models.Model):
    """Someone on a host page with the widget: one per token, across reloads and tabs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey(ChatChannel, on_delete=models.CASCADE, related_name="visitors")
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    verified_id = models.CharField(max_length=128, blank=True, help_text="The host site's user id, once verified.")
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    topic = models.CharField(max_length=200, blank=True)
    identity_unverified = models.BooleanField(
        default=False, help_text="The name and email came with an identity that did not verify."
    )
    thread_number = models.PositiveIntegerField(
        default=1, help_text="Which of the visitor's chats is current: its thread key ends with it."
    )
    sockets = models.PositiveIntegerField(default=0, help_text="Open websockets (tabs) right now.")
    disconnected_at = models.DateTimeField(null=True, blank=True, help_text="When the last socket closed.")

    class Meta:
        indexes = [
            # The abandon sweep: visitors whose last socket closed.
            models.Index(fields=["disconnected_at"], condition=models.Q(sockets=0), name="visitor_gone"),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'Visitor'} ({self.id})"

    @property
    def thread_key(self) -> str:
        return f"chat:{self.id}:{self.thread_number}"

    @property
    def group(self) -> str:
        return visitor_group(self.id)


def visitor_group(visitor_id: uuid.UUID | str) -> str:
    return f"chat.visitor.{visitor_id}"
