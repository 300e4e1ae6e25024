"""Mailboxes in the admin: the servers, write-only passwords, the queue their mail goes to."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from monitoring.credentials import stored_credentials
from monitoring.models import Mailbox, SocialAccount
from routing.models import Queue, RoutingRule

IMAP_PASSWORD = "imap-pw-7c1e93"
SMTP_PASSWORD = "smtp-pw-20ab5f"


@pytest.fixture
def client(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def mailbox_form(**fields: str) -> dict[str, str]:
    return {
        "address": "Help@Agency.example",
        "name": "help",
        "from_name": "Agency Help",
        "enabled": "on",
        "signature": "",
        "imap_host": "imap.agency.example",
        "imap_port": "993",
        "imap_security": "ssl",
        "imap_user": "",
        "imap_password": IMAP_PASSWORD,
        "imap_folder": "INBOX",
        "sent_folder": "Sent",
        "smtp_host": "smtp.agency.example",
        "smtp_port": "587",
        "smtp_security": "starttls",
        "smtp_user": "help",
        "smtp_password": SMTP_PASSWORD,
        "message_id_domain": "",
        "poll_interval_seconds": "60",
        "queue": "",
        **fields,
    }


@pytest.mark.django_db
def test_a_mailbox_made_in_the_admin_is_a_capture_source_with_encrypted_passwords(client: Client, queue: Queue) -> None:
    response = client.post(reverse("admin:monitoring_mailbox_add"), mailbox_form(queue=str(queue.pk)))
    assert response.status_code == 302, response.content.decode()[:2000]
    mailbox = Mailbox.objects.select_related("account").get()
    assert mailbox.address == "help@agency.example"
    account = mailbox.account
    assert (account.platform, account.external_id, account.name) == ("email", "help@agency.example", "help")
    assert stored_credentials(account) == {"imap_password": IMAP_PASSWORD, "smtp_password": SMTP_PASSWORD}
    assert IMAP_PASSWORD not in account.credentials_encrypted
    assert RoutingRule.objects.get(account=account).queue == queue
    settings = account.connection_settings()
    assert settings["imap_user"] == "help@agency.example" and settings["message_id_domain"] == "agency.example"

    page = client.get(reverse("admin:monitoring_mailbox_change", args=[mailbox.pk])).content.decode()
    assert IMAP_PASSWORD not in page and SMTP_PASSWORD not in page and account.credentials_encrypted not in page
    assert "imap_password, smtp_password" in page


@pytest.mark.django_db
def test_saving_with_blank_passwords_keeps_them_and_clearing_the_queue_drops_its_rule(
    client: Client, queue: Queue
) -> None:
    client.post(reverse("admin:monitoring_mailbox_add"), mailbox_form(queue=str(queue.pk)))
    mailbox = Mailbox.objects.get()
    response = client.post(
        reverse("admin:monitoring_mailbox_change", args=[mailbox.pk]),
        mailbox_form(imap_password="", smtp_password="", imap_port="143", imap_security="starttls"),
    )
    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.imap_port == 143
    assert stored_credentials(mailbox.account) == {"imap_password": IMAP_PASSWORD, "smtp_password": SMTP_PASSWORD}
    assert not RoutingRule.objects.exists()


@pytest.mark.django_db
def test_bad_settings_are_refused_with_the_field_named(client: Client) -> None:
    response = client.post(
        reverse("admin:monitoring_mailbox_add"), mailbox_form(address="not-an-address", smtp_host="", imap_port="99999")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) >= {"address", "imap_port"}
    assert "smtp_host" not in errors  # no SMTP host: the site's email backend sends
    assert not SocialAccount.objects.exists()


@pytest.mark.django_db
def test_two_mailboxes_cannot_share_an_address(client: Client) -> None:
    client.post(reverse("admin:monitoring_mailbox_add"), mailbox_form())
    response = client.post(reverse("admin:monitoring_mailbox_add"), mailbox_form(name="other"))
    assert response.status_code == 200
    assert "address" in response.context["adminform"].form.errors
    assert Mailbox.objects.count() == 1


@pytest.mark.django_db
def test_mailboxes_are_not_listed_or_made_among_social_accounts(client: Client) -> None:
    client.post(reverse("admin:monitoring_mailbox_add"), mailbox_form())
    listed = client.get(reverse("admin:monitoring_socialaccount_changelist")).context["cl"].result_list
    assert SocialAccount.objects.filter(platform="email").exists()
    assert not [account for account in listed if account.platform == "email"]
    add = client.get(reverse("admin:monitoring_socialaccount_add")).content.decode()
    assert 'value="email"' not in add


@pytest.mark.django_db
def test_deleting_a_mailbox_removes_its_capture_source(client: Client) -> None:
    client.post(reverse("admin:monitoring_mailbox_add"), mailbox_form())
    mailbox = Mailbox.objects.get()
    response = client.post(reverse("admin:monitoring_mailbox_delete", args=[mailbox.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Mailbox.objects.exists() and not SocialAccount.objects.exists()
