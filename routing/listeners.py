"""What routing does when the core tells it something (``core.hooks``); registered in ``RoutingConfig.ready``."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from routing.actions import do_requeue_absent_agent_work
from routing.offers import do_withdraw_offers_of
from routing.tasks import send_rule_notifications

logger = logging.getLogger(__name__)


def requeue_absent_agent_work(user_id: int) -> None:
    do_requeue_absent_agent_work(user_id)


def withdraw_offers_of_absent_agent(user_id: int) -> None:
    do_withdraw_offers_of(user_id)


def send_rule_notifications_after_commit(
    event: str, conversation_id: int | None, reason: str, spike: dict[str, Any] | None
) -> None:
    """Match the notification rules and email their recipients in a task, once the transaction commits."""

    def enqueue() -> None:
        try:
            send_rule_notifications.delay(event, conversation_id, reason, spike)
        except Exception:
            logger.exception("notification emails for %s not enqueued", event)

    transaction.on_commit(enqueue)
