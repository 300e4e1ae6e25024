"""The fault tests' helper process: scenario set-up, sweeps and a Celery worker, each in a fresh Django process.

Run as ``python tests/fault_driver.py COMMAND ...`` with ``DATABASE_URL``/``REDIS_URL`` pointing at the test's
private servers. Everything here goes through the product's own actions and tasks.

``FAKE_GRAPH_URL`` (when set) is where facebook-sdk sends its Graph calls instead of graph.facebook.com: the
test's local "Facebook", which counts every reply posted. Only that base URL changes; the Facebook connector,
facebook-sdk and requests run unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")


def _point_facebook_at_the_fake() -> None:
    url = os.environ.get("FAKE_GRAPH_URL")
    if url:
        import facebook

        facebook.FACEBOOK_GRAPH_URL = url


def worker(args: argparse.Namespace) -> None:
    _point_facebook_at_the_fake()
    from contactcenter.celery import app

    app.worker_main(
        ["worker", "--loglevel", "INFO", "--concurrency", str(args.concurrency), "--hostname", args.hostname]
    )


def seed_replies(args: argparse.Namespace) -> None:
    """``count`` Facebook comments captured, assigned to one agent, each answered: ``count`` replies in the outbox."""
    import django

    django.setup()
    from django.utils import timezone

    from agents.actions import do_create_user
    from core.actions import do_assign_conversation, do_queue_conversation
    from core.capture import do_capture_post
    from core.models import Channel
    from core.posts import Author, InboundPost
    from core.roles import AGENT
    from monitoring.credentials import encrypt
    from monitoring.models import SocialAccount
    from responses.actions import do_send_reply
    from routing.models import Queue

    account = SocialAccount.objects.create(
        platform="facebook",
        external_id=args.page_id,
        name="Northwind",
        credentials_encrypted=encrypt({"page_access_token": "fault-test-page-token"}),
    )
    queue = Queue.objects.create(name="General", is_default=True)
    agent = do_create_user("ana", "pw-ana-12345", role=AGENT, first_name="Ana")
    now = timezone.now()
    for index in range(args.count):
        comment_id = f"{args.page_id}_{900000 + index}"
        post = InboundPost(
            platform="facebook",
            channel=Channel.FACEBOOK_PUBLIC,
            external_id=comment_id,
            thread_key=comment_id,
            author=Author(
                platform="facebook", external_id=f"77000{index}", handle="", display_name=f"Customer {index}"
            ),
            text=f"My router is down, order NW-{10000 + index}",
            sent_at=now - timedelta(minutes=5),
            raw={"id": comment_id},
            account_id=account.pk,
        )
        conversation = do_capture_post(post).conversation
        do_queue_conversation(conversation, queue)
        do_assign_conversation(conversation, agent)
        conversation.refresh_from_db()
        do_send_reply(conversation, agent, f"Sorry about that: reply number {index}.")
    print(f"seeded {args.count} replies")  # noqa: T201


def seed_sandbox(args: argparse.Namespace) -> None:
    """A sandbox account polled every ``interval`` seconds (0: none) and/or a Facebook Page receiving webhooks,
    a default queue, an available agent to route to, and the demo's supervisor."""
    import django

    django.setup()
    from django.utils import timezone

    from agents.actions import do_create_user, do_set_presence
    from agents.models import AgentProfile, Presence
    from core.roles import AGENT, SUPERVISOR
    from monitoring.credentials import encrypt
    from monitoring.models import SocialAccount
    from routing.models import Queue

    if args.interval:
        SocialAccount.objects.create(
            platform="sandbox", external_id="sandbox", name="Sandbox", poll_interval_seconds=args.interval
        )
    if args.facebook_page:
        # Captured by webhooks only: never polled during a test (that would call the real Graph API).
        SocialAccount.objects.create(
            platform="facebook",
            external_id=args.facebook_page,
            name="Northwind",
            credentials_encrypted=encrypt({"page_access_token": "fault-test-page-token"}),
            poll_interval_seconds=86_400,
            next_poll_at=timezone.now() + timedelta(days=1),
        )
    Queue.objects.create(name="General", is_default=True)
    agent = do_create_user("ana", "pw-ana-12345", role=AGENT, first_name="Ana")
    do_set_presence(agent.agent_profile, Presence.AVAILABLE)
    AgentProfile.objects.filter(pk=agent.agent_profile.pk).update(capacity=100)
    do_create_user("supervisor", "switchboard-supervisor", role=SUPERVISOR, first_name="Sofia")
    print("seeded the sandbox")  # noqa: T201


def sweep_outbox(args: argparse.Namespace) -> None:
    """The outbox's two periodic sweeps, until every reply is sent (exit 0) or the deadline passes (exit 1).

    Reconciliation looks only at replies stuck in ``sending`` for ``STUCK_AFTER`` (2 minutes); the test does not
    wait that long in real time, so the sweep runs "as if ``STUCK_AFTER`` had passed since ``--killed-at``" — the
    only shortcut. Replies the new worker is sending right now started after that, so they are never "stuck".
    """
    _point_facebook_at_the_fake()
    import django

    django.setup()
    from django.db import transaction

    from core.models import Delivery, Direction, Message
    from responses.outbox import STUCK_AFTER, do_reconcile_stuck_replies
    from responses.tasks import retry_queued_replies

    killed_at = datetime.fromisoformat(args.killed_at)
    deadline = time.monotonic() + args.timeout
    totals = {"found": 0, "requeued": 0, "unknown": 0, "failed": 0, "retried": 0}
    while time.monotonic() < deadline:
        with transaction.atomic():
            counts = do_reconcile_stuck_replies(now=killed_at + STUCK_AFTER)
        for key, value in counts.items():
            totals[key] += value
        totals["retried"] += retry_queued_replies()
        outbound = Message.objects.filter(direction=Direction.OUTBOUND)
        if not outbound.exclude(delivery=Delivery.SENT).exists():
            print(" ".join(f"{key}={value}" for key, value in totals.items()))  # noqa: T201
            return
        time.sleep(args.interval)
    print(" ".join(f"{key}={value}" for key, value in totals.items()))  # noqa: T201
    sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(required=True)
    command = commands.add_parser("worker")
    command.add_argument("--concurrency", type=int, default=2)
    command.add_argument("--hostname", default="fault-worker@%h")
    command.set_defaults(run=worker)
    command = commands.add_parser("seed-replies")
    command.add_argument("count", type=int)
    command.add_argument("--page-id", default="501234567890123")
    command.set_defaults(run=seed_replies)
    command = commands.add_parser("seed-sandbox")
    command.add_argument("--interval", type=int, default=5)
    command.add_argument("--facebook-page", default="")
    command.set_defaults(run=seed_sandbox)
    command = commands.add_parser("sweep-outbox")
    command.add_argument("--killed-at", required=True, help="ISO time: replies sending since before it are stuck")
    command.add_argument("--timeout", type=float, default=120)
    command.add_argument("--interval", type=float, default=5)
    command.set_defaults(run=sweep_outbox)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
