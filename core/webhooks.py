"""Outbound webhooks: telling other systems (CRM, ticketing, chat) what happened.

Actions call :func:`emit` (or :func:`emit_conversations`) inside their
transaction: it stores one :class:`WebhookDelivery` per subscribed endpoint,
so the deliveries commit or roll back with the change they describe. Only
after commit is a task enqueued per delivery; a failure to enqueue is logged
and the periodic sweep (:func:`due_deliveries`) picks the delivery up later.
Network I/O never happens inside the action's transaction and an endpoint's
failure never reaches the action.

:func:`do_deliver` claims a delivery with a conditional update (pushing its
next attempt past the request timeout), so the task and the sweep never post
the same attempt twice. Payloads carry ids and states, never customer text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import requests
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.models import Conversation, WebhookDelivery, WebhookEndpoint
from core.models import WebhookDeliveryStatus as Status

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 30
CLAIM_SECONDS = TIMEOUT_SECONDS * 3
"""How long a claimed attempt holds the delivery; a worker that died mid-attempt frees it after this."""
USER_AGENT = "Switchboard-Webhooks/1"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Switchboard-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 60 s, 120 s, ..."""
    return timedelta(seconds=BACKOFF_SECONDS * 2 ** max(0, attempts - 1))


def _subscribers(event: str) -> list[WebhookEndpoint]:
    # ``events`` is a small JSON list and endpoints are few; JSON containment
    # is not portable to SQLite, so the filter on the event runs here.
    return [e for e in WebhookEndpoint.objects.filter(enabled=True) if event in (e.events or [])]


def emit(event: str, payload: dict[str, Any]) -> list[int]:
    """Queue ``payload`` for every enabled endpoint subscribed to ``event``; returns the delivery ids."""
    return _create(_subscribers(event), event, [payload])


def emit_conversations(event: str, conversation_ids: list[int], *, at: datetime | None = None) -> list[int]:
    """:func:`emit` ``event`` for each conversation, its payload read in the caller's transaction."""
    if not conversation_ids:
        return []
    endpoints = _subscribers(event)
    if not endpoints:
        return []
    at = at or timezone.now()
    rows = Conversation.objects.filter(pk__in=conversation_ids).order_by("pk")
    payloads = [conversation_payload(event, conversation, at=at) for conversation in rows]
    return _create(endpoints, event, payloads)


def conversation_payload(event: str, conversation: Conversation, *, at: datetime | None = None) -> dict[str, Any]:
    """``{event, at, conversation: {id, state, channel, queue, priority, assigned_agent}}``: ids, no customer text."""
    return {
        "event": event,
        "at": (at or timezone.now()).isoformat(),
        "conversation": {
            "id": conversation.pk,
            "state": conversation.state,
            "channel": conversation.channel,
            "queue": conversation.queue_id,
            "priority": conversation.priority,
            "assigned_agent": conversation.assigned_agent_id,
        },
    }


def _create(endpoints: list[WebhookEndpoint], event: str, payloads: list[dict[str, Any]]) -> list[int]:
    if not endpoints or not payloads:
        return []
    now = timezone.now()
    created = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint=endpoint, event=event, payload=payload, next_attempt_at=now, created_at=now)
            for endpoint in endpoints
            for payload in payloads
        ]
    )
    ids = [d.pk for d in created if d.pk is not None]
    transaction.on_commit(lambda: enqueue(ids))
    return ids


def enqueue(delivery_ids: list[int]) -> None:
    """One task per delivery. Never raises: the action that emitted has committed and must not fail now."""
    from core.tasks import deliver_webhook  # tasks import this module

    for delivery_id in delivery_ids:
        try:
            deliver_webhook.delay(delivery_id)
        except Exception:
            # Without a broker the task runs here (eagerly); either way the
            # delivery stays pending and the sweep retries it.
            logger.exception("webhook delivery %s not enqueued; the sweep will retry it", delivery_id)


def due_deliveries(now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending deliveries whose next attempt is due (retries, and any whose task was lost)."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def do_deliver(delivery_id: int, *, now: datetime | None = None) -> str:
    """Make one attempt at ``delivery_id``; returns what became of it (sent, retry, failed, or skipped).

    The attempt is claimed first: only a pending delivery whose next attempt
    is due moves on, and its next attempt is pushed past the request timeout,
    so a second worker finds nothing to do. A 2xx response marks it sent;
    anything else schedules a retry with exponential back-off, until
    :data:`MAX_ATTEMPTS` have failed and it is marked failed. Every attempt is
    written to the row's ``log``.
    """
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now, attempts__lt=MAX_ATTEMPTS
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    status_code: int | None = None
    error = ""
    if not endpoint.enabled:
        error = "endpoint disabled"
    else:
        body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Switchboard-Event": delivery.event,
            "X-Switchboard-Delivery": str(delivery.pk),
            "X-Switchboard-Signature": sign(endpoint.secret, body),
        }
        try:
            response = requests.post(
                endpoint.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}: {response.text[:200]}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
    return _record_attempt(delivery, status_code, error)


def _record_attempt(delivery: WebhookDelivery, status_code: int | None, error: str) -> str:
    done = timezone.now()
    entry = {"at": done.isoformat(), "attempt": delivery.attempts, "status_code": status_code, "error": error}
    changes: dict[str, Any] = {"last_status_code": status_code, "last_error": error, "log": [*delivery.log, entry]}
    if not error:
        outcome = "sent"
        changes |= {"status": Status.SENT, "sent_at": done, "next_attempt_at": None}
    elif delivery.attempts >= MAX_ATTEMPTS or error == "endpoint disabled":
        outcome = "failed"
        changes |= {"status": Status.FAILED, "next_attempt_at": None}
        logger.warning("webhook delivery %s failed after %d attempts: %s", delivery.pk, delivery.attempts, error)
    else:
        outcome = "retry"
        changes["next_attempt_at"] = done + backoff(delivery.attempts)
        logger.info("webhook delivery %s attempt %d failed: %s", delivery.pk, delivery.attempts, error)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
    return outcome
