"""The interface every platform connector implements, and the one error type they raise."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from core.posts import Deletion, InboundPost


class PlatformError(Exception):
    """A platform call failed.

    ``permanent`` errors (revoked token, deleted post, closed messaging
    window) will not succeed on retry: the poller disables the account and
    tells an admin. Temporary ones are retried with back-off; ``retry_at``,
    when the platform said when (a rate limit's reset time), is the earliest
    moment to try again.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_at: datetime | None = None,
        status: int | None = None,
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_at = retry_at
        self.status = status
        self.code = code

    @property
    def rate_limited(self) -> bool:
        return self.retry_at is not None


@dataclass(frozen=True)
class AccountRef:
    """What a connector needs to know about the organisation's account.

    ``external_id`` is the X user id or the Facebook Page id; ``credentials``
    holds the decrypted secrets (keys as in README: X ``bearer_token``,
    ``consumer_key``, ``consumer_secret``, ``access_token``,
    ``access_token_secret``; Facebook ``page_access_token``).
    """

    id: int | None
    platform: str
    external_id: str
    handle: str = ""
    credentials: dict[str, str] = field(default_factory=dict, repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    """What else the connector needs that is not secret: a mailbox's servers (``Mailbox.connection_settings``)."""


@dataclass(frozen=True)
class QuerySpec:
    """A listening query: posts matching it are captured even without a mention."""

    id: int | None
    keywords: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    exclusions: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)


@dataclass
class Page:
    """One poll's worth of results and the cursor to save once they are stored."""

    posts: list[InboundPost] = field(default_factory=list)
    deletions: list[Deletion] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    more: bool = False
    """The source has more than one poll's worth waiting: poll it again at once, from ``cursor``."""
    notices: list[str] = field(default_factory=list)
    """What the poll skipped and a person must know of (a message too large to store): logged, kept as the
    source's last error and mailed to the admins once the page's posts are stored."""


@dataclass(frozen=True)
class QuotedMessage:
    """The customer's message an email reply answers, quoted below it as mail clients do."""

    author: str
    sent_at: datetime | None
    text: str


@dataclass(frozen=True)
class OutgoingFile:
    """A file the agent attached to a reply."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class EmailReply:
    """What an email reply needs beyond the text: the addresses, the subject and the thread it continues.

    ``subject`` is the one the reply goes out under, before the ``Re:`` and the conversation token are added;
    ``in_reply_to`` and ``references`` are Message-IDs without angle brackets. ``automatic`` marks a message no
    person wrote (a survey invitation): it goes out with ``Auto-Submitted: auto-generated`` (RFC 3834).
    """

    to: str
    to_name: str = ""
    cc: tuple[str, ...] = ()
    subject: str = ""
    conversation_id: int | None = None
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    quoted: QuotedMessage | None = None
    attachments: tuple[OutgoingFile, ...] = ()
    automatic: bool = False


@dataclass(frozen=True)
class ReplyRequest:
    """One reply to post where the customer wrote.

    Public channels answer ``in_reply_to_external_id`` (the tweet, the Facebook
    comment) in public; private channels (X DM, Messenger) message
    ``recipient_external_id`` (the customer's user id / page-scoped id).
    ``idempotency_key`` is unique per reply; a platform that accepts one gets it.
    """

    channel: str
    text: str
    in_reply_to_external_id: str
    recipient_external_id: str
    idempotency_key: str
    private: bool = False
    email: EmailReply | None = None
    """An email reply's addresses, subject and thread (channel ``email`` only)."""


def reply_is_private(request: ReplyRequest, *, public_channel: str, private_channel: str, platform: str) -> bool:
    """Whether ``request`` is answered in private (``private_channel``, or ``request.private``) or in public.

    Raises a permanent ``unsupported`` ``PlatformError`` for another platform's channel.
    """
    if request.private or request.channel == private_channel:
        return True
    if request.channel == public_channel:
        return False
    raise PlatformError(f"{platform} cannot reply on channel {request.channel!r}.", permanent=True, code="unsupported")


def require_reply_field(value: str, name: str, channel: str) -> str:
    """``value``, which a reply on ``channel`` needs; a permanent ``bad_request`` ``PlatformError`` if it is empty.

    A reply without its text or its target would become a stray post, or fail at the platform: it is refused before
    anything is sent.
    """
    if not value:
        raise PlatformError(f"A reply on {channel} needs {name}.", permanent=True, code="bad_request")
    return value


class Connector(ABC):
    platform: ClassVar[str]

    def __init__(self, account: AccountRef, *, timeout: float = 10.0) -> None:
        self.account = account
        self.timeout = timeout

    def can_poll(self) -> bool:
        """Whether the account has the credentials polling needs.

        An account without them is simply not polled (a webhook-only account): its deliveries still arrive, so
        this is no error, and the account is not disabled for it.
        """
        return True

    @abstractmethod
    def poll(self, cursor: dict[str, Any]) -> Page:
        """Everything addressed to the account since ``cursor``: mentions, comments, messages.

        Must not lose posts: the returned cursor covers exactly the posts
        returned. Raises ``PlatformError``.
        """

    @abstractmethod
    def search(self, query: QuerySpec, cursor: dict[str, Any]) -> Page:
        """Posts matching a listening query since ``cursor``. Raises ``PlatformError``."""

    @abstractmethod
    def post_reply(self, request: ReplyRequest) -> str:
        """Post the reply; return the platform's id for it. Raises ``PlatformError``.

        Permanent errors: the post was deleted, the messaging window closed,
        the token was revoked. Temporary: rate limits, server errors, timeouts.
        """

    @abstractmethod
    def find_reply(self, request: ReplyRequest, since: datetime) -> str | None:
        """The id of this reply if it was already posted (at or after ``since``), else None.

        Called before retrying a reply whose outcome is unknown (the worker
        died between the platform's answer and our database write), so a
        reply is never posted twice. Raises ``PlatformError``.
        """


class MalformedPayload(ValueError):
    """A webhook body that is not what the platform sends: answered with 400, nothing stored."""


WebhookEvents = dict[str, Page]
"""A webhook delivery, split by the account it is for (X ``for_user_id``, Facebook ``entry[].id``)."""
