"""A reply the platform accepted and then returned undelivered (an email bounce): failed after all."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core import realtime
from core.ledger import record_event
from core.models import Delivery, Direction, EventKind, Message


def do_record_bounce(platform: str, external_id: str, *, status: str, reason: str, permanent: bool) -> Message | None:
    """Mark our reply ``external_id`` failed with the reason the bounce gives; the reply, or None.

    Only a permanent bounce (5.x.x) fails the reply: a delayed-delivery notice (4.x.x) says the mail is still
    being tried, and is shown on the conversation but changes nothing. A second report of the same bounce
    changes nothing either. The reason goes on the reply, where the agent sees it; the ledger gets the status
    code only, since a diagnostic quotes addresses.
    """
    if not permanent or not external_id:
        return None
    with transaction.atomic():
        message = (
            # Lock the reply only: PostgreSQL refuses FOR UPDATE on the nullable side of the conversation's join.
            Message.objects.select_for_update(of=("self",))
            .select_related("conversation")
            .filter(platform=platform, external_id=external_id, direction=Direction.OUTBOUND, delivery=Delivery.SENT)
            .first()
        )
        if message is None:
            return None
        message.delivery = Delivery.FAILED
        message.delivery_error = f"Returned undelivered ({status or 'no status'}): {reason}"[:2000]
        message.save(update_fields=["delivery", "delivery_error"])
        conversation = message.conversation
        if conversation is not None:
            record_event(
                EventKind.REPLY_FAILED,
                at=timezone.now(),
                conversation=conversation,
                agent=message.author_agent,
                data={"message_id": message.pk, "code": "bounced", "status": status[:16]},
            )
            groups = realtime.conversation_audience(conversation.assigned_agent_id, message.author_agent_id)
            event = {"type": "conversations", "op": "changed", "ids": [conversation.pk]}
            transaction.on_commit(lambda: realtime.send_event(event, groups))
    return message
