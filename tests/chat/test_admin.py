"""The chat channel admin: origins and colours checked, a write-only secret, the queue kept as a routing rule."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from chat.colours import contrast_ratio
from chat.models import ChatChannel
from monitoring.credentials import stored_credentials
from routing.models import Queue, RoutingRule

pytestmark = pytest.mark.django_db

ADD = "/admin/chat/chatchannel/add/"


@pytest.fixture
def admin_client(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def fields(**changes: str) -> dict[str, str]:
    return {
        "key": "help",
        "name": "Agency help",
        "enabled": "on",
        "allowed_origins": "https://www.agency.example",
        "greeting": "Hello!",
        "offline_text": "Leave a message.",
        "business_hours_text": "",
        "primary_colour": "#0B5394",
        "text_colour": "#ffffff",
        "prechat_name": "optional",
        "prechat_email": "optional",
        "prechat_topic": "off",
        "topics": "",
        "max_wait_seconds": "300",
        "mailbox": "",
        "queue": "",
        "identity_secret": "",
    } | changes


def test_a_channel_is_saved_with_its_account_a_generated_secret_and_its_queue_rule(
    admin_client: Client, queue: Queue
) -> None:
    response = admin_client.post(ADD, fields(queue=str(queue.pk)))
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = ChatChannel.objects.select_related("account").get(key="help")
    assert (channel.account.platform, channel.account.external_id) == ("chat", "help")
    assert channel.primary_colour == "#0b5394"
    secret = stored_credentials(channel.account)["identity_secret"]
    assert len(secret) >= 32  # generated: none was typed
    shown = admin_client.get(response["Location"]).content.decode()
    assert secret in shown  # once, to the admin who saved it
    assert secret not in admin_client.get(f"/admin/chat/chatchannel/{channel.pk}/change/").content.decode()
    rule = RoutingRule.objects.get(account=channel.account)
    assert rule.queue == queue


def test_the_secret_is_write_only_kept_when_left_blank_and_regenerated_on_request(
    admin_client: Client, queue: Queue
) -> None:
    admin_client.post(ADD, fields(identity_secret="my-own-secret-of-length"))
    channel = ChatChannel.objects.get(key="help")
    assert stored_credentials(channel.account)["identity_secret"] == "my-own-secret-of-length"
    page = admin_client.get(f"/admin/chat/chatchannel/{channel.pk}/change/").content.decode()
    assert "my-own-secret-of-length" not in page
    assert "stored: identity_secret" in page

    admin_client.post(f"/admin/chat/chatchannel/{channel.pk}/change/", fields(greeting="Hi!"))
    channel.account.refresh_from_db()
    assert stored_credentials(channel.account)["identity_secret"] == "my-own-secret-of-length"

    admin_client.post(f"/admin/chat/chatchannel/{channel.pk}/change/", fields(identity_secret="generate"))
    channel.account.refresh_from_db()
    new = stored_credentials(channel.account)["identity_secret"]
    assert new not in ("my-own-secret-of-length", "generate") and len(new) >= 32


def test_a_short_secret_is_refused(admin_client: Client) -> None:
    response = admin_client.post(ADD, fields(identity_secret="short"))
    assert response.status_code == 200
    assert "at least 16 characters" in response.content.decode()
    assert not ChatChannel.objects.exists()


@pytest.mark.parametrize(
    "line",
    [
        "www.agency.example",
        "https://www.agency.example/contact",
        "ftp://agency.example",
        "https://",
        "https://a.example:99999",
    ],
)
def test_an_origin_that_is_not_scheme_host_port_is_refused(admin_client: Client, line: str) -> None:
    response = admin_client.post(ADD, fields(allowed_origins=f"https://ok.example\n{line}"))
    assert response.status_code == 200
    assert "origin" in response.content.decode()
    assert not ChatChannel.objects.exists()


def test_origins_are_normalised(admin_client: Client) -> None:
    admin_client.post(
        ADD, fields(allowed_origins="HTTPS://WWW.Agency.example/\n\nhttp://localhost:8000\nhttps://www.agency.example")
    )
    channel = ChatChannel.objects.get(key="help")
    assert channel.origins() == ["https://www.agency.example", "http://localhost:8000"]


def test_colours_without_aa_contrast_are_refused_with_the_ratio(admin_client: Client) -> None:
    response = admin_client.post(ADD, fields(primary_colour="#ffcc00", text_colour="#ffffff"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "WCAG AA" in page and "4.5:1" in page
    assert not ChatChannel.objects.exists()


def test_a_colour_must_be_hex(admin_client: Client) -> None:
    response = admin_client.post(ADD, fields(primary_colour="blue"))
    assert "six hex digits" in response.content.decode()


def test_contrast_ratios_match_wcag() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
