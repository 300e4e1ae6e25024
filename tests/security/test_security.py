"""Security settings and the guards every request meets: deploy checks, headers, CSRF, login throttling."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token

from contactcenter.logsafety import RedactSecrets
from core.capture import do_capture_post

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "production-secret-key-for-the-deploy-check",
    "SITE_URL": "https://support.example.com",
    "ALLOWED_HOSTS": "support.example.com",
}


def _manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SITE_", "HTTPS", "SECURE_"))}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**clean, "DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- Production settings ------------------------------------------------------------------


def test_the_deploy_check_is_clean_with_production_settings(tmp_path: Path) -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_fails_for_a_plain_http_site(tmp_path: Path) -> None:
    env = {**PRODUCTION, "SITE_URL": "http://support.example.com"}

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W012" in result.stderr


def test_https_turns_on_secure_cookies_hsts_and_the_redirect(tmp_path: Path) -> None:
    names = [
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_REDIRECT_EXEMPT",
    ]
    code = "from django.conf import settings; import json; print(json.dumps({n: getattr(settings, n) for n in %r}))"

    result = _manage("shell", "-c", code % names, env=PRODUCTION, tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_REDIRECT_EXEMPT": ["^healthz$"],
    }


# --- Headers -------------------------------------------------------------------------------


def _policy(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/api/docs/", "/admin/login/"])
def test_every_page_forbids_inline_script_and_foreign_origins(path: str) -> None:
    response = Client().get(path)

    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert not any("unsafe" in value for value in policy["script-src"])
    if not path.startswith(("/admin/", "/api/docs/")):  # pages rendered by Django's admin and Swagger UI
        assert policy["style-src"] == ["'self'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_no_template_has_inline_script_or_event_handlers() -> None:
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text, flags=re.IGNORECASE):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{template.name}: {tag}")
        offenders += [f"{template.name}: {m}" for m in re.findall(r"\son[a-z]+\s*=", text, flags=re.IGNORECASE)]
        offenders += [f"{template.name}: javascript: URL" for _ in re.findall(r"javascript:", text, flags=re.I)]
    assert offenders == []


def test_every_post_form_in_the_templates_carries_the_csrf_token() -> None:
    missing = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        for form in re.findall(r"<form\b[^>]*>.*?</form>", text, flags=re.IGNORECASE | re.DOTALL):
            if re.search(r"method=\"post\"", form, flags=re.IGNORECASE) and "{% csrf_token %}" not in form:
                missing.append(f"{template.relative_to(TEMPLATES)}: {form[:80]}")
    assert missing == []


# --- CSRF ----------------------------------------------------------------------------------

CSRF_EXEMPT = {"webhook-facebook", "webhook-x"}
"""Signed by the platform (HMAC over the body), called by servers that hold no cookie."""


def _site_patterns() -> list[tuple[str, URLPattern]]:
    """The site's own URL patterns with their full paths: not the admin (Django's own CSRF), not the API (DRF's)."""

    def walk(entries: list[Any], prefix: str) -> list[tuple[str, URLPattern]]:
        found = []
        for entry in entries:
            path = prefix + str(entry.pattern)
            if path.lstrip("^").startswith(("api", "admin")):
                continue
            if isinstance(entry, URLResolver):
                found += walk(entry.url_patterns, path)
            else:
                found.append((path, entry))
        return found

    return walk(get_resolver().url_patterns, "")


def _sample_path(path: str) -> str:
    path = re.sub(r"<int:[^>]+>", "1", path)
    path = re.sub(r"<(?:str|slug):[^>]+>", "sample", path)
    return "/" + path


@pytest.mark.django_db
def test_every_post_outside_the_webhooks_needs_the_csrf_token(supervisor: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    refused, accepted = set(), set()

    for path, pattern in _site_patterns():
        response = client.post(_sample_path(path), {"text": "hello"})
        (refused if response.status_code == 403 and b"CSRF" in response.content else accepted).add(pattern.name)

    assert accepted == CSRF_EXEMPT
    assert {"reply", "resolve", "transfer", "escalate", "approve", "presence", "login", "csat-survey"} <= refused
    assert {"qa-review", "qa-sample-new", "qa-training-assign"} <= refused, "included URL confs count too"


@pytest.mark.django_db
def test_the_api_needs_the_csrf_token_with_a_session_but_not_with_a_token(
    supervisor: Any, make_post: Any, queue: Any
) -> None:
    conversation = do_capture_post(make_post()).conversation
    url = f"/api/v1/conversations/{conversation.pk}/escalate/"
    session = Client(enforce_csrf_checks=True)
    session.force_login(supervisor)

    assert session.post(url, {"reason": "legal"}, content_type="application/json").status_code == 403
    token = Token.objects.create(user=supervisor)
    integration = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert integration.post(url, {"reason": "legal"}, content_type="application/json").status_code == 200


# --- Login throttling ------------------------------------------------------------------------


def _log_in(client: Client, username: str, password: str) -> Any:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR="203.0.113.7")


@pytest.mark.django_db
def test_repeated_wrong_passwords_lock_the_username_out_for_a_while(agent: Any, supervisor: Any) -> None:
    client = Client()
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert _log_in(client, "ana", "wrong").status_code == 200  # the form again, with its error

    locked = _log_in(client, "ana", "wrong")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert _log_in(client, "ana", "pw-ana-12345").status_code == 429, "even the right password, while locked"
    assert _log_in(Client(), "sofia", "pw-sofia-12345").status_code == 302, "other users are not affected"

    with time_machine.travel(timezone.now() + django_settings.AXES_COOLOFF_TIME + timedelta(seconds=1)):
        assert _log_in(Client(), "ana", "pw-ana-12345").status_code == 302


@pytest.mark.django_db
def test_a_successful_login_forgets_earlier_failures(agent: Any) -> None:
    client = Client()
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        _log_in(client, "ana", "wrong")
    assert _log_in(client, "ana", "pw-ana-12345").status_code == 302

    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert _log_in(Client(), "ana", "wrong").status_code == 200


@pytest.mark.django_db
def test_the_admin_login_is_throttled_too(admin_user: Any) -> None:
    client = Client()
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "ada", "password": "wrong"}, REMOTE_ADDR="203.0.113.7")

    response = client.post("/admin/login/", {"username": "ada", "password": "pw-ada-12345"}, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 429


# --- Credentials in logs ---------------------------------------------------------------------


def test_the_log_handler_blanks_anything_shaped_like_a_credential() -> None:
    # The handler settings.LOGGING installs (pytest adds its own beside it).
    (handler,) = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecrets) for f in h.filters)]
    stream = io.StringIO()
    record = logging.LogRecord(
        "somelib",
        logging.WARNING,
        __file__,
        1,
        "call failed: %s %s",
        ("headers={'Authorization': 'Bearer AAAAbearer-token-123'}", "GET /v21.0/me?fields=id&access_token=EAAGtoken"),
        None,
    )
    formatter = handler.formatter or logging.Formatter()
    assert all(f.filter(record) for f in handler.filters)
    stream.write(formatter.format(record))

    text = stream.getvalue()
    assert "AAAAbearer-token-123" not in text and "EAAGtoken" not in text
    # Every query value goes, the keys stay (docs/operations.md, Security).
    assert "Bearer [redacted]" in text and "?fields=[redacted]&access_token=[redacted]" in text


def test_libraries_that_log_credentials_stay_at_info_even_when_debugging(tmp_path: Path) -> None:
    code = "import logging, json; print(json.dumps([logging.getLogger(n).level for n in ('tweepy', 'urllib3')]))"

    result = _manage("shell", "-c", code, env={"LOG_LEVEL": "DEBUG"}, tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [logging.INFO, logging.INFO]
