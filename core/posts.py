"""The one shape every source's posts are normalised to before capture."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Author:
    platform: str
    external_id: str
    handle: str = ""
    display_name: str = ""
    followers_count: int = 0
    verified: bool = False


@dataclass(frozen=True)
class InboundAttachment:
    """A file that came with a post (an email's attachment or inline image), stored beside its message.

    ``data`` is empty when the file was dropped (``dropped_reason``: too large); the row still says it existed.
    """

    filename: str
    content_type: str
    data: bytes = field(default=b"", repr=False)
    size: int = 0
    content_id: str = ""
    inline: bool = False
    dropped_reason: str = ""


@dataclass(frozen=True)
class InboundPost:
    """A customer's post as captured from any platform.

    ``thread_key`` names the conversation thread on the platform (the root
    tweet's ``conversation_id``, the top-level Facebook comment, the DM
    thread); posts with the same channel and thread key belong together.
    ``edited`` marks a new version of a post already captured (same
    ``external_id``): it updates the stored text and keeps the old one.
    """

    platform: str
    channel: str
    external_id: str
    thread_key: str
    author: Author
    text: str
    sent_at: datetime
    in_reply_to_external_id: str = ""
    language: str = ""
    """The platform's own language tag, when it gives one (X does)."""
    edited: bool = False
    account_id: int | None = None
    """The social account that captured it (set by the poller or webhook, not the connector)."""
    query_id: int | None = None
    """The listening query that found it, if any."""
    raw: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[InboundAttachment, ...] = ()
    automatic: bool = False
    """Sent by a machine, not the customer (an out-of-office, a bounce): stored on its thread's conversation, if
    it has one, without reopening it or counting as a customer reply; with none, stored and filtered."""
    subject: str = ""
    """An email's subject: the conversation's subject, and read by triage with the text."""
    thread_resolved: bool = False
    """The connector decided ``thread_key`` itself (email: References, senders and the subject token), so capture
    must not join the post to the thread of the post it answers."""

    @property
    def full_text(self) -> str:
        """What triage reads: the subject, if any, and the text."""
        return f"{self.subject}\n{self.text}" if self.subject else self.text


@dataclass(frozen=True)
class Deletion:
    """The customer deleted (or hid) a post we captured."""

    platform: str
    external_id: str
    at: datetime


@dataclass(frozen=True)
class Triage:
    """What the pipeline decided about a post before it is stored, and why.

    A post with a ``filtered_reason`` is stored and counted but starts no
    conversation. ``why`` is kept on the message (and on a conversation it
    opens) so agents and admins can see the reasoning.
    """

    language: str = ""
    sentiment: str = ""
    sentiment_score: float | None = None
    category: str = ""
    skills: tuple[tuple[int, int], ...] = ()
    """Required skills as (skill id, minimum level 1-10)."""
    priority: int = 50
    filtered_reason: str = ""
    why: dict[str, Any] = field(default_factory=dict)
    queue_id: int | None = None
    """Where routing places a conversation this post opens (decided before it is stored)."""
    first_response_due: datetime | None = None
    """When that queue's SLA wants the first answer (business hours applied)."""
    preferred_agent_id: int | None = None
    """The agent a returning customer goes back to, if routing finds one."""
    placement: dict[str, Any] = field(default_factory=dict)
    """Why it goes there: the routing rule, skills and boost, for the ledger."""


UNTRIAGED = Triage()
