"""The outbox: posting replies to the platforms exactly once.

A reply is stored first (``queued``, with an idempotency key). Posting claims
it with a conditional update (``queued`` → ``sending``), so a task delivered
twice posts once. Success stores the platform's id (``sent``); a temporary
failure puts it back (``queued``) for a retry with back-off; a permanent one
marks it ``failed`` with the reason, keeping the text.

The one gap no database can close is a crash after the platform accepted the
reply and before we wrote that down: the reply is then stuck in ``sending``.
:func:`do_reconcile_stuck_replies` finds such replies and asks the platform
whether the reply exists (``find_reply``) before anything is posted again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core import realtime
from core.actions import record_event
from core.broker import BROKER_DOWN
from core.models import Channel, Conversation, Delivery, Direction, EventKind, Identity, Message
from monitoring.credentials import CredentialsUnreadable
from monitoring.models import SocialAccount
from monitoring.platforms import AccountRef, PlatformError, ReplyRequest, connector_class
from monitoring.polling import account_ref
from responses.email_replies import AUTOMATIC_KINDS, email_reply_for

logger = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=2)


class RetryLater(Exception):
    """A temporary platform failure: the task retries after ``countdown`` seconds."""

    def __init__(self, countdown: float) -> None:
        super().__init__(countdown)
        self.countdown = countdown


def reply_request(message: Message) -> tuple[AccountRef, ReplyRequest]:
    """Where and how to post this reply: the account that captured the customer, the post to answer."""
    conversation = message.conversation
    assert conversation is not None
    inbound = conversation.messages.filter(direction=Direction.INBOUND).exclude(external_id__isnull=True)
    if conversation.channel == Channel.EMAIL:
        inbound = inbound.exclude(raw__email__auto__in=AUTOMATIC_KINDS)  # an out-of-office is no one to answer
    latest = inbound.order_by("-sent_at", "-id").values("external_id", "account_id", "author_identity_id").first()
    if latest is None:
        raise PlatformError("There is no customer message to answer.", permanent=True, code="no_target")
    account = SocialAccount.objects.filter(pk=latest["account_id"]).first()
    if account is None:
        account = SocialAccount.objects.filter(platform=conversation.platform, enabled=True).first()
    if account is None:
        raise PlatformError(f"No {conversation.platform} account to post from.", permanent=True, code="no_account")
    identity = Identity.objects.filter(pk=latest["author_identity_id"]).values_list("external_id", flat=True).first()
    try:
        ref = account_ref(account)
    except CredentialsUnreadable as error:
        raise PlatformError(str(error), permanent=True, code="credentials_unreadable") from None
    private = not message.is_public
    # Facebook allows replies only to top-level comments: answer the thread's own comment.
    target = conversation.thread_key if conversation.channel == "facebook_public" else latest["external_id"]
    return ref, ReplyRequest(
        channel=conversation.channel,
        text=message.text,
        in_reply_to_external_id=str(target),
        recipient_external_id=identity or "",
        idempotency_key=str(message.idempotency_key),
        private=private or not Channel.is_public(conversation.channel),
        email=email_reply_for(message, conversation) if conversation.channel == Channel.EMAIL else None,
    )


def _connector(account: AccountRef):  # type: ignore[no-untyped-def]
    return connector_class(account.platform)(account, timeout=settings.PLATFORM_TIMEOUT_SECONDS)


def do_post_reply(message_id: int) -> str:
    """Post one queued reply. Returns what happened: sent, failed, or skipped (not ours to post now).

    Raises ``RetryLater`` after a temporary failure.
    """
    now = timezone.now()
    claimed = (
        Message.objects.filter(pk=message_id, direction=Direction.OUTBOUND, delivery=Delivery.QUEUED)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .update(delivery=Delivery.SENDING, sending_since=now, delivery_attempts=F("delivery_attempts") + 1)
    )
    if not claimed:
        return "skipped"
    message = Message.objects.select_related("conversation__contact").get(pk=message_id)
    try:
        account, request = reply_request(message)
        external_id = _connector(account).post_reply(request)
    except PlatformError as error:
        return _failed(message, error)
    _sent(message, external_id)
    return "sent"


def _sent(message: Message, external_id: str) -> None:
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, delivery=Delivery.SENDING).update(
            delivery=Delivery.SENT, external_id=external_id, posted_at=timezone.now(), delivery_error=""
        )
        _tell_agent(message)


def _failed(message: Message, error: PlatformError) -> str:
    if error.permanent or message.delivery_attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        with transaction.atomic():
            Message.objects.filter(pk=message.pk, delivery=Delivery.SENDING).update(
                delivery=Delivery.FAILED, delivery_error=error.message[:2000]
            )
            if message.conversation is not None:
                record_event(
                    EventKind.REPLY_FAILED,
                    at=timezone.now(),
                    conversation=message.conversation,
                    agent=message.author_agent,
                    # The platform's words stay on the reply (``delivery_error``): they quote addresses and
                    # names, and the ledger keeps no personal data.
                    data={"message_id": message.pk, "code": error.code, "status": error.status},
                )
            _tell_agent(message)
        logger.warning("reply %s failed for good: %s", message.pk, error.message)
        return "failed"
    countdown = (
        max(1.0, (error.retry_at - timezone.now()).total_seconds())
        if error.retry_at
        else min(3600.0, 10.0 * 2 ** (message.delivery_attempts - 1))
    )
    Message.objects.filter(pk=message.pk, delivery=Delivery.SENDING).update(
        delivery=Delivery.QUEUED,
        delivery_error=error.message[:2000],
        sending_since=None,
        retry_at=timezone.now() + timedelta(seconds=countdown),
    )
    raise RetryLater(countdown)


def _tell_agent(message: Message) -> None:
    conversation = message.conversation
    if conversation is None:
        return
    groups = realtime.conversation_audience(conversation.assigned_agent_id, message.author_agent_id)
    event = {"type": "conversations", "op": "changed", "ids": [conversation.pk]}
    transaction.on_commit(lambda: realtime.send_event(event, groups))


def do_reconcile_stuck_replies(now: datetime | None = None) -> dict[str, int]:
    """Replies stuck in ``sending``: posted already (record the id) or not (queue them again)."""
    now = now or timezone.now()
    counts = {"found": 0, "requeued": 0, "unknown": 0, "failed": 0}
    stuck = Message.objects.select_related("conversation__contact").filter(
        delivery=Delivery.SENDING, sending_since__lt=now - STUCK_AFTER
    )
    for message in stuck:
        assert message.sending_since is not None
        try:
            account, request = reply_request(message)
            found = _connector(account).find_reply(request, message.sending_since - timedelta(minutes=1))
        except PlatformError as error:
            if error.permanent and error.code == "unsupported":
                _failed(message, _uncheckable(error))  # it may have gone out: sending again could send it twice
                counts["failed"] += 1
                continue
            logger.info("cannot check reply %s yet: %s", message.pk, error.message)
            counts["unknown"] += 1
            continue
        except Exception:  # one bad reply must not keep the others stuck
            logger.exception("checking reply %s failed", message.pk)
            counts["unknown"] += 1
            continue
        if found:
            _sent(message, found)
            counts["found"] += 1
        else:
            Message.objects.filter(pk=message.pk, delivery=Delivery.SENDING).update(
                delivery=Delivery.QUEUED, sending_since=None
            )
            transaction.on_commit(partial(enqueue_post, message.pk))
            counts["requeued"] += 1
    return counts


def _uncheckable(error: PlatformError) -> PlatformError:
    return PlatformError(
        "Switchboard cannot tell whether this reply went out: the worker stopped while sending it, and "
        f"{error.message[0].lower()}{error.message[1:]} Check with the customer before sending it again.",
        permanent=True,
        code="outcome_unknown",
    )


def enqueue_post(message_id: int) -> None:
    """Hand a queued reply to a worker, after the commit that stored it. Never raises for an unreachable broker.

    The reply is stored whatever happens here: were this to raise, the agent would see an error for a reply that
    will still be posted, and might send it again. The retry-outbox sweep posts it (``due_replies``) instead.
    """
    from responses.tasks import post_reply  # the tasks build on this module

    try:
        post_reply.delay(message_id)
    except BROKER_DOWN:
        logger.warning("reply %s not handed to a worker (Redis unreachable); the outbox sweep will post it", message_id)


def due_replies(now: datetime | None = None) -> list[int]:
    """Queued replies whose time has come: for the sweeper, in case a task was lost (a broker restart)."""
    now = now or timezone.now()
    return list(
        Message.objects.filter(direction=Direction.OUTBOUND, delivery=Delivery.QUEUED)
        .filter(Q(retry_at__isnull=True, sent_at__lt=now - timedelta(seconds=20)) | Q(retry_at__lte=now))
        .values_list("pk", flat=True)[:500]
    )


def outbox_for(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.filter(direction=Direction.OUTBOUND).order_by("sent_at"))
