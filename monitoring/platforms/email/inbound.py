"""From parsed mail to the posts capture stores: who wrote, and which conversation each message continues.

Threading follows the headers first, then a token, and never joins two people's mail:

1. ``In-Reply-To``, then ``References`` from the nearest to the root: the first message they name that we hold
   (one we received or one we sent) *and* that belongs to the sender's own conversation gives the thread. A
   reply-all from someone else in a CC'd thread, or a reply to a newsletter, names the same messages but is from
   another person: it does not join their conversation, and starts its own.
2. Else the conversation token in the subject (``[#123]``), for clients that drop the headers, again only when
   conversation 123 is the sender's.
3. Else a new thread, keyed by the message's own id.

A reply whose subject was changed to a new topic still continues its conversation when its headers say it
answers one of ours: the customer pressed "reply". Our next reply then goes out under the subject the customer
wrote last (with the token), so it never contradicts what they see. A forwarded message is mail from the person
who forwarded it: a new conversation of theirs, the forwarded text and files inside it.

A bounce (a delivery status report) belongs to the conversation of the reply that bounced, whoever the
mailer-daemon is; it and an out-of-office are *automatic*: stored there, changing nothing (see ``InboundPost``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from django.utils import timezone

from core.bounces import do_record_bounce
from core.models import Channel, Conversation, Identity, Message, Platform
from core.posts import Author, InboundAttachment, InboundPost
from monitoring.platforms.email.parsing import AutoKind, ParsedEmail, external_id_for, message_key

TOKEN = re.compile(r"\[#(\d{1,18})\]")
"""The conversation token our replies put in their subject."""


def subject_token(conversation_id: int) -> str:
    return f"[#{conversation_id}]"


def to_post(parsed: ParsedEmail, *, account_id: int | None, received_at: datetime | None = None) -> InboundPost:
    """``parsed`` as a post on channel ``email``, threaded on its own message id (``thread_posts`` decides)."""
    received_at = received_at or timezone.now()
    sent_at = parsed.date if parsed.date is not None and parsed.date <= received_at else received_at
    external_id = external_id_for(parsed)
    return InboundPost(
        platform=Platform.EMAIL,
        channel=Channel.EMAIL,
        external_id=external_id,
        thread_key=external_id,
        author=Author(
            platform=Platform.EMAIL,
            external_id=parsed.from_address,
            handle=parsed.from_address,
            display_name=parsed.from_name or parsed.from_address,
        ),
        text=parsed.text,
        subject=parsed.subject,
        sent_at=sent_at,
        in_reply_to_external_id=parsed.in_reply_to[:128],
        account_id=account_id,
        raw={"email": parsed.summary()},
        attachments=tuple(
            InboundAttachment(
                filename=item.filename,
                content_type=item.content_type,
                data=item.data,
                size=item.size,
                content_id=item.content_id,
                inline=item.inline,
                dropped_reason=item.dropped_reason,
            )
            for item in parsed.attachments
        ),
        automatic=parsed.auto in (AutoKind.AUTO_REPLY, AutoKind.BOUNCE),
        thread_resolved=True,
    )


def thread_posts(items: Sequence[tuple[ParsedEmail, InboundPost]]) -> list[InboundPost]:
    """The posts with the thread key of the conversation each continues (the rules above), in the order given.

    Messages of the same batch thread on each other as if they had come one by one.
    """
    named = {ref for parsed, _ in items for ref in _references(parsed)} | {
        message_key(parsed.bounce.original_message_id)
        for parsed, _ in items
        if parsed.bounce is not None and parsed.bounce.original_message_id
    }
    held = {
        row["external_id"]: (row["conversation__thread_key"], row["conversation__contact_id"])
        for row in Message.objects.filter(
            platform=Platform.EMAIL, external_id__in=named, conversation__isnull=False
        ).values("external_id", "conversation__thread_key", "conversation__contact_id")
    }
    contact_of = dict(
        Identity.objects.filter(
            platform=Platform.EMAIL, external_id__in={parsed.from_address for parsed, _ in items}
        ).values_list("external_id", "contact_id")
    )
    tokens = {int(match.group(1)) for parsed, _ in items if (match := TOKEN.search(parsed.subject))}
    by_token = {
        pk: (thread_key, contact_id)
        for pk, thread_key, contact_id in Conversation.objects.filter(pk__in=tokens, channel=Channel.EMAIL).values_list(
            "pk", "thread_key", "contact_id"
        )
    }
    in_batch: dict[str, tuple[str, str]] = {}
    """External id → (thread key, sender) of this batch's earlier messages."""
    threaded = []
    for parsed, post in items:
        sender = parsed.from_address
        contact = contact_of.get(sender)
        key = None
        bounced = message_key(parsed.bounce.original_message_id) if parsed.bounce is not None else ""
        if bounced in held:
            key = held[bounced][0]
        for ref in _references(parsed) if key is None else ():
            if ref in in_batch and in_batch[ref][1] == sender:
                key = in_batch[ref][0]
            elif ref in held and contact is not None and held[ref][1] == contact:
                key = held[ref][0]
            if key is not None:
                break
        if key is None and (match := TOKEN.search(parsed.subject)):
            found = by_token.get(int(match.group(1)))
            if found is not None and contact is not None and found[1] == contact:
                key = found[0]
        key = key or post.thread_key
        in_batch[post.external_id] = (key, sender)
        threaded.append(replace(post, thread_key=key))
    return threaded


def _references(parsed: ParsedEmail) -> list[str]:
    """The ids a message answers, nearest first: ``In-Reply-To``, then ``References`` from its end."""
    refs = [parsed.in_reply_to, *reversed(parsed.references)]
    return [message_key(ref) for ref in dict.fromkeys(refs) if ref]


def prepare_posts(
    parsed: Sequence[ParsedEmail], *, account_id: int | None, received_at: datetime | None = None
) -> list[InboundPost]:
    """What every way mail comes in (IMAP, the pipe) hands to capture: posts threaded, bounces recorded.

    A bounce fails the reply it returns (``core.bounces``) as soon as it is read; doing so again when the same
    bounce is read twice changes nothing, so this needs no ordering with the capture that follows.
    """
    for item in parsed:
        if item.bounce is not None:
            do_record_bounce(
                Platform.EMAIL,
                message_key(item.bounce.original_message_id),
                status=item.bounce.status,
                reason=item.bounce.diagnostic,
                permanent=item.bounce.permanent,
            )
    return thread_posts([(item, to_post(item, account_id=account_id, received_at=received_at)) for item in parsed])
