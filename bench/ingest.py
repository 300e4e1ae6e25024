"""``bench ingest``: sandbox posts through the whole capture pipeline into the database.

Posts are generated first (not timed). A history of ``--history`` posts
(default 20,000) is stored and the tables analysed, as on a running system;
then the measured posts are pushed through ``ingest`` in
batches as pollers and webhooks would: triage, de-duplication, threading,
contacts, conversations, ledger rows, queueing. ``--workers`` processes run
at once, as Celery worker processes do, each taking the threads that hash
to it (as each account's polls and webhooks arrive in order). A tenth of the
posts are then delivered again, as a webhook re-delivery would, to show they
change nothing.
"""

from __future__ import annotations

import multiprocessing
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from bench.table import Target
from core.models import Conversation, Event, Message
from monitoring.demo import seed_triage_rules
from monitoring.pipeline import ingest
from monitoring.sandbox import OpenThread, SandboxSource
from routing.models import Queue, SLAPolicy

TARGETS = [
    Target("posts_per_second", ">=", 5000, "posts/s"),
    Target("duplicates_created", "==", 0),
    Target("redeliveries_missed", "==", 0),
]
QUICK_ARGS = ["--posts", "300", "--history", "100", "--workers", "1"]


def run(options: dict[str, Any]) -> dict[str, Any]:
    count, batch = options["posts"], options["batch"]
    if count < 1 or batch < 1:
        raise ValueError("--posts and --batch must be positive.")
    policy = SLAPolicy.objects.create(name="Bench", first_response_seconds=3600, next_response_seconds=3600)
    Queue.objects.create(name="General", is_default=True, sla_policy=policy)
    # Routing runs in its own workers (measured by ``bench routing``); here the
    # capture path only asks for it, as it does in production with a broker.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with transaction.atomic():
        seed_triage_rules()
    history_count = max(0, options.get("history", 20_000))
    generated = _posts(history_count + count)
    history, posts = generated[:history_count], generated[history_count:]
    # A live contact center has history, and autovacuum keeps the planner's
    # statistics current: start from that, not from empty, never-analysed tables.
    ingest(history, batch_size=batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    workers = max(1, options.get("workers", 1))
    if connection.vendor == "sqlite":
        workers = 1  # SQLite has one writer (and the test database lives in this process's memory)
    shards: list[list[Any]] = [[] for _ in range(workers)]
    for post in posts:
        shards[zlib.crc32(post.thread_key.encode()) % workers].append(post)

    start = time.perf_counter()
    if workers == 1:
        results = [{"filtered": ingest(posts, batch_size=batch).filtered}]
    else:
        connections.close_all()  # each process opens its own connection
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_ingest_shard, shards, [batch] * workers))
    seconds = time.perf_counter() - start
    filtered = sum(r["filtered"] for r in results)

    again = ingest(posts[::10], batch_size=batch)
    stored = Message.objects.count() - history_count
    return {
        "posts": count,
        "history": history_count,
        "seconds": round(seconds, 3),
        "posts_per_second": round(count / seconds, 1),
        "batch_size": batch,
        "conversations": Conversation.objects.count(),
        "ledger_rows": Event.objects.count(),
        "redelivered": again.received,
        "duplicates_created": stored - count,
        "redelivery_duplicates_detected": again.duplicates,
        "redeliveries_missed": again.received - again.duplicates,
        "filtered": filtered,
        "workers": workers,
    }


def _ingest_shard(posts: list[Any], batch: int) -> dict[str, int]:
    try:
        stats = ingest(posts, batch_size=batch)
        return {"filtered": stats.filtered}
    finally:
        connections.close_all()


def _posts(count: int) -> list[Any]:
    """Sandbox posts, a fifth of them follow-ups in threads opened earlier in the run."""
    source = SandboxSource(seed=42)
    now = timezone.now()
    posts: list[Any] = []
    threads: list[OpenThread] = []
    while len(posts) < count:
        chunk = source.posts(min(1000, count - len(posts)), now=now, open_threads=threads[-200:], window_seconds=3600)
        posts += chunk
        threads += [OpenThread(p.channel, p.thread_key, p.author) for p in chunk if p.thread_key == p.external_id]
    return posts
