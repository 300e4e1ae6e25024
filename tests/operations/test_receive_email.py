"""``manage.py receive_email <mailbox> < message.eml``: the exit codes a mail server's pipe transport acts on.

The requirement (issue 19): exit 0 when stored or already stored, 65 when the message cannot be parsed, 75 when
the database is unreachable (so that the mail server keeps the mail and tries again); and (sysexits.h, as
Postfix and Exim read it) 67 for a mailbox that does not exist.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from core.models import Message
from monitoring.models import Mailbox, SocialAccount
from routing.models import Queue, SLAPolicy

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = (
    b"From: Carla Ruiz <carla@customer.example>\r\n"
    b"To: help@northwind.example\r\n"
    b"Subject: My router blinks red\r\n"
    b"Message-ID: <pipe.1@customer.example>\r\n"
    b"Date: Fri, 20 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"Since this morning the light is red.\r\n"
)


@pytest.fixture
def mailbox(db: None) -> Mailbox:
    policy = SLAPolicy.objects.create(name="Standard", first_response_seconds=3600, next_response_seconds=1800)
    Queue.objects.create(name="General", is_default=True, sla_policy=policy)
    account = SocialAccount.objects.create(platform="email", external_id="help@northwind.example", name="Help")
    return Mailbox.objects.create(account=account, address="help@northwind.example")


def deliver(monkeypatch: pytest.MonkeyPatch, mailbox: str, raw: bytes) -> int:
    """Run the command as the mail server would, with ``raw`` on standard input; its exit code."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    try:
        call_command("receive_email", mailbox, stdout=io.StringIO())
    except CommandError as error:
        return error.returncode
    return 0


def test_a_message_is_stored_with_exit_0_and_delivering_it_again_is_exit_0_storing_nothing(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert deliver(monkeypatch, "help@northwind.example", MESSAGE) == 0
    assert deliver(monkeypatch, "Help", MESSAGE) == 0  # by the account's name this time

    (message,) = Message.objects.all()
    assert message.account_id == mailbox.account_id
    assert message.conversation is not None and message.conversation.subject == "My router blinks red"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"no header block here, only a line of text\r\n",
        b"Subject: a header, but nobody sent it\r\n\r\nWho wrote this?\r\n",
    ],
    ids=["empty", "no-headers", "no-from"],
)
def test_a_message_that_cannot_be_parsed_is_exit_65_and_stores_nothing(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, raw: bytes
) -> None:
    assert deliver(monkeypatch, "help@northwind.example", raw) == 65
    assert Message.objects.count() == 0


def test_a_message_over_the_size_limit_is_exit_65(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.EMAIL_MAX_MESSAGE_BYTES = 65_536
    huge = MESSAGE + b"x" * 70_000 + b"\r\n"

    assert deliver(monkeypatch, "help@northwind.example", huge) == 65
    assert Message.objects.count() == 0


def test_an_unknown_mailbox_is_exit_67(mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    assert deliver(monkeypatch, "sales@northwind.example", MESSAGE) == 67
    assert Message.objects.count() == 0


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_an_unreachable_database_is_exit_75_so_the_mail_server_tries_again(engine: str, tmp_path: Path) -> None:
    environ = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    if engine == "postgresql":
        environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:9/switchboard"  # nothing listens on port 9
    else:
        # The embedded default's database file cannot be opened: a folder stands where it should be.
        (tmp_path / "switchboard.sqlite3").mkdir()
        environ["DATA_DIR"] = str(tmp_path)

    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "receive_email", "help@northwind.example"],
        input=MESSAGE,
        capture_output=True,
        env=environ,
        cwd=ROOT,
        timeout=60,
        check=False,
    )

    assert done.returncode == 75, done.stderr.decode(errors="replace")[-2000:]
    assert b"try again later" in done.stderr
