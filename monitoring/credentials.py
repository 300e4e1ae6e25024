"""Social account credentials: encrypted at rest, never shown back, never logged.

Stored credentials are a JSON object encrypted with Fernet (AES-128-CBC with
HMAC-SHA256) under ``CREDENTIALS_KEY``. An account with nothing stored uses
the platform's credentials from the environment (``X_*``,
``FACEBOOK_PAGE_ACCESS_TOKEN``), so a one-account deployment needs no admin step.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from monitoring.models import SocialAccount

FIELDS: dict[str, tuple[str, ...]] = {
    "x": ("bearer_token", "consumer_key", "consumer_secret", "access_token", "access_token_secret"),
    "facebook": ("page_access_token",),
    "sandbox": (),
    "email": ("imap_password", "smtp_password"),
    "chat": ("identity_secret",),
}


class CredentialsUnreadable(Exception):
    """Stored credentials cannot be decrypted (the key changed)."""


def _fernet() -> Fernet:
    key = settings.CREDENTIALS_KEY
    if key is None:
        digest = hashlib.sha256(f"switchboard-credentials:{settings.SECRET_KEY}".encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    try:
        return Fernet(key)
    except ValueError:
        raise ImproperlyConfigured(
            "CREDENTIALS_KEY must be a Fernet key: 32 url-safe base64-encoded bytes "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
        ) from None


def encrypt(credentials: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


def stored_credentials(account: SocialAccount) -> dict[str, str]:
    if not account.credentials_encrypted:
        return {}
    try:
        data = json.loads(_fernet().decrypt(account.credentials_encrypted.encode()))
    except InvalidToken:
        raise CredentialsUnreadable(
            f"Stored credentials of {account} cannot be decrypted; was CREDENTIALS_KEY or SECRET_KEY changed?"
        ) from None
    return {str(k): str(v) for k, v in data.items()}


def credentials_for(account: SocialAccount) -> dict[str, str]:
    """What the connector gets: stored values over the environment's."""
    return {**settings.PLATFORM_CREDENTIALS.get(account.platform, {}), **stored_credentials(account)}


def describe(account: SocialAccount) -> str:
    """Which credentials are set and where from, without a single character of any value."""
    try:
        stored = sorted(stored_credentials(account))
    except CredentialsUnreadable:
        return "stored credentials cannot be decrypted (key changed): enter them again"
    from_env = sorted(set(settings.PLATFORM_CREDENTIALS.get(account.platform, {})) - set(stored))
    parts = []
    if stored:
        parts.append("stored: " + ", ".join(stored))
    if from_env:
        parts.append("from environment: " + ", ".join(from_env))
    return "; ".join(parts) or "none"
