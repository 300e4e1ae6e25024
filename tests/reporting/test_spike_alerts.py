"""Spike alerts: the dashboard's spike rule, announced once per (category, hour) by webhook, browser and email."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core import mail
from django.test import Client
from django.urls import reverse

from contactcenter.celery import BEAT_SCHEDULE
from core import realtime
from core.models import (
    SPIKE_ALERT,
    Contact,
    Conversation,
    Direction,
    Event,
    EventKind,
    Message,
    Sentiment,
    WebhookDelivery,
    WebhookEndpoint,
)
from core.models import ConversationState as S
from reporting.alerts import do_announce_spikes
from routing.models import NotificationEvent, NotificationRule, SpikeAlert

pytestmark = pytest.mark.usefixtures("eager_tasks")

NOW = datetime(2026, 3, 11, 14, 30, tzinfo=UTC)
HOOK_URL = "https://hooks.example.com/switchboard"
_threads = itertools.count(1)


@pytest.fixture(autouse=True)
def _utc(settings: Any) -> None:
    settings.TIME_ZONE = "UTC"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def captured(when: datetime, *, category: str, sentiment: str = Sentiment.NEGATIVE) -> None:
    conversation = Conversation.objects.create(
        contact=Contact.objects.create(display_name="Dana"),
        channel="x_public",
        thread_key=f"thread-{next(_threads)}",
        state=S.NEW,
        category=category,
        sentiment=sentiment,
        created_at=when,
    )
    Message.objects.create(
        conversation=conversation,
        direction=Direction.INBOUND,
        platform="x",
        text="my account number is 12345 and it is down",
        is_public=True,
        sent_at=when,
        received_at=when,
    )
    Event.objects.create(kind=EventKind.CAPTURED, at=when, conversation=conversation, channel=conversation.channel)


@pytest.fixture
def outage_spike(db: None) -> None:
    """6 outage posts in the last hour against 2 an hour the day before: a spike (no weekly history)."""
    for minute in range(6):
        captured(NOW - timedelta(minutes=5 + minute), category="outage")
    for hour in range(24):
        for _ in range(2):
            captured(NOW - timedelta(minutes=90 + 60 * hour), category="outage")


def test_a_spike_is_announced_once_per_category_and_hour(
    outage_spike: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = do_announce_spikes(NOW)
        again = do_announce_spikes(NOW + timedelta(minutes=10))
        captured(NOW + timedelta(minutes=31), category="outage")
        next_hour = do_announce_spikes(NOW + timedelta(minutes=35))

    assert [(a.category, a.hour) for a in first] == [("outage", datetime(2026, 3, 11, 14, tzinfo=UTC))]
    assert again == []
    assert [(a.category, a.hour) for a in next_hour] == [("outage", datetime(2026, 3, 11, 15, tzinfo=UTC))]
    assert first[0].figures["total"] == 6 and first[0].figures["volume_spike"] is True
    assert SpikeAlert.objects.count() == 2


def test_no_spike_announces_nothing(db: None) -> None:
    captured(NOW - timedelta(minutes=5), category="outage")

    assert do_announce_spikes(NOW) == []


def test_the_spike_webhook_carries_counts_and_never_customer_text(
    outage_spike: None, django_capture_on_commit_callbacks: Any, requests_mock: Any
) -> None:
    WebhookEndpoint.objects.create(url=HOOK_URL, events=[SPIKE_ALERT])
    WebhookEndpoint.objects.create(url="https://other.example.com/", events=["conversation.created"])
    requests_mock.post(HOOK_URL, status_code=200)

    with django_capture_on_commit_callbacks(execute=True):
        do_announce_spikes(NOW)

    (delivery,) = WebhookDelivery.objects.all()
    assert (delivery.event, delivery.status) == (SPIKE_ALERT, "sent")
    body = json.loads(requests_mock.last_request.body)
    assert body["event"] == "spike.alert"
    assert body["spike"]["category"] == "outage"
    assert body["spike"]["hour"] == "2026-03-11T14:00:00+00:00"
    assert (body["spike"]["total"], body["spike"]["total_baseline"]) == (6, 2.0)
    assert requests_mock.last_request.headers["X-Switchboard-Event"] == "spike.alert"
    assert "account number" not in requests_mock.last_request.body.decode()


def test_supervisors_browsers_hear_of_the_spike(outage_spike: None, django_capture_on_commit_callbacks: Any) -> None:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.SUPERVISORS_GROUP, channel)

    with django_capture_on_commit_callbacks(execute=True):
        do_announce_spikes(NOW)

    message = async_to_sync(layer.receive)(channel)
    assert message["event"] == {
        "type": "alert",
        "op": "spike",
        "category": "outage",
        "hour": "2026-03-11T14:00:00+00:00",
    }
    async_to_sync(layer.group_discard)(realtime.SUPERVISORS_GROUP, channel)


def test_spike_rules_email_their_recipients(outage_spike: None, django_capture_on_commit_callbacks: Any) -> None:
    NotificationRule.objects.create(name="Comms", events=[NotificationEvent.SPIKE], extra_emails="comms@example.com")
    NotificationRule.objects.create(name="Leads", events=[NotificationEvent.ESCALATED], extra_emails="lead@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        do_announce_spikes(NOW)

    (message,) = mail.outbox
    assert message.to == ["comms@example.com"]
    assert message.subject == "[Switchboard] Spike alert: outage (2026-03-11T14:00:00+00:00)"
    assert "Posts: 6 (usually 2.0)" in message.body
    assert "account number" not in message.body


def test_the_check_runs_every_minute_from_the_one_schedule() -> None:
    assert BEAT_SCHEDULE["announce-spikes"] == {"task": "reporting.tasks.announce_spikes", "schedule": 60.0}


def test_admins_can_subscribe_an_endpoint_to_spike_alerts(admin_user: Any) -> None:
    client = Client()
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:core_webhookendpoint_add"), {"url": HOOK_URL, "events": [SPIKE_ALERT], "enabled": "on"}
    )

    assert response.status_code == 302, response.content
    assert WebhookEndpoint.objects.get().events == [SPIKE_ALERT]
