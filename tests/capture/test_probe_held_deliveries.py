"""No customer post is lost to an account's state: webhook-only accounts, and deliveries for disabled accounts.

An account without polling credentials (registered for its webhooks only) is simply not polled: it is not
disabled, and its deliveries are captured. A delivery for a disabled account (an admin switched it off, or its
token was revoked) is answered 200 and held, whole, in the admin's *Held deliveries*; once the account is enabled
again, "Process selected now" captures its posts as if just delivered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from requests_mock import Mocker

from core.models import Conversation, Message
from core.models import ConversationState as S
from monitoring.models import HeldDelivery, ListeningQuery, SocialAccount
from monitoring.polling import do_poll_account, do_poll_query
from routing.models import Queue
from tests.capture.test_webhooks import _webhook_secrets as _webhook_secrets  # autouse: the webhook secrets
from tests.capture.test_webhooks import deliver_facebook, deliver_x, fixture, fixture_bytes, nothing_stored

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PAGE_ID = "501234567890123"
X_USER_ID = "4400100"
MENTIONS_URL = f"https://api.twitter.com/2/users/{X_USER_ID}/mentions"
HELD_CHANGELIST = "admin:monitoring_helddelivery_changelist"
ACCOUNT_CHANGELIST = "admin:monitoring_socialaccount_changelist"


@pytest.fixture(autouse=True)
def clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _no_environment_credentials(settings: Any) -> None:
    settings.PLATFORM_CREDENTIALS = {"x": {}, "facebook": {}}


def register(platform: str, external_id: str) -> SocialAccount:
    """An account as the documented command registers it: no credentials."""
    call_command("add_social_account", platform, external_id, "--name", "Northwind", stdout=StringIO())
    return SocialAccount.objects.get(platform=platform, external_id=external_id)


def admin_client(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def run_action(client: Client, changelist: str, action: str, ids: list[int]) -> Any:
    return client.post(
        reverse(changelist), {"action": action, "_selected_action": [str(pk) for pk in ids]}, follow=True
    )


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Webhook-only accounts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "external_id"), [("x", X_USER_ID), ("facebook", PAGE_ID)])
def test_an_account_without_polling_credentials_is_not_polled_and_stays_enabled(
    db: None, requests_mock: Mocker, mailoutbox: list[Any], platform: str, external_id: str
) -> None:
    account = register(platform, external_id)

    assert do_poll_account(account.pk) is None

    account.refresh_from_db()
    assert account.enabled
    assert account.disabled_reason == ""
    assert account.consecutive_failures == 0
    assert "no polling credentials" in account.last_error
    assert account.next_poll_at > NOW and account.poll_lease_until is None
    assert requests_mock.request_history == []
    assert mailoutbox == []


def test_a_listening_query_of_an_account_without_polling_credentials_disables_neither(
    db: None, requests_mock: Mocker
) -> None:
    account = register("x", X_USER_ID)
    query = ListeningQuery.objects.create(account=account, name="Outages", keywords=["outage"])

    assert do_poll_query(query.pk) is None

    account.refresh_from_db()
    query.refresh_from_db()
    assert account.enabled and query.enabled
    assert requests_mock.request_history == []


@pytest.mark.parametrize(
    ("platform", "external_id", "name"),
    [
        ("x", X_USER_ID, "x/account_activity_tweet_create.json"),
        ("facebook", PAGE_ID, "facebook/webhook_feed_comment.json"),
    ],
)
def test_a_webhook_only_account_captures_its_deliveries_after_its_first_poll(
    db: None, queue: Queue, requests_mock: Mocker, platform: str, external_id: str, name: str
) -> None:
    account = register(platform, external_id)
    do_poll_account(account.pk)

    response = {"x": deliver_x, "facebook": deliver_facebook}[platform](fixture_bytes(name))

    assert response.status_code == 200
    assert response.json()["stored"] == 1 and response.json()["held"] == 0
    message = Message.objects.get()
    assert message.account_id == account.pk
    assert message.conversation is not None and message.conversation.state == S.QUEUED


# --- Disabled accounts ---------------------------------------------------------------------------------------


@pytest.fixture
def revoked_x_account(db: None, settings: Any, requests_mock: Mocker) -> SocialAccount:
    """An X account whose token was revoked: its poll got a 401 and disabled it."""
    settings.PLATFORM_CREDENTIALS = {"x": {"bearer_token": "revoked-bearer"}, "facebook": {}}
    account = SocialAccount.objects.create(platform="x", external_id=X_USER_ID, name="Northwind Help")
    requests_mock.get(
        MENTIONS_URL,
        json=fixture("x/unauthorized_401.json"),
        status_code=401,
        headers={"Content-Type": "application/json"},
    )
    do_poll_account(account.pk)
    account.refresh_from_db()
    assert not account.enabled
    return account


def test_a_delivery_for_an_account_whose_token_was_revoked_is_held_not_dropped(
    revoked_x_account: SocialAccount, queue: Queue
) -> None:
    body = fixture_bytes("x/account_activity_tweet_create.json")

    response = deliver_x(body)

    assert response.status_code == 200  # the platform must not retry: the delivery is safe with us
    assert response.json() == {"status": "ok", "stored": 0, "duplicates": 0, "held": 1}
    assert nothing_stored()
    held = HeldDelivery.objects.get()
    assert held.account == revoked_x_account
    assert (held.posts, held.deletions, held.processed_at) == (1, 0, None)
    assert held.body.encode("utf-8") == body


@pytest.mark.parametrize("name", ["facebook/webhook_feed_comment.json", "facebook/webhook_feed_comment_removed.json"])
def test_a_delivery_for_a_page_an_admin_disabled_is_held(db: None, queue: Queue, name: str) -> None:
    SocialAccount.objects.create(platform="facebook", external_id=PAGE_ID, name="Northwind", enabled=False)

    response = deliver_facebook(fixture_bytes(name))

    assert response.status_code == 200
    assert response.json()["held"] == 1
    assert nothing_stored()
    assert HeldDelivery.objects.count() == 1


def test_a_delivery_with_nothing_for_a_disabled_account_holds_nothing(db: None, queue: Queue) -> None:
    SocialAccount.objects.create(platform="facebook", external_id=PAGE_ID, name="Northwind", enabled=False)

    response = deliver_facebook(fixture_bytes("facebook/webhook_messenger_echo_and_read.json"))

    assert response.status_code == 200
    assert response.json()["held"] == 0
    assert not HeldDelivery.objects.exists()


def test_an_admin_sees_held_deliveries_and_processes_them_once_the_account_is_enabled(
    revoked_x_account: SocialAccount, queue: Queue, admin_user: Any
) -> None:
    deliver_x(fixture_bytes("x/account_activity_tweet_create.json"))
    deliver_x(fixture_bytes("x/account_activity_dm.json"))
    held = list(HeldDelivery.objects.values_list("pk", flat=True))
    client = admin_client(admin_user)

    listing = client.get(reverse(HELD_CHANGELIST))
    assert listing.status_code == 200
    assert "Northwind Help" in listing.content.decode()
    assert len(held) == 2

    still_disabled = run_action(client, HELD_CHANGELIST, "process_now", held)
    assert any("still disabled" in message for message in messages_of(still_disabled))
    assert nothing_stored()
    assert HeldDelivery.objects.filter(processed_at=None).count() == 2

    enabled = run_action(client, ACCOUNT_CHANGELIST, "enable", [revoked_x_account.pk])
    assert any("2 delivery(ies) received while disabled are held" in message for message in messages_of(enabled))

    processed = run_action(client, HELD_CHANGELIST, "process_now", held)
    assert any("2 delivery(ies) processed, 2 post(s) stored" in message for message in messages_of(processed))
    assert set(Message.objects.values_list("external_id", flat=True)) == {"1861000000000000201", "1861000000000000301"}
    assert set(Message.objects.values_list("account_id", flat=True)) == {revoked_x_account.pk}
    assert set(Conversation.objects.values_list("state", flat=True)) == {S.QUEUED}
    assert not HeldDelivery.objects.filter(processed_at=None).exists()

    again = run_action(client, HELD_CHANGELIST, "process_now", held)
    assert any("0 delivery(ies) processed" in message for message in messages_of(again))
    assert Message.objects.count() == 2


def test_a_delivery_for_several_pages_stores_the_enabled_ones_and_holds_the_disabled_ones(
    db: None, queue: Queue, admin_user: Any
) -> None:
    enabled = SocialAccount.objects.create(platform="facebook", external_id=PAGE_ID, name="Northwind")
    disabled = SocialAccount.objects.create(
        platform="facebook", external_id="502000000000777", name="Northwind Parcels", enabled=False
    )

    response = deliver_facebook(fixture_bytes("facebook/webhook_two_pages.json"))

    assert response.status_code == 200
    assert response.json()["stored"] == 2 and response.json()["held"] == 1
    assert set(Message.objects.values_list("account_id", flat=True)) == {enabled.pk}
    held = HeldDelivery.objects.get()
    assert held.account == disabled and held.posts == 1

    SocialAccount.objects.filter(pk=disabled.pk).update(enabled=True)
    run_action(admin_client(admin_user), HELD_CHANGELIST, "process_now", [held.pk])

    parcel = Message.objects.get(external_id="m_SecondPage000001_nw")
    assert parcel.account_id == disabled.pk
    assert Message.objects.count() == 3  # the enabled page's posts were not captured twice


def test_the_held_delivery_admin_pages_render(revoked_x_account: SocialAccount, admin_user: Any) -> None:
    payload = fixture("x/account_activity_tweet_create.json")
    deliver_x(json.dumps(payload).encode())
    held = HeldDelivery.objects.get()
    client = admin_client(admin_user)

    detail = client.get(reverse("admin:monitoring_helddelivery_change", args=[held.pk]))

    assert detail.status_code == 200
    assert "tweet_create_events" in detail.content.decode()
    assert client.get(reverse(HELD_CHANGELIST), {"state": "waiting"}).status_code == 200
    assert client.get(reverse("admin:monitoring_helddelivery_add")).status_code == 403
