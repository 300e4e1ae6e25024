"""Registering social accounts: the command, the admin's write-only credentials, and what is refused."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from monitoring.admin import SECRET_FIELDS
from monitoring.credentials import encrypt, stored_credentials
from monitoring.models import FilterRule, ListeningQuery, SocialAccount

X_SECRETS = {
    "bearer_token": "AAAA-bearer-7f3c9e1d",
    "consumer_key": "ck-51e0b2aa",
    "consumer_secret": "cs-9d8c7b6a5f",
    "access_token": "4400100-at-0c1d2e3f",
    "access_token_secret": "ats-a1b2c3d4e5",
}
FERNET_PREFIX = "gAAAAA"  # every Fernet token starts so: no ciphertext may reach a page


@pytest.fixture(autouse=True)
def _no_credentials_in_environment(settings: Any) -> None:
    settings.PLATFORM_CREDENTIALS = {"x": {}, "facebook": {}, "sandbox": {}}


@pytest.fixture
def client(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def x_account(db: None) -> SocialAccount:
    return SocialAccount.objects.create(
        platform="x", external_id="4400100", name="Northwind Help", credentials_encrypted=encrypt(X_SECRETS)
    )


def account_form(**fields: str) -> dict[str, str]:
    """The admin form as a browser posts it: every credential input blank unless given."""
    return {
        "platform": "x",
        "external_id": "4400100",
        "name": "Northwind Help",
        "handle": "@northwind",
        "enabled": "on",
        "poll_interval_seconds": "60",
        **dict.fromkeys(SECRET_FIELDS, ""),
        "listening_queries-TOTAL_FORMS": "0",
        "listening_queries-INITIAL_FORMS": "0",
        "listening_queries-MIN_NUM_FORMS": "0",
        "listening_queries-MAX_NUM_FORMS": "1000",
        **fields,
    }


def change_url(account: SocialAccount) -> str:
    return reverse("admin:monitoring_socialaccount_change", args=[account.pk])


def assert_no_secret_in(page: str, account: SocialAccount) -> None:
    for value in X_SECRETS.values():
        assert value not in page
    assert FERNET_PREFIX not in page
    if account.credentials_encrypted:
        assert account.credentials_encrypted not in page


# --- The command ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_registers_an_account_once() -> None:
    out = StringIO()
    call_command("add_social_account", "x", "4400100", "--name", "Northwind Help", "--handle", "@northwind", stdout=out)
    account = SocialAccount.objects.get()
    assert (account.platform, account.external_id, account.name, account.handle) == (
        "x",
        "4400100",
        "Northwind Help",
        "@northwind",
    )
    assert account.enabled and account.poll_interval_seconds == 60 and account.credentials_encrypted == ""
    assert f"Registered X: Northwind Help (id {account.pk})." in out.getvalue()
    assert "No polling credentials: the account is not polled" in out.getvalue()

    again = StringIO()
    call_command("add_social_account", "x", "4400100", "--name", "Another Name", "--interval", "300", stdout=again)
    assert "already registered" in again.getvalue() and "nothing changed" in again.getvalue()
    assert SocialAccount.objects.get() == account
    unchanged = SocialAccount.objects.get()
    assert (unchanged.name, unchanged.poll_interval_seconds) == ("Northwind Help", 60)


@pytest.mark.django_db
def test_the_command_names_the_environments_credentials_without_their_values(settings: Any) -> None:
    settings.PLATFORM_CREDENTIALS = {"x": {"bearer_token": X_SECRETS["bearer_token"]}, "facebook": {}}
    out = StringIO()
    call_command("add_social_account", "x", "4400100", "--name", "Northwind Help", stdout=out)
    assert "Credentials from the environment: bearer_token." in out.getvalue()
    assert X_SECRETS["bearer_token"] not in out.getvalue()


@pytest.mark.django_db
def test_the_command_refuses_a_handle_where_the_numeric_id_belongs() -> None:
    with pytest.raises(CommandError, match="'northwind' is not a platform id: use the numeric X user id"):
        call_command("add_social_account", "x", "northwind", "--name", "Northwind Help", stdout=StringIO())
    assert not SocialAccount.objects.exists()


@pytest.mark.django_db
def test_the_command_refuses_an_unknown_platform() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'myspace'"):
        call_command("add_social_account", "myspace", "4400100", "--name", "Northwind Help", stdout=StringIO())
    assert not SocialAccount.objects.exists()


@pytest.mark.django_db
def test_the_command_refuses_a_poll_interval_out_of_range() -> None:
    with pytest.raises(CommandError, match="--interval must be between 5 and 86400 seconds"):
        call_command("add_social_account", "x", "4400100", "--name", "Northwind Help", "--interval", "1")
    assert not SocialAccount.objects.exists()


# --- The admin --------------------------------------------------------------------------------


def test_credentials_added_in_the_admin_are_stored_encrypted(client: Client) -> None:
    response = client.post(reverse("admin:monitoring_socialaccount_add"), account_form(**X_SECRETS))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    account = SocialAccount.objects.get()
    (column,) = SocialAccount.objects.values_list("credentials_encrypted", flat=True)
    assert column.startswith(FERNET_PREFIX)
    for value in X_SECRETS.values():
        assert value not in column
    assert stored_credentials(account) == X_SECRETS


def test_the_change_page_says_which_credentials_are_set_but_shows_none(
    client: Client, x_account: SocialAccount
) -> None:
    page = client.get(change_url(x_account)).content.decode()
    assert "stored: access_token, access_token_secret, bearer_token, consumer_key, consumer_secret" in page
    assert 'name="bearer_token"' in page, "the inputs are there, to replace a value"
    assert_no_secret_in(page, x_account)


def test_blank_credential_inputs_keep_what_is_stored(client: Client, x_account: SocialAccount) -> None:
    response = client.post(change_url(x_account), account_form(name="Northwind Support"))
    assert response.status_code == 302
    x_account.refresh_from_db()
    assert x_account.name == "Northwind Support"
    assert stored_credentials(x_account) == X_SECRETS


def test_a_credential_entered_replaces_only_that_one(client: Client, x_account: SocialAccount) -> None:
    response = client.post(change_url(x_account), account_form(bearer_token="AAAA-bearer-rotated"))
    assert response.status_code == 302
    x_account.refresh_from_db()
    assert stored_credentials(x_account) == {**X_SECRETS, "bearer_token": "AAAA-bearer-rotated"}


def test_clear_credentials_forgets_every_stored_one(client: Client, x_account: SocialAccount) -> None:
    response = client.post(change_url(x_account), account_form(clear_credentials="on"))
    assert response.status_code == 302
    x_account.refresh_from_db()
    assert x_account.credentials_encrypted == "" and stored_credentials(x_account) == {}
    assert "Credentials" in (page := client.get(change_url(x_account)).content.decode())
    assert "stored:" not in page


def test_a_credential_of_another_platform_is_refused(client: Client, x_account: SocialAccount) -> None:
    response = client.post(
        change_url(x_account), account_form(page_access_token="EAAB-page-token", bearer_token="AAAA-bearer-rotated")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["page_access_token"] == ["Not a credential of x."]
    page = response.content.decode()
    assert "EAAB-page-token" not in page and "AAAA-bearer-rotated" not in page, "typed secrets are not echoed"
    x_account.refresh_from_db()
    assert stored_credentials(x_account) == X_SECRETS


def test_the_changelist_shows_the_last_error_and_no_credentials(client: Client, x_account: SocialAccount) -> None:
    SocialAccount.objects.filter(pk=x_account.pk).update(last_error="401 Unauthorized: the token was revoked")
    page = client.get(reverse("admin:monitoring_socialaccount_changelist")).content.decode()
    assert "Northwind Help" in page and "401 Unauthorized: the token was revoked" in page
    assert_no_secret_in(page, x_account)


def test_the_history_names_changed_credentials_without_their_values(client: Client, x_account: SocialAccount) -> None:
    client.post(change_url(x_account), account_form(bearer_token="AAAA-bearer-rotated"))
    page = client.get(reverse("admin:monitoring_socialaccount_history", args=[x_account.pk])).content.decode()
    assert "AAAA-bearer-rotated" not in page
    x_account.refresh_from_db()
    assert_no_secret_in(page, x_account)


# --- Validation of what is listened to ------------------------------------------------------------


@pytest.mark.django_db
def test_a_listening_query_on_a_facebook_page_is_refused() -> None:
    page = SocialAccount.objects.create(platform="facebook", external_id="112233445566", name="Northwind Page")
    query = ListeningQuery(account=page, name="Outages", keywords=["outage"])
    with pytest.raises(ValidationError) as refused:
        query.full_clean()
    assert refused.value.message_dict == {"account": ["Facebook offers no keyword search; listen on an X account."]}


@pytest.mark.django_db
def test_a_listening_query_without_terms_is_refused(x_account: SocialAccount) -> None:
    query = ListeningQuery(account=x_account, name="Everything", exclusions=["giveaway"])
    with pytest.raises(ValidationError) as refused:
        query.full_clean()
    assert refused.value.message_dict == {
        NON_FIELD_ERRORS: ["A listening query needs at least one keyword, hashtag or phrase."]
    }
    ListeningQuery(account=x_account, name="Outages", hashtags=["northwinddown"]).full_clean()


@pytest.mark.django_db
def test_a_filter_rule_with_an_invalid_regex_is_refused() -> None:
    rule = FilterRule(name="crypto spam", pattern="(crypto|airdrop", is_regex=True)
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    (message,) = refused.value.message_dict["pattern"]
    assert message.startswith("Not a valid regular expression: missing ), unterminated subpattern")
    FilterRule(name="crypto spam", pattern="(crypto|airdrop", is_regex=False).full_clean()
