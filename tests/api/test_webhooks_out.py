"""Outbound webhooks: signed deliveries for subscribed events, retried with back-off, never blocking the action."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
import time_machine
from django.db import transaction
from django.utils import timezone

from contactcenter.celery import BEAT_SCHEDULE
from core import tasks
from core.actions import do_escalate_conversation, do_resolve_conversation
from core.capture import do_capture_post
from core.models import Conversation, WebhookDelivery, WebhookEndpoint, WebhookEvent
from core.models import ConversationState as S
from core.models import WebhookDeliveryStatus as Status
from core.webhooks import MAX_ATTEMPTS, do_deliver
from routing.models import Queue
from routing.sla_watch import do_watch_sla
from tests.states import conversation_in_state

HOOK_URL = "https://crm.example.com/hooks/switchboard"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]


def endpoint(*events: str, url: str = HOOK_URL, enabled: bool = True) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(url=url, events=list(events), enabled=enabled)


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[[Callable[[], Any]], Any]:
    """Run an action and then its on-commit callbacks (tasks run eagerly there), as after a real commit."""

    def run(action: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return action()

    return run


def test_a_new_conversation_is_delivered_signed_with_the_endpoints_secret(
    make_post: Any, committed: Callable[..., Any], requests_mock: Any
) -> None:
    hook = endpoint(WebhookEvent.CONVERSATION_CREATED)
    requests_mock.post(HOOK_URL, status_code=204)

    result = committed(lambda: do_capture_post(make_post(text="My card number is 4111")))

    (request,) = requests_mock.request_history
    delivery = WebhookDelivery.objects.get()
    assert request.headers["X-Switchboard-Event"] == "conversation.created"
    assert request.headers["X-Switchboard-Delivery"] == str(delivery.pk)
    assert request.headers["Content-Type"] == "application/json"
    expected = hmac.new(hook.secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Switchboard-Signature"], f"sha256={expected}")
    assert request.timeout == 10

    body = json.loads(request.body)
    assert body["event"] == "conversation.created"
    assert body["conversation"] == {
        "id": result.conversation_id,
        "state": S.NEW,
        "channel": "x_public",
        "queue": None,
        "priority": result.conversation.priority,
        "assigned_agent": None,
    }
    assert "4111" not in request.body.decode(), "no customer text leaves in a webhook"
    assert delivery.status == Status.SENT and delivery.attempts == 1 and delivery.last_status_code == 204
    assert delivery.sent_at is not None and len(delivery.log) == 1


def test_a_tampered_body_does_not_verify(make_post: Any, committed: Callable[..., Any], requests_mock: Any) -> None:
    hook = endpoint(WebhookEvent.CONVERSATION_CREATED)
    requests_mock.post(HOOK_URL, status_code=200)
    committed(lambda: do_capture_post(make_post()))

    (request,) = requests_mock.request_history
    forged = hmac.new(hook.secret.encode(), request.body + b" ", hashlib.sha256).hexdigest()
    assert request.headers["X-Switchboard-Signature"] != f"sha256={forged}"


def test_only_subscribed_enabled_endpoints_receive_an_event(
    make_post: Any, committed: Callable[..., Any], requests_mock: Any
) -> None:
    created = endpoint(WebhookEvent.CONVERSATION_CREATED)
    endpoint(WebhookEvent.CONVERSATION_RESOLVED, url="https://other.example.com/resolved")
    endpoint(*WebhookEvent.values, url="https://off.example.com/all", enabled=False)
    requests_mock.post(HOOK_URL, status_code=200)

    committed(lambda: do_capture_post(make_post()))

    assert [(d.endpoint_id, d.event) for d in WebhookDelivery.objects.all()] == [(created.pk, "conversation.created")]
    assert [r.url for r in requests_mock.request_history] == [HOOK_URL]


def test_nothing_is_stored_without_subscribers(make_post: Any, queue: Queue, agent: Any) -> None:
    conversation_in_state(S.CLOSED, make_post(), queue=queue, agent=agent)
    assert not WebhookDelivery.objects.exists()


def test_assignment_escalation_and_resolution_each_emit_their_event(
    make_post: Any, queue: Queue, agent: Any, supervisor: Any, committed: Callable[..., Any], requests_mock: Any
) -> None:
    endpoint(
        WebhookEvent.CONVERSATION_ASSIGNED, WebhookEvent.CONVERSATION_ESCALATED, WebhookEvent.CONVERSATION_RESOLVED
    )
    requests_mock.post(HOOK_URL, status_code=200)

    conversation = committed(lambda: conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent))
    committed(lambda: do_escalate_conversation(conversation, actor=supervisor, reason="Angry VIP"))
    committed(lambda: do_resolve_conversation(conversation, actor=agent, disposition="answered"))

    sent = [json.loads(r.body) for r in requests_mock.request_history]
    assert [(b["event"], b["conversation"]["state"]) for b in sent] == [
        ("conversation.assigned", S.ASSIGNED),
        ("conversation.escalated", S.ASSIGNED),
        ("conversation.resolved", S.RESOLVED),
    ]
    assert {b["conversation"]["assigned_agent"] for b in sent} == {agent.pk}
    assert {b["conversation"]["queue"] for b in sent} == {queue.pk}
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {Status.SENT}


def test_an_sla_breach_emits_once(
    make_post: Any, queue: Queue, agent: Any, committed: Callable[..., Any], requests_mock: Any
) -> None:
    endpoint(WebhookEvent.SLA_BREACHED)
    requests_mock.post(HOOK_URL, status_code=200)
    conversation = conversation_in_state(S.QUEUED, make_post(), queue=queue, agent=agent)

    later = timezone.now() + timedelta(days=1)
    committed(lambda: do_watch_sla(now=later))
    committed(lambda: do_watch_sla(now=later + timedelta(hours=1)))

    (request,) = requests_mock.request_history
    assert request.headers["X-Switchboard-Event"] == "sla.breached"
    assert json.loads(request.body)["conversation"]["id"] == conversation.pk


def test_a_failed_attempt_is_retried_after_its_back_off_then_sent(
    make_post: Any, committed: Callable[..., Any], requests_mock: Any
) -> None:
    endpoint(WebhookEvent.CONVERSATION_CREATED)
    requests_mock.post(HOOK_URL, [{"status_code": 502, "text": "bad gateway"}, {"status_code": 200}])

    committed(lambda: do_capture_post(make_post()))
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING and delivery.attempts == 1
    assert delivery.last_status_code == 502 and "bad gateway" in delivery.last_error
    assert delivery.next_attempt_at is not None
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 25 < wait <= 30

    assert tasks.retry_webhooks() == 0, "not due before its back-off"
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
        assert tasks.retry_webhooks() == 1

    delivery.refresh_from_db()
    assert delivery.status == Status.SENT and delivery.attempts == 2 and delivery.last_status_code == 200
    assert [entry["status_code"] for entry in delivery.log] == [502, 200]
    assert len(requests_mock.request_history) == 2


def test_a_delivery_fails_after_the_last_attempt_with_every_attempt_logged(
    make_post: Any, committed: Callable[..., Any], requests_mock: Any
) -> None:
    endpoint(WebhookEvent.CONVERSATION_CREATED)
    requests_mock.post(HOOK_URL, status_code=503)
    committed(lambda: do_capture_post(make_post()))
    delivery = WebhookDelivery.objects.get()

    while delivery.status == Status.PENDING:
        assert delivery.next_attempt_at is not None
        assert do_deliver(delivery.pk, now=delivery.next_attempt_at + timedelta(days=1)) in ("retry", "failed")
        delivery.refresh_from_db()

    assert delivery.status == Status.FAILED and delivery.attempts == MAX_ATTEMPTS == 8
    assert delivery.next_attempt_at is None and delivery.sent_at is None
    assert len(delivery.log) == 8 and {e["status_code"] for e in delivery.log} == {503}
    assert len(requests_mock.request_history) == 8
    assert do_deliver(delivery.pk, now=timezone.now() + timedelta(days=30)) == "skipped"


def test_the_back_off_doubles(make_post: Any, committed: Callable[..., Any], requests_mock: Any) -> None:
    endpoint(WebhookEvent.CONVERSATION_CREATED)
    requests_mock.post(HOOK_URL, exc=requests.exceptions.ConnectionError("refused"))
    committed(lambda: do_capture_post(make_post()))
    delivery = WebhookDelivery.objects.get()

    waits = []
    for _ in range(3):
        assert delivery.next_attempt_at is not None
        start = delivery.next_attempt_at + timedelta(seconds=1)
        with time_machine.travel(start, tick=False):
            assert do_deliver(delivery.pk) == "retry"
        delivery.refresh_from_db()
        assert delivery.next_attempt_at is not None
        waits.append((delivery.next_attempt_at - start).total_seconds())
    assert waits == [60, 120, 240]
    assert "ConnectionError" in delivery.last_error and delivery.last_status_code is None


def test_a_slow_endpoint_never_fails_the_action(
    make_post: Any, queue: Queue, agent: Any, committed: Callable[..., Any], requests_mock: Any
) -> None:
    endpoint(WebhookEvent.CONVERSATION_RESOLVED)
    requests_mock.post(HOOK_URL, exc=requests.exceptions.ReadTimeout("read timed out (10 s)"))
    conversation = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)

    committed(lambda: do_resolve_conversation(conversation, actor=agent, disposition="answered"))

    assert Conversation.objects.get(pk=conversation.pk).state == S.RESOLVED
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING and "ReadTimeout" in delivery.last_error


def test_the_action_commits_even_if_the_delivery_task_raises(
    make_post: Any,
    queue: Queue,
    agent: Any,
    committed: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint(WebhookEvent.CONVERSATION_RESOLVED)
    conversation = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)

    def explode(delivery_id: int) -> str:
        raise RuntimeError("worker blew up")

    monkeypatch.setattr(tasks, "do_deliver", explode)
    with caplog.at_level(logging.ERROR, logger="core.webhooks"):
        committed(lambda: do_resolve_conversation(conversation, actor=agent, disposition="answered"))

    assert Conversation.objects.get(pk=conversation.pk).state == S.RESOLVED
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING, "the sweep tries it again"
    assert "not enqueued" in caplog.text


def test_a_rolled_back_action_sends_nothing(make_post: Any, committed: Callable[..., Any], requests_mock: Any) -> None:
    endpoint(WebhookEvent.CONVERSATION_CREATED)
    requests_mock.post(HOOK_URL, status_code=200)

    with pytest.raises(RuntimeError):
        committed(lambda: _capture_then_fail(make_post()))

    assert not WebhookDelivery.objects.exists()
    assert not requests_mock.request_history


def _capture_then_fail(post: Any) -> None:
    with transaction.atomic():
        do_capture_post(post)
        raise RuntimeError("rolled back")


def test_a_delivery_is_claimed_once(make_post: Any, committed: Callable[..., Any], requests_mock: Any) -> None:
    endpoint(WebhookEvent.CONVERSATION_CREATED)
    requests_mock.post(HOOK_URL, status_code=500)
    committed(lambda: do_capture_post(make_post()))
    delivery = WebhookDelivery.objects.get()
    assert delivery.next_attempt_at is not None
    due = delivery.next_attempt_at + timedelta(seconds=1)

    assert do_deliver(delivery.pk, now=due) == "retry"
    assert do_deliver(delivery.pk, now=due) == "skipped", "the second worker finds it claimed or not yet due"


def test_retries_are_swept_on_a_schedule() -> None:
    assert BEAT_SCHEDULE["retry-webhooks"]["task"] == "core.tasks.retry_webhooks"
