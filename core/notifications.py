"""Telling people who must act: admins by email, supervisors in the browser."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction

from core import hooks, realtime

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
    """Tell whoever the notification rules name about ``event`` (a ``routing.models.NotificationEvent`` value).

    Routing listens (``hooks.notification``): it matches its rules and sends
    the emails in a task once the transaction commits, so the caller never
    waits for, nor fails with, the mail server.
    """
    hooks.notification(event, conversation_id, reason, spike)
