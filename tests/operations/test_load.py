"""``bench load``: its deliveries, agents and figures; a small run against the production topology if there is one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from bench import load
from core.models import Conversation, Message
from monitoring.models import SocialAccount
from routing.models import Queue

ROOT = Path(__file__).resolve().parents[2]


def test_percentiles_are_nearest_rank_and_none_without_values() -> None:
    values = [float(v) for v in range(1, 101)]

    assert load.percentile(values, 50) == 50.0
    assert load.percentile(values, 99) == 99.0
    assert load.percentile([7.0], 99) == 7.0
    assert load.percentile([], 50) is None


def test_the_recorder_counts_5xx_and_failures_as_errors_and_4xx_apart() -> None:
    recorder = load.Recorder()
    for status in (200, 200, 404, 500, None):
        recorder.request("inbox_page", 0.010, status)

    figures = recorder.http_figures(seconds=2.0)

    assert figures["requests"] == 5 and figures["requests_per_second"] == 2.5
    assert figures["http_errors"] == 2 and figures["http_rejected_4xx"] == 1
    assert figures["http_error_rate"] == 0.4
    assert figures["by_kind"]["inbox_page"]["ms_p50"] == 10.0


@pytest.mark.django_db
def test_the_surge_deliveries_are_accepted_by_the_real_webhooks_one_conversation_per_post(settings: Any) -> None:
    settings.X_CONSUMER_SECRET, settings.FACEBOOK_APP_SECRET = "x-secret", "fb-secret"
    load.create_configuration()
    now = datetime.now(UTC)
    x_ids, x_payload = load.x_delivery(range(0, 3), now)
    fb_ids, fb_payload = load.facebook_delivery(range(3, 6), now)
    x_body, fb_body = json.dumps(x_payload).encode(), json.dumps(fb_payload).encode()

    x = Client().post(
        "/webhooks/x/",
        data=x_body,
        content_type="application/json",
        headers={"x-twitter-webhooks-signature": load.x_signature("x-secret", x_body)},
    )
    fb = Client().post(
        "/webhooks/facebook/",
        data=fb_body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": load.facebook_signature("fb-secret", fb_body)},
    )

    assert (x.status_code, x.json()["stored"]) == (200, 3)
    assert (fb.status_code, fb.json()["stored"]) == (200, 3)
    stored = Message.objects.filter(external_id__in=x_ids + fb_ids)
    assert stored.count() == 6
    assert len(set(stored.values_list("conversation_id", flat=True))) == 6
    assert Conversation.objects.filter(queue=Queue.objects.get(is_default=True)).count() == 6
    # The webhook-only accounts are never due for a poll during a run (no call to X or Facebook).
    assert not SocialAccount.objects.filter(platform__in=["x", "facebook"], next_poll_at__lte=now).exists()


@pytest.mark.django_db
def test_agents_get_a_working_session_and_api_token_without_logging_in() -> None:
    [agent] = load.create_agents(1, capacity=100)

    browser = Client()
    browser.cookies["sessionid"] = agent.session_key
    page = browser.get("/inbox/")
    api = Client().get("/api/v1/agents/me/presence/", headers={"Authorization": f"Token {agent.token}"})
    listed = Client().get(
        f"/api/v1/conversations/?assigned_agent={agent.user_id}", headers={"Authorization": f"Token {agent.token}"}
    )

    assert page.status_code == 200
    assert api.status_code == 405  # the token is accepted and only the method refused (anonymous: 401)
    assert listed.status_code == 200


def production_configured() -> bool:
    return str(os.environ.get("DATABASE_URL", "")).startswith("postgres") and bool(os.environ.get("REDIS_URL"))


@pytest.mark.skipif(not production_configured(), reason="needs DATABASE_URL (PostgreSQL) and REDIS_URL")
def test_a_small_load_run_captures_every_post_once_and_measures_capture_to_inbox() -> None:
    """The quick sizes against uvicorn, Celery worker and beat: every post once, every figure measured."""
    command = [sys.executable, "manage.py", "bench", "load", "--json", *load.QUICK_ARGS]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])

    posts = int(load.QUICK_ARGS[load.QUICK_ARGS.index("--load-posts") + 1])
    assert (result["posts_sent"], result["posts_stored"]) == (posts, posts)
    assert result["posts_unsent"] == result["posts_missing"] == result["posts_duplicated"] == 0
    assert result["polled_posts_stored"] > 0, "beat polled the sandbox through the real polling path"
    # Ten agents have room for all 300: every post reaches an agent's socket, and is timed.
    assert result["posts_shown_to_an_agent"] == posts
    assert 0 < result["capture_to_inbox_ms_p50"] <= result["capture_to_inbox_ms_p99"]
    assert result["push_ms_p99"] is not None and result["capture_ms_p99"] is not None
    assert result["http_error_rate"] <= 0.01 and result["socket_drops"] == 0
    kinds = result["by_kind"]
    for kind in ("webhook_x", "webhook_facebook", "inbox_page", "list_api", "conversation_page", "conversation_api"):
        assert kinds[kind]["requests"] > 0, kind
    assert kinds.get("resolve_api", {}).get("requests", 0) + kinds.get("reply_api", {}).get("requests", 0) > 0
