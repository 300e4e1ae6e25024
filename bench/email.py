"""``bench email``: mail captured from a real IMAP server, through a worker that is killed part-way.

``--messages`` mails (default 5,000; a fifth of them replies in earlier threads, some in HTML, some with a
small attachment) are APPENDed to a private Dovecot (``bench.mailserver``) first, untimed. Then, timed, a worker
process polls the mailbox with the real poll path (``do_poll_account``: IMAP, parsing, threading, capture, the
cursor) until it has stored about half, and is SIGKILLed wherever it is: in the middle of a fetch, of a batch
being stored, or between storing and saving the cursor. Its lease is then expired (as five minutes would) and a
fresh worker polls until the mailbox has nothing new. Each mail carries its own token, so the count of stored
messages per token is what tells ``lost`` and ``duplicated`` apart; both must be 0.

Needs PostgreSQL: the workers are separate processes on the scratch database.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections

from bench.load import database_url
from bench.mailserver import MailServer
from bench.table import Target
from core.models import Message
from monitoring.credentials import encrypt
from monitoring.demo import seed_triage_rules
from monitoring.models import Mailbox, SocialAccount
from routing.models import Queue, SLAPolicy

TARGETS = [
    Target("messages_per_second", ">=", 200, "messages/s"),
    Target("lost", "==", 0),
    Target("duplicated", "==", 0),
]
QUICK_ARGS = ["--messages", "300"]
TOKEN = re.compile(r"bench-mail-(\d{6})")
ADDRESS = "help@northwind.example"
RECEIPT = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK"
"""A tiny PDF, base64."""


def add_arguments(parser: Any) -> None:
    parser.add_argument("--messages", type=int, default=5_000, help="email: mails in the mailbox.")


def run(options: dict[str, Any]) -> dict[str, Any]:
    count = options["messages"]
    if count < 10:
        raise ValueError("--messages must be at least 10.")
    if connection.vendor != "postgresql":
        raise ValueError("bench email needs PostgreSQL (DATABASE_URL): its workers are separate processes.")
    policy = SLAPolicy.objects.create(name="Bench", first_response_seconds=3600, next_response_seconds=3600)
    Queue.objects.create(name="General", is_default=True, sla_policy=policy)
    seed_triage_rules()
    with MailServer() as server:
        user = server.add_user()
        append_start = time.perf_counter()
        server.append_many(user, (mail(number) for number in range(count)))
        append_seconds = time.perf_counter() - append_start
        account = SocialAccount.objects.create(
            platform="email",
            external_id=ADDRESS,
            name="Northwind Help",
            handle=ADDRESS,
            credentials_encrypted=encrypt({"imap_password": user.password}),
        )
        Mailbox.objects.create(
            account=account,
            address=ADDRESS,
            imap_host=server.host,
            imap_port=server.port,
            imap_security="none",
            imap_user=user.name,
        )
        connections.close_all()  # the workers get the database to themselves

        start = time.perf_counter()
        first = _worker(account.pk)
        killed_at = _kill_when_half_stored(first, account.pk, count)
        # The killed worker's lease would expire after five minutes; the bench does not wait for it.
        SocialAccount.objects.filter(pk=account.pk).update(poll_lease_until=None)
        second = _worker(account.pk)
        output, _ = second.communicate(timeout=1800)
        seconds = time.perf_counter() - start
        if second.returncode != 0:
            raise RuntimeError(f"the second worker failed:\n{output.decode(errors='replace')[-3000:]}")

    tokens = Counter(
        match.group(1)
        for text in Message.objects.filter(account_id=account.pk).values_list("text", flat=True).iterator()
        if (match := TOKEN.search(text))
    )
    expected = {f"{number:06d}" for number in range(count)}
    return {
        "messages": count,
        "seconds": round(seconds, 3),
        "messages_per_second": round(count / seconds, 1),
        "append_seconds": round(append_seconds, 3),
        "stored_when_killed": killed_at,
        "lost": len(expected - set(tokens)),
        "duplicated": sum(n - 1 for n in tokens.values() if n > 1),
        "unexpected": len(set(tokens) - expected),
        "conversations": Message.objects.filter(account_id=account.pk).values("conversation_id").distinct().count(),
        "cursor": SocialAccount.objects.get(pk=account.pk).cursor,
    }


def _worker(account_id: int) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    return subprocess.Popen(  # noqa: S603 - our own interpreter, manage.py and an id
        [sys.executable, manage, "bench_email_worker", str(account_id)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _kill_when_half_stored(worker: subprocess.Popen[bytes], account_id: int, count: int) -> int:
    """SIGKILL ``worker`` once about half the mail is stored; how many messages were stored by then."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        stored = Message.objects.filter(account_id=account_id).count()
        if stored >= count // 2 or worker.poll() is not None:
            break
        time.sleep(0.02)
    if worker.poll() is not None:
        output = worker.stdout.read().decode(errors="replace") if worker.stdout else ""
        raise RuntimeError(f"the first worker ended before it was killed (code {worker.returncode}):\n{output[-3000:]}")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    connections.close_all()
    return Message.objects.filter(account_id=account_id).count()


def mail(number: int) -> bytes:
    """Mail ``number``: its own sender among 500, a reply to an earlier one every fifth, some HTML or a file."""
    sender = f"customer{number % 500}@customer.example"
    token = f"bench-mail-{number:06d}"
    headers = [
        f"From: Customer {number % 500} <{sender}>",
        f"To: Northwind Help <{ADDRESS}>",
        f"Subject: Order {number}: my delivery is late",
        f"Date: Fri, 20 Nov 2026 10:{number % 60:02d}:00 +0000",
        f"Message-ID: <{token}@customer.example>",
        "MIME-Version: 1.0",
    ]
    if number % 5 == 4 and number >= 500:
        earlier = number - 500  # the same sender's earlier mail
        headers += [f"In-Reply-To: <bench-mail-{earlier:06d}@customer.example>"]
        headers[2] = f"Subject: Re: Order {earlier}: my delivery is late"
    text = f"Hello, order {number} has not arrived and the tracking page shows nothing. Ref {token}.\r\n"
    if number % 7 == 3:
        headers.append('Content-Type: text/html; charset="utf-8"')
        body = f"<html><body><p>{text}</p><img src='https://t.example/p.gif' width=1 height=1></body></html>\r\n"
    elif number % 11 == 5:
        headers.append('Content-Type: multipart/mixed; boundary="b1"')
        body = (
            f"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            "--b1\r\nContent-Type: application/pdf; name=receipt.pdf\r\n"
            "Content-Disposition: attachment; filename=receipt.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{RECEIPT}\r\n"
            "--b1--\r\n"
        )
    else:
        headers.append("Content-Type: text/plain; charset=utf-8")
        body = text
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()
