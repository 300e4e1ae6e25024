"""One X account's tweepy client: credentials, a request timeout, and every failure as a ``PlatformError``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy
from requests.models import PreparedRequest
from requests.models import Response as HTTPResponse

from monitoring.platforms.base import AccountRef, PlatformError

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
"""The most items X returns per page of a listing."""
RATE_LIMIT_FALLBACK = timedelta(minutes=15)
"""X's rate-limit windows are 15 minutes: the wait when a 429 lacks ``x-rate-limit-reset``."""

_OAUTH1_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")

_HTTP_ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found"}


class _TimeoutSession(requests.Session):
    """Applies a default timeout: tweepy passes none, so a hung API would hang the worker."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: PreparedRequest, **kwargs: Any) -> HTTPResponse:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


class XClient:
    """``tweepy.Client`` for one account, and the calls made through it.

    Mentions and search use the app's bearer token when there is one (app rate limits are higher), else OAuth 1.0a
    user context. DMs and replies always need user context.
    """

    def __init__(self, account: AccountRef, *, timeout: float) -> None:
        self.account = account
        self.timeout = timeout
        credentials = account.credentials
        self.has_bearer = bool(credentials.get("bearer_token"))
        self.has_user_context = all(credentials.get(key) for key in _OAUTH1_KEYS)
        self.tweepy = tweepy.Client(
            bearer_token=credentials.get("bearer_token") or None,
            consumer_key=credentials.get("consumer_key") or None,
            consumer_secret=credentials.get("consumer_secret") or None,
            access_token=credentials.get("access_token") or None,
            access_token_secret=credentials.get("access_token_secret") or None,
            # tweepy's own waiting sleeps with no cap inside the worker; the poller reschedules instead.
            wait_on_rate_limit=False,
            return_type=tweepy.Response,
        )
        self.tweepy.session = _TimeoutSession(timeout)

    def call(self, operation: str, method: Callable[..., Any], **params: Any) -> Any:
        """Call one tweepy method, turning every failure into a ``PlatformError``."""
        try:
            return method(**params)
        except tweepy.HTTPException as error:
            raise _http_error(error, operation) from error
        except requests.Timeout as error:
            raise PlatformError(f"X {operation} timed out after {self.timeout:g}s.", code="timeout") from error
        except requests.ConnectionError as error:
            raise PlatformError(f"X {operation} could not connect.", code="connection_error") from error
        except requests.JSONDecodeError as error:
            raise PlatformError(f"X {operation} returned a body that is not JSON.", code="bad_response") from error
        except requests.RequestException as error:
            raise PlatformError(f"X {operation} failed: {type(error).__name__}.", code="request_failed") from error
        except tweepy.TweepyException as error:
            raise PlatformError(f"X {operation} failed: {error}", permanent=True, code="client_error") from error
        except (KeyError, TypeError, ValueError) as error:
            # tweepy builds its objects from a 200 body without checking its shape.
            logger.warning("X %s returned an unexpected body", operation, exc_info=True)
            raise PlatformError(f"X {operation} returned an unexpected body.", code="bad_response") from error

    def app_or_user_auth(self) -> bool:
        """Whether to sign with OAuth 1.0a user context (True) rather than the bearer token."""
        if self.has_bearer:
            return False
        if self.has_user_context:
            return True
        raise PlatformError(
            "The X account has no bearer token and no OAuth 1.0a keys.", permanent=True, code="no_credentials"
        )

    def require_user_context(self, action: str) -> None:
        if not self.has_user_context:
            raise PlatformError(
                f"The X account has no OAuth 1.0a user keys, which X requires to {action}.",
                permanent=True,
                code="no_credentials",
            )


def _http_error(error: tweepy.HTTPException, operation: str) -> PlatformError:
    status: int = error.response.status_code
    reason = error.response.reason or ""
    details = "; ".join(str(message) for message in error.api_messages)[:300]
    message = f"X {operation} failed: {status} {reason}".rstrip() + (f" ({details})" if details else "") + "."
    if isinstance(error, tweepy.TooManyRequests):
        # tweepy already parsed x-rate-limit-reset (epoch seconds) into reset_time.
        reset = error.reset_time
        retry_at = datetime.fromtimestamp(reset, UTC) if reset is not None else datetime.now(UTC) + RATE_LIMIT_FALLBACK
        return PlatformError(message, retry_at=retry_at, status=status, code="rate_limited")
    if status >= 500:
        return PlatformError(message, status=status, code="server_error")
    if status == 401:
        message = f"X {operation} failed: 401, the account's credentials are invalid or were revoked."
    # The request itself is wrong or not allowed: asking again will not help.
    return PlatformError(message, permanent=True, status=status, code=_HTTP_ERROR_CODES.get(status, "http_error"))
