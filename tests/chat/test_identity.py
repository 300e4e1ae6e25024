"""Visitor tokens and identity signatures: only our own, fresh, matching ones are ever accepted."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

import time_machine

from chat.identity import check_identity, visitor_from_token, visitor_token

SECRET = "the-channel-secret-123"
DAY = 86_400


def signed(user_id: str, timestamp: int, secret: str = SECRET) -> str:
    # The host site's computation, as the docs give it: hex HMAC-SHA256 of "<id>:<timestamp>".
    return hmac.new(secret.encode(), f"{user_id}:{timestamp}".encode(), hashlib.sha256).hexdigest()


def claim(user_id: str = "42", *, timestamp: int | None = None, signature: str | None = None) -> dict[str, object]:
    at = int(time.time()) if timestamp is None else timestamp
    return {
        "id": user_id,
        "name": "Dana",
        "email": "dana@example.org",
        "timestamp": at,
        "signature": signed(user_id, at) if signature is None else signature,
    }


def test_a_token_names_its_visitor_on_its_channel() -> None:
    visitor = uuid.uuid4()
    assert visitor_from_token(visitor_token("help", visitor), "help", max_age_seconds=30 * DAY) == visitor


def test_another_channels_token_is_refused() -> None:
    assert visitor_from_token(visitor_token("other", uuid.uuid4()), "help", max_age_seconds=30 * DAY) is None


def test_a_forged_token_is_refused() -> None:
    token = visitor_token("help", uuid.uuid4())
    signature = token.rpartition(":")[2]
    forged = f"help:{uuid.uuid4()}:" + token.split(":")[2] + ":" + signature
    assert visitor_from_token(forged, "help", max_age_seconds=30 * DAY) is None
    assert visitor_from_token(token[:-2] + "xx", "help", max_age_seconds=30 * DAY) is None
    assert visitor_from_token("help:" + str(uuid.uuid4()), "help", max_age_seconds=30 * DAY) is None
    assert visitor_from_token(12345, "help", max_age_seconds=30 * DAY) is None


def test_an_expired_token_is_refused() -> None:
    with time_machine.travel("2026-01-01 12:00Z"):
        token = visitor_token("help", uuid.uuid4())
    with time_machine.travel("2026-02-01 12:00Z"):
        assert visitor_from_token(token, "help", max_age_seconds=30 * DAY) is None
    with time_machine.travel("2026-01-30 12:00Z"):
        assert visitor_from_token(token, "help", max_age_seconds=30 * DAY) is not None


def test_a_matching_recent_signature_verifies() -> None:
    identity = check_identity(claim(), SECRET, now=time.time(), max_age_seconds=600)
    assert identity is not None and identity.verified
    assert (identity.user_id, identity.name, identity.email) == ("42", "Dana", "dana@example.org")


def test_a_replayed_signature_with_an_old_timestamp_is_not_verified() -> None:
    old = int(time.time()) - 3600
    identity = check_identity(claim(timestamp=old), SECRET, now=time.time(), max_age_seconds=600)
    assert identity is not None and not identity.verified
    future = int(time.time()) + 3600
    assert not check_identity(claim(timestamp=future), SECRET, now=time.time(), max_age_seconds=600).verified  # type: ignore[union-attr]


def test_a_made_up_signature_is_kept_but_never_verified() -> None:
    identity = check_identity(claim(signature="0" * 64), SECRET, now=time.time(), max_age_seconds=600)
    assert identity is not None and not identity.verified
    assert identity.name == "Dana"  # shown, as unverified


def test_a_signature_for_another_user_or_with_another_secret_is_not_verified() -> None:
    now = int(time.time())
    stolen = claim("7", timestamp=now)
    stolen["id"] = "42"
    assert not check_identity(stolen, SECRET, now=now, max_age_seconds=600).verified  # type: ignore[union-attr]
    other = claim(timestamp=now, signature=signed("42", now, secret="another-secret"))
    assert not check_identity(other, SECRET, now=now, max_age_seconds=600).verified  # type: ignore[union-attr]


def test_nothing_verifies_without_a_secret() -> None:
    assert not check_identity(claim(), "", now=time.time(), max_age_seconds=600).verified  # type: ignore[union-attr]


def test_no_identity_is_none() -> None:
    assert check_identity(None, SECRET, now=time.time(), max_age_seconds=600) is None
    assert check_identity({}, SECRET, now=time.time(), max_age_seconds=600) is None
