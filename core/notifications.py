"""Telling people who must act: admins by email, supervisors in the browser."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction

from core import realtime

logger = logging.getLogger(__name__)


def notify_admins(subject: str, body: str) -> None:
    """Email every active superuser and alert supervisors' browsers, once the transaction commits."""
    recipients = list(
        get_user_model()
        .objects.filter(is_superuser=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )

    def send() -> None:
        realtime.send_event({"type": "alert", "op": "admin", "subject": subject}, [realtime.SUPERVISORS_GROUP])
        if not recipients:
            return
        try:
            send_mail(subject, body, None, recipients)
        except Exception:
            logger.warning("could not email admins about: %s", subject, exc_info=True)

    transaction.on_commit(send)


def notify_by_rules(
    event: str, *, conversation_id: int | None = None, reason: str = "", spike: dict[str, Any] | None = None
) -> None:
    """Email the recipients of the notification rules matching ``event`` once the transaction commits.

    ``event`` is a ``routing.models.NotificationEvent`` value. The matching and
    sending happen in a task (``routing.tasks.send_rule_notifications``), so
    the action never waits for, nor fails with, the mail server.
    """

    def enqueue() -> None:
        from routing.tasks import send_rule_notifications

        try:
            send_rule_notifications.delay(event, conversation_id, reason, spike)
        except Exception:
            logger.exception("notification emails for %s not enqueued", event)

    transaction.on_commit(enqueue)
