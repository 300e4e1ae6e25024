"""Configuration from the environment: good values read, bad ones stop start-up with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from contactcenter.env import Env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"), [("1", True), ("TRUE", True), ("yes", True), ("off", False), ("0", False)]
)
def test_booleans_accept_the_usual_words(text: str, expected: bool) -> None:
    assert Env({"DEBUG": text}).flag("DEBUG", not expected) is expected


def test_an_unset_or_empty_variable_takes_the_default() -> None:
    assert Env({}).flag("DEBUG", True) is True
    assert Env({"DEBUG": ""}).flag("DEBUG", False) is False


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.flag("DEBUG", False), "DEBUG='maybe' is not a boolean"),
        (lambda e: e.integer("DEBUG", 1), "DEBUG='maybe' is not a whole number"),
        (lambda e: e.number("DEBUG", 1.0), "DEBUG='maybe' is not a number"),
        (lambda e: e.time_zone("DEBUG", "UTC"), "DEBUG='maybe' is not an IANA time zone"),
        (lambda e: e.choice("DEBUG", "a", ("a", "b")), "DEBUG='maybe' must be one of a, b"),
    ],
)
def test_malformed_values_are_refused_naming_the_variable(call: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        call(Env({"DEBUG": "maybe"}))  # type: ignore[operator]


def test_integers_are_range_checked() -> None:
    env = Env({"N": "-3", "M": "70000"})
    with pytest.raises(ImproperlyConfigured, match="N=-3 is below the minimum of 0"):
        env.integer("N", 1, minimum=0)
    with pytest.raises(ImproperlyConfigured, match="M=70000 is above the maximum of 60000"):
        env.integer("M", 1, maximum=60_000)
    assert Env({"N": " 42 "}).integer("N", 1, minimum=0) == 42


def test_lists_refuse_empty_items() -> None:
    assert Env({"HOSTS": "a.example, b.example"}).items("HOSTS", []) == ["a.example", "b.example"]
    with pytest.raises(ImproperlyConfigured, match="has an empty item"):
        Env({"HOSTS": "a.example,,b.example"}).items("HOSTS", [])


def test_urls_must_have_an_allowed_scheme_and_a_host_and_hide_passwords() -> None:
    env = Env({"DATABASE_URL": "mysql://root:hunter2@db/app", "REDIS_URL": "redis://:6379"})
    with pytest.raises(ImproperlyConfigured, match="must start with postgres://") as error:
        env.url("DATABASE_URL", ("postgres",))
    assert "hunter2" not in str(error.value)
    with pytest.raises(ImproperlyConfigured, match="has no host"):
        env.url("REDIS_URL", ("redis",))
    with pytest.raises(ImproperlyConfigured, match="invalid port"):
        Env({"REDIS_URL": "redis://localhost:notaport/0"}).url("REDIS_URL", ("redis",))
    assert Env({}).url("REDIS_URL", ("redis",)) is None


def test_secrets_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    assert Env({"SECRET_KEY_FILE": str(secret)}).text("SECRET_KEY", "x") == "from-a-file"
    with pytest.raises(ImproperlyConfigured, match="not both"):
        Env({"SECRET_KEY": "a", "SECRET_KEY_FILE": str(secret)}).text("SECRET_KEY", "x")
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        Env({"SECRET_KEY_FILE": str(tmp_path / "missing")}).text("SECRET_KEY", "x")


def _start(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environ.update({"DATA_DIR": str(tmp_path), **variables})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DATABASE_URL": "mysql://db/app"}, "DATABASE_URL must start with postgres://"),
        ({"REDIS_URL": "http://cache"}, "REDIS_URL must start with redis://"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE='Mars/Olympus' is not an IANA time zone"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 32 characters"),
        ({"SANDBOX_POSTS_PER_MINUTE": "lots"}, "SANDBOX_POSTS_PER_MINUTE='lots' is not a whole number"),
        ({"ALLOWED_HOSTS": "a,"}, "ALLOWED_HOSTS='a,' has an empty item"),
        ({"SHORT_ABANDON_SECONDS": "-5"}, "SHORT_ABANDON_SECONDS=-5.0 is below the minimum of 0.0"),
        ({"SERVICE_LEVEL_ABANDONS": "sometimes"}, "SERVICE_LEVEL_ABANDONS='sometimes' must be one of ignored, met"),
        ({"FCR_WINDOW_HOURS": "9000"}, "FCR_WINDOW_HOURS=9000.0 is above the maximum of 8784"),
        ({"WEB_THREADS": "0"}, "WEB_THREADS=0 is below the minimum of 1"),
        ({"DATABASE_URL": "postgres://db/app", "DATABASE_POOL_SIZE": "-1"}, "DATABASE_POOL_SIZE=-1 is below"),
    ],
)
def test_start_up_stops_with_a_clear_message_on_bad_configuration(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    result = _start(tmp_path, **variables)
    assert result.returncode != 0
    assert message in result.stderr


def test_start_up_succeeds_on_the_embedded_default(tmp_path: Path) -> None:
    result = _start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").exists(), "a secret key is generated once and kept"
