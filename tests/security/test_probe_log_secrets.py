"""No secret and no customer text from a query string in any log line.

Probe findings: uvicorn's access log wrote ``hub.verify_token=<FACEBOOK_VERIFY_TOKEN>`` on every Meta
handshake, and ``access_token=`` and ``oauth_signature=`` unredacted (the redacting filter did not
cover uvicorn's loggers). Rule: every logger writes through the one handler whose filter replaces each
query string's values, keys kept (``?hub.verify_token=[redacted]&hub.challenge=[redacted]``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator

import pytest
import requests

from contactcenter.logsafety import RedactSecrets
from tests.served import Served, served

# The web server's own behaviour (HTTP framing, headers, logging) is the same on either engine:
# run once, on the embedded default, to keep CI's two passes within their time.
pytestmark = pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="engine-independent: run on SQLite only")

VERIFY_TOKEN = "verify-4f1d9c0b7e2a"
CHALLENGE = "challenge-1158201444"
SECRETS = {
    "access_token": "EAAGsecret0access0token",
    "oauth_signature": "c2lnbmF0dXJlLXNlY3JldA",
    "appsecret_proof": "d0e1proof77",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("logs"), settings={"FACEBOOK_VERIFY_TOKEN": VERIFY_TOKEN}) as running:
        yield running


@pytest.fixture(scope="module")
def uvicorn_command_line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """uvicorn started by its own command line (as bench load does), with its own logging configuration."""
    command = [sys.executable, "-m", "uvicorn", "contactcenter.asgi:application", "--port", "{port}"]
    with served(tmp_path_factory.mktemp("logs-cli"), command=command) as running:
        yield running


def _query(secrets: dict[str, str]) -> str:
    return "&".join(f"{key}={value}" for key, value in secrets.items())


def test_the_meta_handshake_logs_neither_the_verify_token_nor_the_challenge(server: Served) -> None:
    response = requests.get(
        f"{server.url}/webhooks/facebook/",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": CHALLENGE},
        timeout=5,
    )
    assert response.status_code == 200 and response.text == CHALLENGE

    log = server.wait_for_log('"GET /webhooks/facebook/?hub.mode=[redacted]&hub.verify_token=[redacted]')

    assert VERIFY_TOKEN not in log and CHALLENGE not in log


def test_access_tokens_and_oauth_signatures_in_a_query_string_are_not_logged(server: Served) -> None:
    assert requests.get(f"{server.url}/healthz?{_query(SECRETS)}", timeout=5).status_code == 200
    assert requests.get(f"{server.url}/nowhere/?{_query(SECRETS)}", timeout=5).status_code == 404

    log = server.wait_for_log("/nowhere/?access_token=[redacted]&oauth_signature=[redacted]")

    assert "/healthz?access_token=[redacted]&oauth_signature=[redacted]&appsecret_proof=[redacted]" in log
    assert not [value for value in SECRETS.values() if value in log]


def test_uvicorn_started_by_its_own_command_line_logs_through_the_redacting_filter(
    uvicorn_command_line: Served,
) -> None:
    url = f"{uvicorn_command_line.url}/webhooks/x/?crc_token=crc-secret-55&{_query(SECRETS)}"
    requests.get(url, timeout=5)

    log = uvicorn_command_line.wait_for_log("/webhooks/x/?crc_token=[redacted]&access_token=[redacted]")

    assert "crc-secret-55" not in log
    assert not [value for value in SECRETS.values() if value in log]


def test_a_traceback_naming_a_url_with_a_token_is_logged_without_it() -> None:
    # The handler settings.LOGGING installs (pytest adds its own beside it).
    (handler,) = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecrets) for f in h.filters)]
    try:
        raise ConnectionError("GET https://graph.facebook.com/v21.0/me?access_token=EAAGin-a-traceback failed")
    except ConnectionError:
        record = logging.LogRecord("somelib", logging.ERROR, __file__, 1, "call failed", None, sys.exc_info())

    assert all(f.filter(record) for f in handler.filters)
    text = (handler.formatter or logging.Formatter()).format(record)

    assert "EAAGin-a-traceback" not in text
    assert "ConnectionError: GET https://graph.facebook.com/v21.0/me?access_token=[redacted] failed" in text
