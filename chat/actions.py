"""Chat use cases: every door (the customer websocket, the console, the periodic task) calls these.

A visitor's message is captured like any post (``monitoring.pipeline.ingest``): the same triage, threading,
router and ledger. Typing and read receipts are realtime events only; nothing is stored for them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from chat.identity import ClaimedIdentity, check_identity, visitor_from_token, visitor_token
from chat.models import ChatChannel, PrechatField, Visitor, visitor_group
from chat.queries import channel_online, current_conversation, history, message_frame
from core import realtime
from core.actions import do_abandon_conversation
from core.errors import Conflict, Invalid
from core.models import Channel, Conversation, ConversationState, Message, Platform
from core.posts import Author, InboundPost
from core.queries import check_can_work
from monitoring import credentials
from monitoring.models import Mailbox
from monitoring.pipeline import ingest
from monitoring.platforms.base import EmailReply, PlatformError, ReplyRequest
from monitoring.platforms.email.smtp import send_reply
from monitoring.polling import account_ref

logger = logging.getLogger(__name__)


class ChatRefused(Exception):
    """A visitor's request the chat cannot take: ``code`` and an English sentence go back in an ``error`` frame."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after = code, message, retry_after


def identity_secret(channel: ChatChannel) -> str:
    try:
        return credentials.stored_credentials(channel.account).get("identity_secret", "")
    except credentials.CredentialsUnreadable:
        logger.warning("chat channel %s: its identity secret cannot be decrypted; identities stay unverified", channel)
        return ""


def open_channel(key: str) -> ChatChannel | None:
    return ChatChannel.objects.select_related("account", "mailbox").filter(key=key, enabled=True).first()


def _text(value: object, limit: int = 200) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _email(value: object) -> str:
    address = _text(value, 254)
    try:
        validate_email(address)
    except ValidationError:
        return ""
    return address.lower()


@dataclass
class Welcome:
    visitor: Visitor
    token: str
    conversation_id: int | None
    history: list[dict[str, Any]]


def do_visitor_hello(
    channel: ChatChannel, token: object, identity: object, prechat: object, *, now: datetime | None = None
) -> Welcome:
    """A widget connects: its visitor (the token's, or a new one), who they say they are, and their chat so far.

    A token that is forged, expired or another channel's raises ``ChatRefused("bad_token")``: the widget drops
    it and says hello again without one. ``token`` None: a new visitor.
    """
    now = now or timezone.now()
    visitor: Visitor | None = None
    if token is not None:
        visitor_id = visitor_from_token(
            token, channel.key, max_age_seconds=settings.CHAT_VISITOR_TOKEN_MAX_AGE_DAYS * 86_400
        )
        visitor = Visitor.objects.filter(pk=visitor_id, channel=channel).first() if visitor_id else None
        if visitor is None:
            raise ChatRefused("bad_token", "This chat token is not valid any more; a new chat starts.")
    claim = check_identity(
        identity, identity_secret(channel), now=now.timestamp(), max_age_seconds=settings.CHAT_IDENTITY_MAX_AGE_SECONDS
    )
    with transaction.atomic():
        if visitor is None:
            visitor = Visitor.objects.create(channel=channel, created_at=now, last_seen_at=now)
        else:
            visitor = Visitor.objects.select_for_update().get(pk=visitor.pk)
        _apply_identity(visitor, claim)
        _apply_prechat(channel, visitor, prechat)
        visitor.last_seen_at = now
        visitor.sockets = F("sockets") + 1
        visitor.disconnected_at = None
        visitor.save()
        visitor.refresh_from_db()
    conversation, messages = history(visitor)
    return Welcome(visitor, visitor_token(channel.key, visitor.id), conversation.pk if conversation else None, messages)


def _apply_identity(visitor: Visitor, claim: ClaimedIdentity | None) -> None:
    if claim is None:
        return
    if claim.verified:
        visitor.verified_id, visitor.identity_unverified = claim.user_id, False
    elif not visitor.verified_id:
        visitor.identity_unverified = True
    else:
        return  # a verified visitor keeps their verified name: an unverified claim does not overwrite it
    visitor.name = claim.name or visitor.name
    visitor.email = _email(claim.email) or visitor.email


def _apply_prechat(channel: ChatChannel, visitor: Visitor, prechat: object) -> None:
    if not isinstance(prechat, dict):
        return
    if channel.prechat_name != PrechatField.OFF and not visitor.verified_id:
        visitor.name = _text(prechat.get("name")) or visitor.name
    if channel.prechat_email != PrechatField.OFF and not visitor.verified_id:
        visitor.email = _email(prechat.get("email")) or visitor.email
    topic = _text(prechat.get("topic"))
    if channel.prechat_topic != PrechatField.OFF and topic in channel.topic_list():
        visitor.topic = topic


def do_visitor_gone(visitor_id: uuid.UUID, *, now: datetime | None = None) -> None:
    """One of the visitor's sockets closed; with the last one, the abandon clock starts."""
    now = now or timezone.now()
    with transaction.atomic():
        visitor = Visitor.objects.select_for_update().filter(pk=visitor_id).first()
        if visitor is None:
            return
        visitor.sockets = max(0, visitor.sockets - 1)
        visitor.last_seen_at = now
        if visitor.sockets == 0:
            visitor.disconnected_at = now
        visitor.save(update_fields=["sockets", "last_seen_at", "disconnected_at"])


def check_rate(bucket: str, *, limit: int, window_seconds: int) -> None:
    """Count one more request in ``bucket``; ``ChatRefused("rate_limited")`` past ``limit`` in the window."""
    key = f"chat.rate.{bucket}.{int(timezone.now().timestamp()) // window_seconds}"
    cache.add(key, 0, timeout=window_seconds * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=window_seconds * 2)
        count = 1
    if count > limit:
        retry_after = window_seconds - int(timezone.now().timestamp()) % window_seconds
        raise ChatRefused(
            "rate_limited", f"Too many messages; wait {retry_after} seconds and send again.", retry_after=retry_after
        )


def check_message_rate(visitor: Visitor, address: str) -> None:
    limit = settings.CHAT_MESSAGES_PER_MINUTE
    check_rate(f"visitor.{visitor.pk}", limit=limit, window_seconds=60)
    if address:
        check_rate(f"ip.{address}", limit=limit, window_seconds=60)


def author_for(visitor: Visitor) -> Author:
    """A verified visitor is the host site's user (``user:<id>``); any other, this visitor (``visitor:<uuid>``)."""
    external_id = f"user:{visitor.verified_id}" if visitor.verified_id else f"visitor:{visitor.pk}"
    return Author(
        platform=Platform.CHAT,
        external_id=external_id[:128],
        handle=visitor.email,
        display_name=visitor.name or "Visitor",
        verified=bool(visitor.verified_id),
    )


def identity_state(visitor: Visitor) -> str:
    """How the console labels the visitor: a verified user, an unverified claim, or anonymous."""
    if visitor.verified_id:
        return "verified"
    return "unverified" if visitor.identity_unverified else "anonymous"


def check_chat_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ChatRefused("empty", "The message is empty: write something before sending.")
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise ChatRefused("too_long", f"A chat message allows {limit:,} characters; this one has {len(text):,}.")
    return text.strip()


def check_client_id(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ChatRefused("bad_frame", "A message needs its client_id, a UUID.") from None


def _new_thread_if_ended(visitor: Visitor) -> None:
    """A chat that was closed (ended, abandoned) is over: the visitor's next message starts another."""
    conversation = current_conversation(visitor)
    if conversation is not None and conversation.state == ConversationState.CLOSED:
        Visitor.objects.filter(pk=visitor.pk).update(thread_number=F("thread_number") + 1)
        visitor.refresh_from_db(fields=["thread_number"])


def do_receive_chat_message(
    visitor: Visitor, client_id: object, text: object, *, address: str = "", now: datetime | None = None
) -> Message:
    """A visitor's message: captured through the pipeline (once per ``client_id``), and shown in their other tabs.

    Raises ``ChatRefused`` for an empty or too long message, a bad ``client_id`` or a flood.
    """
    now = now or timezone.now()
    text = check_chat_text(text)
    message_uuid = check_client_id(client_id)
    # Another tab may have ended the chat, or said who the visitor is, since this socket's hello.
    visitor.refresh_from_db(fields=["thread_number", "name", "email", "verified_id", "identity_unverified", "topic"])
    external_id = f"chat:{message_uuid}"
    stored = Message.objects.filter(platform=Platform.CHAT, external_id=external_id).first()
    if stored is not None:
        return stored  # a resend of a message we have: acknowledged again, stored once
    check_message_rate(visitor, address)
    _new_thread_if_ended(visitor)
    conversation = current_conversation(visitor)
    if (conversation is None or not conversation.is_open) and not channel_online(visitor.channel, now):
        raise ChatRefused("offline", "Nobody can answer right now; leave a message and we will write back.")
    post = InboundPost(
        platform=Platform.CHAT,
        channel=Channel.CHAT,
        external_id=external_id,
        thread_key=visitor.thread_key,
        author=author_for(visitor),
        text=text,
        sent_at=now,
        account_id=visitor.channel.account_id,
        subject=visitor.topic,
        raw={"chat": {"visitor": str(visitor.pk), "identity": identity_state(visitor)}},
    )
    ingest([post])
    message = Message.objects.select_related("author_identity").get(platform=Platform.CHAT, external_id=external_id)
    realtime.send_event(message_frame(message, client_id=str(message_uuid)), [visitor.group])
    return message


def _audience(conversation: Conversation) -> list[str]:
    return realtime.conversation_audience(conversation.assigned_agent_id)


def do_visitor_typing(visitor: Visitor, on: object) -> None:
    conversation = current_conversation(visitor)
    if conversation is not None and conversation.is_open:
        event = {"type": "chat", "op": "typing", "conversation": conversation.pk, "on": bool(on)}
        realtime.send_event(event, _audience(conversation))


def do_visitor_read(visitor: Visitor, up_to: object) -> None:
    conversation = current_conversation(visitor)
    if conversation is not None and isinstance(up_to, int) and not isinstance(up_to, bool):
        event = {"type": "chat", "op": "read", "conversation": conversation.pk, "up_to": up_to}
        realtime.send_event(event, _audience(conversation))


def visitor_of(conversation: Conversation) -> uuid.UUID:
    """The visitor whose chat this is (its thread key is ``chat:<visitor uuid>:<n>``)."""
    if conversation.channel != Channel.CHAT:
        raise Conflict("This is not a web chat conversation.")
    return uuid.UUID(conversation.thread_key.split(":")[1])


def do_agent_typing(user: Any, conversation: Conversation, on: bool) -> None:
    """The agent types (or stopped) in the composer: the visitor's widget shows it."""
    check_can_work(user, conversation)
    realtime.send_event({"type": "typing", "from": "agent", "on": bool(on)}, [visitor_group(visitor_of(conversation))])


def do_agent_read(user: Any, conversation: Conversation, up_to: int) -> None:
    """The agent saw the visitor's messages up to ``up_to``: the widget marks them read."""
    check_can_work(user, conversation)
    if not conversation.messages.filter(pk=up_to).exists():
        raise Invalid("No such message in this conversation.", fields={"up_to": ["Give a message of this chat."]})
    realtime.send_event({"type": "read", "by": "agent", "up_to": up_to}, [visitor_group(visitor_of(conversation))])


def _mailbox(channel: ChatChannel, wanted: str) -> Mailbox:
    if channel.mailbox is None:
        raise ChatRefused("no_mailbox", f"This chat has no mailbox configured, so {wanted} is not possible.")
    return channel.mailbox


def do_leave_message(
    visitor: Visitor, name: object, email: object, text: object, *, address: str = "", now: datetime | None = None
) -> Message:
    """Offline: the visitor's message becomes an email conversation of the channel's mailbox, answered by mail."""
    now = now or timezone.now()
    mailbox = _mailbox(visitor.channel, "leaving a message")
    sender = _email(email)
    if not sender:
        raise ChatRefused("bad_email", "Give your email address, so that we can answer you.")
    body = check_chat_text(text)
    check_message_rate(visitor, address)
    display_name = _text(name) or visitor.name or sender
    key = uuid.uuid4()
    message_id = f"chat-left-{key}@{mailbox.address.rpartition('@')[2]}"
    subject = f"Message left on the web chat ({visitor.channel.name})"[:200]
    post = InboundPost(
        platform=Platform.EMAIL,
        channel=Channel.EMAIL,
        external_id=message_id,
        thread_key=f"chat-left:{key}",
        author=Author(platform=Platform.EMAIL, external_id=sender, handle=sender, display_name=display_name),
        text=body,
        sent_at=now,
        account_id=mailbox.account_id,
        subject=subject,
        raw={
            # The shape of a received mail's summary (parsing.ParsedEmail.summary), so replies and the console
            # treat it as the customer's mail: addressed to them, threaded under this Message-ID.
            "email": {
                "message_id": message_id,
                "in_reply_to": "",
                "references": [],
                "subject": subject,
                "from": sender,
                "from_name": display_name,
                "reply_to": "",
                "to": [mailbox.address],
                "cc": [],
                "recipient_count": 1,
                "date": now.isoformat(),
                "auto": "",
                "no_auto_response": False,
                "html": False,
                "attachments": [],
                "bounce": None,
                "content_hash": "",
            },
            "chat": {"left_by_visitor": str(visitor.pk), "channel": visitor.channel.key},
        },
        thread_resolved=True,
    )
    ingest([post])
    return Message.objects.get(platform=Platform.EMAIL, external_id=post.external_id)


def transcript_text(visitor: Visitor) -> str:
    _, messages = history(visitor)
    lines = [f"Transcript of your chat with {visitor.channel.name}", ""]
    for frame in messages:
        at = datetime.fromisoformat(frame["at"]).strftime("%Y-%m-%d %H:%M")
        who = frame["author"] or ("You" if frame["from"] == "visitor" else "Agent")
        lines.append(f"[{at}] {who}: {frame['text']}")
    return "\n".join(lines)


def do_send_transcript(visitor: Visitor, email: object, *, address: str = "") -> str:
    """Mail the visitor's chat to ``email`` from the channel's mailbox, as an automatic message; its Message-ID."""
    mailbox = _mailbox(visitor.channel, "mailing a transcript")
    to = _email(email)
    if not to:
        raise ChatRefused("bad_email", "Give a valid email address for the transcript.")
    conversation = current_conversation(visitor)
    if conversation is None:
        raise ChatRefused("no_chat", "There is nothing to send yet: the chat has no messages.")
    limit = settings.CHAT_TRANSCRIPTS_PER_HOUR
    try:
        check_rate(f"transcript.{visitor.pk}", limit=limit, window_seconds=3600)
        if address:
            check_rate(f"transcript.ip.{address}", limit=limit * 3, window_seconds=3600)
    except ChatRefused as refused:
        raise ChatRefused(
            "rate_limited", "Too many transcripts; try again later.", retry_after=refused.retry_after
        ) from None
    request = ReplyRequest(
        channel=Channel.EMAIL,
        text=transcript_text(visitor),
        in_reply_to_external_id="",
        recipient_external_id=to,
        idempotency_key=str(uuid.uuid4()),
        private=True,
        email=EmailReply(
            to=to, subject=f"Your chat with {visitor.channel.name}", conversation_id=conversation.pk, automatic=True
        ),
    )
    try:
        return send_reply(account_ref(mailbox.account), request, timeout=settings.PLATFORM_TIMEOUT_SECONDS)
    except (PlatformError, credentials.CredentialsUnreadable) as error:
        logger.warning("chat transcript for visitor %s not sent: %s", visitor.pk, error)
        raise ChatRefused("not_sent", "The transcript could not be sent just now; try again later.") from None


def _abandon_if_unanswered(visitor: Visitor, *, reason: str, now: datetime) -> bool:
    conversation = current_conversation(visitor)
    if conversation is None or conversation.first_response_at is not None:
        return False
    if conversation.state not in (ConversationState.NEW, ConversationState.QUEUED, ConversationState.ASSIGNED):
        return False
    try:
        do_abandon_conversation(conversation, reason=reason, at=now)
    except Conflict:  # answered or moved on meanwhile
        return False
    return True


def do_end_chat(visitor: Visitor, *, now: datetime | None = None) -> bool:
    """The visitor closed the chat: unanswered, it is an abandon; their next message starts a new chat.

    Whether it was abandoned.
    """
    now = now or timezone.now()
    abandoned = _abandon_if_unanswered(visitor, reason="chat_ended", now=now)
    Visitor.objects.filter(pk=visitor.pk).update(thread_number=F("thread_number") + 1)
    visitor.refresh_from_db(fields=["thread_number"])
    return abandoned


def do_abandon_gone_visitors(now: datetime | None = None) -> int:
    """The periodic sweep: a visitor gone ``CHAT_ABANDON_AFTER_SECONDS`` before any answer has abandoned.

    Each gone visitor is looked at once (``disconnected_at`` is cleared); one who comes back later and writes
    again starts a new chat if the old one was abandoned. How many chats were abandoned.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CHAT_ABANDON_AFTER_SECONDS)
    abandoned = 0
    gone = Visitor.objects.filter(sockets=0, disconnected_at__lte=cutoff).select_related("channel")
    for visitor in gone[:1000]:
        with transaction.atomic():
            if not Visitor.objects.filter(pk=visitor.pk, sockets=0, disconnected_at__lte=cutoff).update(
                disconnected_at=None
            ):
                continue  # came back meanwhile
            abandoned += _abandon_if_unanswered(visitor, reason="visitor_left", now=now)
    return abandoned


def check_visitor_frame_allowed(visitor: Visitor | None) -> Visitor:
    if visitor is None:
        raise ChatRefused("hello_first", 'Say hello first: the first frame is {"type": "hello"}.')
    return visitor
