"""Whether a message no person writes (a survey invitation, an acknowledgement) may go to this customer.

Mail needs care that the social platforms do not (RFC 3834): an automatic answer to an automatic message starts a
loop between two robots, and one to a mailing list reaches every subscriber. So on channel ``email`` an automatic
message goes only

- in answer to mail a person wrote: the parser marks mail that asks for no automatic answer
  (``raw["email"]["no_auto_response"]``: ``Auto-Submitted`` other than ``no``, ``Precedence: bulk/list/junk``,
  ``List-Id``, ``X-Auto-Response-Suppress``, an empty ``Return-Path``, mailer-daemon, postmaster, no-reply),
  and an out-of-office or a bounce is not the customer's message at all;
- and at most ``EMAIL_AUTO_REPLY_LIMIT_PER_DAY`` times to one address in 24 hours.

Our automatic messages carry ``raw["automatic"]`` (what they are) and go out with ``Auto-Submitted:
auto-generated``, so a well-behaved autoresponder leaves them alone too.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.models import Channel, Conversation, Direction, Message
from responses.email_replies import latest_customer_mail


def automatic_mail_refusal(conversation: Conversation) -> str:
    """Why no automatic message may be mailed in ``conversation`` now; "" when one may (or it is not email)."""
    if conversation.channel != Channel.EMAIL:
        return ""
    answered = latest_customer_mail(conversation)
    if answered is None:
        return "there is no mail from a person to answer"
    if (answered.raw.get("email") or {}).get("no_auto_response", True):
        return "the customer's mail asks for no automatic answer (RFC 3834)"
    identity = answered.author_identity_id
    since = timezone.now() - timedelta(days=1)
    sent = (
        Message.objects.filter(direction=Direction.OUTBOUND, raw__automatic__isnull=False, sent_at__gte=since)
        .filter(conversation__messages__author_identity_id=identity, conversation__channel=Channel.EMAIL)
        .values("pk")
        .distinct()
        .count()
    )
    if sent >= settings.EMAIL_AUTO_REPLY_LIMIT_PER_DAY:
        return f"this address had {sent} automatic messages from us in the last 24 hours"
    return ""
