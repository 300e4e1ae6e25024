"""Every model has a working admin: list, search and detail pages render for an admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from core.models import ConversationState as S
from routing.models import Queue
from tests.states import conversation_in_state

SWITCHBOARD_APPS = {"core", "agents", "routing", "monitoring", "responses", "reporting", "auth"}


@pytest.mark.django_db
def test_every_admin_page_renders(admin_user: Any, make_post: Any, queue: Queue, agent: Any) -> None:
    conversation_in_state(S.CLOSED, make_post(), queue=queue, agent=agent)
    client = Client()
    client.force_login(admin_user)
    checked = 0
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        if meta.app_label not in SWITCHBOARD_APPS:
            continue
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert client.get(changelist).status_code == 200, changelist
        if model_admin.search_fields:
            assert client.get(changelist, {"q": "dana"}).status_code == 200, changelist
        first = model.objects.first()
        if first is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            assert client.get(change).status_code == 200, change
        checked += 1
    assert checked >= 12


@pytest.mark.django_db
def test_the_ledger_and_messages_are_read_only_in_admin(
    admin_user: Any, make_post: Any, queue: Queue, agent: Any
) -> None:
    conversation = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)
    client = Client()
    client.force_login(admin_user)
    event = conversation.events.first()
    assert event is not None
    page = client.get(reverse("admin:core_event_change", args=[event.pk])).content.decode()
    assert 'name="kind"' not in page, "ledger fields are not editable"
    assert client.post(reverse("admin:core_event_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    message = conversation.messages.get()
    page = client.get(reverse("admin:core_message_change", args=[message.pk])).content.decode()
    assert "Raw payload" in page and message.external_id in page
