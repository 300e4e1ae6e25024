"""The login lockout holds against a forged X-Forwarded-For.

Probe finding: uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default, so behind nothing (or a
client on the same machine) the address django-axes locks out was whatever the client claimed, a new
one per attempt. The server started the way ``manage.py serve`` starts it (``make run``, the Docker
image) now reads no forwarding header unless ``TRUSTED_PROXIES`` names the proxy it comes through.
Lockout (settings): ``LOGIN_FAILURE_LIMIT`` wrong passwords for one username from one address lock that
pair out, with HTTP 429.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured

from contactcenter.env import Env
from tests.served import Served, post_login, served

# The web server's own behaviour (HTTP framing, headers, logging) is the same on either engine:
# run once, on the embedded default, to keep CI's two passes within their time.
pytestmark = pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="engine-independent: run on SQLite only")

LIMIT = 5
USERS = {"ana": "pw-ana-12345", "ben": "pw-ben-12345", "cleo": "pw-cleo-12345"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("xff"), users=USERS, settings={"LOGIN_FAILURE_LIMIT": str(LIMIT)}) as running:
        yield running


@pytest.fixture(scope="module")
def behind_a_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The server told that 127.0.0.1 is its reverse proxy (the test plays the proxy)."""
    settings = {"LOGIN_FAILURE_LIMIT": str(LIMIT), "TRUSTED_PROXIES": "127.0.0.1"}
    with served(tmp_path_factory.mktemp("xff-proxy"), users=USERS, settings=settings) as running:
        yield running


def test_wrong_passwords_from_a_new_forwarded_address_each_time_still_lock_the_account_out(server: Served) -> None:
    statuses = [
        post_login(server.url, "ana", "wrong", {"X-Forwarded-For": f"198.51.100.{attempt}"}).status_code
        for attempt in range(1, 13)
    ]

    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with its error
    assert statuses[LIMIT:] == [429] * (12 - LIMIT)


def test_a_locked_out_user_cannot_log_in_by_adding_x_forwarded_for(server: Served) -> None:
    for _ in range(LIMIT):
        post_login(server.url, "ben", "wrong")

    response = post_login(server.url, "ben", USERS["ben"], {"X-Forwarded-For": "203.0.113.50"})

    assert response.status_code == 429 and "locked" in response.text.lower()


def test_behind_a_trusted_proxy_the_address_the_proxy_appends_is_the_one_locked_out(behind_a_proxy: Served) -> None:
    # The proxy appends the address it saw; whatever the client wrote before that is not believed.
    for attempt in range(1, 13):
        forged = f"198.51.100.{attempt}, 203.0.113.7"
        post_login(behind_a_proxy.url, "cleo", "wrong", {"X-Forwarded-For": forged})

    locked = post_login(behind_a_proxy.url, "cleo", USERS["cleo"], {"X-Forwarded-For": "192.0.2.1, 203.0.113.7"})
    elsewhere = post_login(behind_a_proxy.url, "cleo", USERS["cleo"], {"X-Forwarded-For": "203.0.113.8"})

    assert locked.status_code == 429
    assert elsewhere.status_code == 302  # another client of the proxy: a different address, not locked out


def test_trusted_proxies_are_ip_addresses_or_networks() -> None:
    assert Env({}).networks("TRUSTED_PROXIES") == []
    assert Env({"TRUSTED_PROXIES": "10.0.0.5, 172.16.0.0/12,::1"}).networks("TRUSTED_PROXIES") == [
        "10.0.0.5/32",
        "172.16.0.0/12",
        "::1/128",
    ]
    with pytest.raises(ImproperlyConfigured, match=r"'proxy\.local', which is not an IP address or network"):
        Env({"TRUSTED_PROXIES": "10.0.0.5,proxy.local"}).networks("TRUSTED_PROXIES")
    with pytest.raises(ImproperlyConfigured, match="would trust every client"):
        Env({"TRUSTED_PROXIES": "*"}).networks("TRUSTED_PROXIES")
