"""Visitor tokens and identity verification: pure functions, no database.

A visitor token is ``TimestampSigner(salt="chat.visitor")`` over ``"<channel key>:<visitor uuid>"``: the widget
keeps it, so the chat continues across reloads and tabs. An identity is verified only when the host site's HMAC of
``"<user id>:<timestamp>"`` under the channel's secret matches and the timestamp is recent, so a signature copied
from a page cannot be replayed for ever.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any

from django.core import signing

TOKEN_SALT = "chat.visitor"  # noqa: S105 - a salt, no secret
MAX_FIELD_CHARS = 200


def visitor_token(channel_key: str, visitor_id: uuid.UUID) -> str:
    return signing.TimestampSigner(salt=TOKEN_SALT).sign(f"{channel_key}:{visitor_id}")


def visitor_from_token(token: object, channel_key: str, *, max_age_seconds: int) -> uuid.UUID | None:
    """The visitor a token names, if it is ours, unexpired and for this channel; None otherwise."""
    if not isinstance(token, str) or not token or len(token) > 300:
        return None
    try:
        value = signing.TimestampSigner(salt=TOKEN_SALT).unsign(token, max_age=max_age_seconds)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    key, _, visitor = value.rpartition(":")
    if key != channel_key:
        return None
    try:
        return uuid.UUID(visitor)
    except ValueError:
        return None


def identity_signature(secret: str, user_id: str, timestamp: int) -> str:
    """What the host site computes: hex HMAC-SHA256 of ``"<user id>:<timestamp>"`` under the channel's secret."""
    return hmac.new(secret.encode(), f"{user_id}:{timestamp}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ClaimedIdentity:
    """What the host page said about its user, and whether the signature proved it."""

    user_id: str
    name: str
    email: str
    verified: bool


def _text(value: object) -> str:
    return value.strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""


def check_identity(claim: Any, secret: str, *, now: float, max_age_seconds: float) -> ClaimedIdentity | None:
    """The identity in a hello frame; ``verified`` only for a matching, recent signature. None without one.

    Anything amiss (no secret set, a signature that does not match, a timestamp too old or in the future, a
    timestamp that is not a whole number) leaves the identity unverified: it is kept, and shown as such.
    """
    if not isinstance(claim, dict):
        return None
    raw_id = claim.get("id")
    user_id = str(raw_id).strip()[:MAX_FIELD_CHARS] if isinstance(raw_id, str | int) else ""
    name, email = _text(claim.get("name")), _text(claim.get("email"))
    if not (user_id or name or email):
        return None
    timestamp = claim.get("timestamp")
    if isinstance(timestamp, str) and timestamp.strip().isdigit():
        timestamp = int(timestamp.strip())
    signature = claim.get("signature")
    verified = bool(
        secret
        and user_id
        and isinstance(timestamp, int)
        and not isinstance(timestamp, bool)
        and isinstance(signature, str)
        and abs(now - timestamp) <= max_age_seconds
        and hmac.compare_digest(identity_signature(secret, user_id, timestamp), signature.strip().lower())
    )
    return ClaimedIdentity(user_id=user_id, name=name, email=email, verified=verified)
