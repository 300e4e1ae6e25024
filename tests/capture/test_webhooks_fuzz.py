"""Webhooks under random and mutated input: never a server error, never half a delivery stored.

The hand-picked malformed bodies live in test_webhooks.py; here hypothesis
mutates the real deliveries in tests/fixtures (a value replaced by any JSON
value — huge numbers, NaN and Infinity, lone surrogates, NULs, nesting, times
a datetime cannot hold, ids beyond the columns — a key dropped, a list item
repeated) and the raw bytes of their signed bodies, and sends each one signed
as the platform would. Whatever arrives, the answer is 200 (stored) or 400
(refused, nothing stored), and anything stored is whole, readable and within
the columns' bounds. Nothing here depends on the engine: CI runs it on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import Conversation, Event, Message
from monitoring.models import SocialAccount
from routing.models import Queue

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
APP_SECRET = "app_secret_123"
CONSUMER_SECRET = "consumer_secret_123"
DELIVERIES = {
    "facebook": sorted((FIXTURES / "facebook").glob("webhook_*.json")),
    "x": sorted((FIXTURES / "x").glob("account_activity_*.json")),
}
EARLIEST = datetime(2004, 1, 1, tzinfo=UTC)
"""No post on these platforms is older (Facebook opened in 2004)."""
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
"""Examples per property: 60 in `make test`; `make fuzz` runs 2,000."""
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays repeatable
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def sign(platform: str, body: bytes) -> dict[str, str]:
    if platform == "facebook":
        digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}"}
    digest64 = base64.b64encode(hmac.new(CONSUMER_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return {"x-twitter-webhooks-signature": f"sha256={digest64}"}


def deliver(platform: str, body: bytes) -> Any:
    return Client().post(
        f"/webhooks/{platform}/", data=body, content_type="application/json", headers=sign(platform, body)
    )


# --- Strategies ------------------------------------------------------------------------------

awkward_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc", "Co", "So", "Zs"])),  # surrogates, controls
    st.sampled_from(["", "\x00", "a\x00b", "\ud800", "\U0001f600" * 300, "<script>alert(1)</script>", "x" * 70_000]),
)
awkward_scalars = st.sampled_from(
    [
        # Times a datetime cannot hold once in UTC, or no platform could have sent; in X's and Graph's formats.
        "Mon Jan 01 00:00:00 +2359 0001",
        "Fri Dec 31 23:59:59 -2359 9999",
        "0001-01-01T00:00:00+2359",
        "9999-12-31T23:59:59-2359",
        # Ids: longer than the id columns, beyond 64 bits; counts and times beyond 64 bits.
        "9" * 500,
        str(2**64),
        2**63,
        2**70,
        -(2**63) - 1,
        "0",
    ]
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**18, max_value=10**40),
    st.floats(),  # NaN and ±Infinity too: json.dumps writes them as NaN and Infinity, which JSON has not
    awkward_text,
    awkward_scalars,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a JSON document, the root excluded."""
    found = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        found.append((*prefix, key))
        found += _paths(child, (*prefix, key))
    return found


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


@st.composite
def mutated_deliveries(draw: st.DrawFn, platform: str) -> bytes:
    document = json.loads(draw(st.sampled_from(DELIVERIES[platform])).read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(document, path), path[-1]
        action = draw(st.sampled_from(["replace", "drop", "repeat"]))
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "drop":
            del parent[key]
        elif isinstance(parent, list):
            parent.append(parent[key])
    return json.dumps(document).encode()


NOT_JSON_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 400]


@st.composite
def deliveries_with_bare_literals(draw: st.DrawFn, platform: str) -> bytes:
    """A real delivery with a value replaced by a literal Python's json reads but JSON has not (or a huge number)."""
    document = json.loads(draw(st.sampled_from(DELIVERIES[platform])).read_text(encoding="utf-8"))
    path = draw(st.sampled_from(_paths(document)))
    _parent(document, path)[path[-1]] = "SENTINEL-4f1c"
    return json.dumps(document).replace('"SENTINEL-4f1c"', draw(st.sampled_from(NOT_JSON_NUMBERS))).encode()


@st.composite
def corrupted_bytes(draw: st.DrawFn, platform: str) -> bytes:
    body = bytearray(draw(st.sampled_from(DELIVERIES[platform])).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if action == "flip":
            body[at] ^= draw(st.integers(1, 255))
        elif action == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del body[at]
        else:
            del body[at:]
        if not body:
            break
    return bytes(body)


# --- The property ------------------------------------------------------------------------------


@pytest.fixture
def accounts(db: None, settings: Any) -> None:
    settings.FACEBOOK_APP_SECRET = APP_SECRET
    settings.X_CONSUMER_SECRET = CONSUMER_SECRET
    SocialAccount.objects.create(platform="facebook", external_id="501234567890123", name="Northwind")
    SocialAccount.objects.create(platform="x", external_id="4400100", name="Northwind Help", handle="northwind_help")
    Queue.objects.create(name="General", is_default=True)


def check_delivery(platform: str, body: bytes) -> None:
    """Send ``body``; whatever happens, roll the database back for the next example."""
    with transaction.atomic():
        response = deliver(platform, body)

        assert response.status_code in (200, 400), response.content[:300]
        if response.status_code == 400:
            assert response.json()["code"] == "malformed"
            assert not (Message.objects.exists() or Conversation.objects.exists() or Event.objects.exists())
        for message in Message.objects.select_related("conversation", "author_identity"):
            assert "\x00" not in message.text
            message.text.encode("utf-8")  # raises on a lone surrogate: text no UTF-8 database could store
            assert message.conversation is None or message.conversation.channel.startswith(platform)
            # Within the columns' bounds (SQLite enforces none of them) and plausible.
            assert message.external_id and len(message.external_id) <= 128
            assert platform != "x" or int(message.external_id) < 2**64
            assert EARLIEST <= message.sent_at <= timezone.now() + timedelta(days=1)
            identity = message.author_identity
            assert identity is None or 0 <= identity.followers_count <= 2_147_483_647
        transaction.set_rollback(True)


@pytest.mark.parametrize("platform", ["facebook", "x"])
def test_mutated_real_deliveries_are_stored_whole_or_refused(accounts: None, platform: str) -> None:
    @FUZZ
    @given(body=mutated_deliveries(platform))
    def run(body: bytes) -> None:
        check_delivery(platform, body)

    run()


@pytest.mark.parametrize("platform", ["facebook", "x"])
def test_numbers_json_has_not_anywhere_are_refused_or_stored_whole(accounts: None, platform: str) -> None:
    @FUZZ
    @given(body=deliveries_with_bare_literals(platform))
    def run(body: bytes) -> None:
        check_delivery(platform, body)

    run()


@pytest.mark.parametrize("platform", ["facebook", "x"])
def test_corrupted_bytes_are_stored_whole_or_refused(accounts: None, platform: str) -> None:
    @FUZZ
    @given(body=corrupted_bytes(platform))
    def run(body: bytes) -> None:
        check_delivery(platform, body)

    run()


@pytest.mark.parametrize("platform", ["facebook", "x"])
def test_any_json_document_is_stored_whole_or_refused(accounts: None, platform: str) -> None:
    @FUZZ
    @given(document=json_values)
    def run(document: Any) -> None:
        check_delivery(platform, json.dumps(document).encode())

    run()


def _with_text(platform: str, text: Any) -> bytes:
    if platform == "facebook":
        document = json.loads((FIXTURES / "facebook/webhook_feed_comment.json").read_text(encoding="utf-8"))
        document["entry"][0]["changes"][0]["value"]["message"] = text
    else:
        document = json.loads((FIXTURES / "x/account_activity_tweet_create.json").read_text(encoding="utf-8"))
        document["tweet_create_events"][0]["text"] = text
    return json.dumps(document).encode()


@pytest.mark.parametrize("platform", ["facebook", "x"])
@pytest.mark.parametrize(
    "text",
    ["\ud800 lone surrogate", "nul\x00inside", "\U0001f600" * 5000, "x" * 200_000, 10**30, ["a", {"b": None}]],
    ids=["surrogate", "nul", "emoji", "long", "huge-number", "nested"],
)
def test_awkward_post_text_is_stored_readably_or_refused(accounts: None, platform: str, text: Any) -> None:
    check_delivery(platform, _with_text(platform, text))
