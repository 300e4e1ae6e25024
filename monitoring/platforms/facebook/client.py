"""The Graph API through facebook-sdk for one Page: its token, versions and timeouts, and every failure as a
``PlatformError`` whose message holds no token."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import facebook
import requests

from monitoring.platforms.base import AccountRef, MalformedPayload, PlatformError
from monitoring.platforms.payloads import int_or_none

GRAPH_VERSION = "v21.0"
RATE_LIMIT_BACKOFF = timedelta(minutes=5)

_RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
_PERSON_UNAVAILABLE_CODE = 551
"""Messenger: "This person isn't available right now" (blocked the Page, deactivated the account)."""
_SERVER_ERROR_CODES = frozenset({1, 2})
_OUTSIDE_WINDOW_SUBCODE = 2018278
# Query parameters that carry secrets: never kept in a cursor, never put in a message.
_SECRET_PARAMS = frozenset({"access_token", "appsecret_proof"})
_SECRET_IN_TEXT = re.compile(r"\b(access_token|appsecret_proof|client_secret)=[^&\s'\"<>]*", re.IGNORECASE)
_MAX_MESSAGE_LENGTH = 500


class GraphClient:
    """A ``facebook.GraphAPI`` for the Page's access token, built on first use.

    ``account.external_id`` is the Page id; ``account.credentials["page_access_token"]`` a Page access token.
    """

    def __init__(self, account: AccountRef, *, timeout: float) -> None:
        self.account = account
        self.timeout = timeout
        self._graph: Any = None  # a facebook.GraphAPI, built on first use
        self._last_status: int | None = None

    @property
    def has_token(self) -> bool:
        token = self.account.credentials.get("page_access_token", "")
        return isinstance(token, str) and bool(token.strip())

    def _graph_api(self) -> Any:
        if self._graph is None:
            token = self.account.credentials.get("page_access_token", "")
            if not self.has_token:
                raise PlatformError(
                    "The Facebook account has no Page access token: reconnect the Page.",
                    permanent=True,
                    code="no_credentials",
                )
            graph = facebook.GraphAPI(access_token=token, timeout=self.timeout)
            # facebook-sdk 3.1.0's constructor accepts only versions 2.8-3.1, which Meta no longer serves.
            graph.version = GRAPH_VERSION
            # The SDK ignores HTTP status codes; remember them for error messages (a 502 from a proxy).
            graph.session.hooks["response"].append(self._remember_status)
            self._graph = graph
        return self._graph

    def _remember_status(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_status = response.status_code

    def get(self, path: str, args: Mapping[str, str], *, replying: bool = False) -> dict[str, Any]:
        """GET a Graph path; every failure becomes a ``PlatformError`` whose message holds no token."""
        # The SDK adds the token to the dict it is given.
        return self.call(path, lambda graph: graph.request(path, dict(args)), replying=replying)

    def call(self, what: str, call: Callable[[Any], object], *, replying: bool = False) -> dict[str, Any]:
        """Run one facebook-sdk call on the Graph client; every failure becomes a token-free ``PlatformError``.

        ``replying`` maps errors as replies need them (see ``_graph_error``).
        """
        graph = self._graph_api()
        self._last_status = None
        error: PlatformError | None = None
        result: object = None
        # The error is raised outside the ``except`` blocks so that it carries no ``__context__``: the SDK's and
        # requests' exceptions hold request URLs, and with them the access token.
        try:
            result = call(graph)
        except facebook.GraphAPIError as exc:
            error = _graph_error(exc, self._last_status, self._secrets(), replying=replying)
        except requests.Timeout as exc:
            error = PlatformError(
                f"Facebook did not answer within {self.timeout:g} s: {_scrub(str(exc), self._secrets())}",
                code="timeout",
            )
        except requests.JSONDecodeError:
            # A body labelled JSON that is not, such as one cut short by a proxy.
            error = PlatformError(
                "Facebook sent a body that is not valid JSON.", status=self._last_status, code="bad_response"
            )
        except requests.RequestException as exc:
            error = PlatformError(
                f"Could not reach Facebook: {_scrub(str(exc), self._secrets())}",
                status=self._last_status,
                code="connection_error",
            )
        except KeyError:
            # facebook-sdk reads response.headers["content-type"] unguarded: a response without one (a broken
            # proxy) raises KeyError.
            error = PlatformError(
                "Facebook answered without a Content-Type header.", status=self._last_status, code="bad_response"
            )
        if error is not None:
            raise error
        if not isinstance(result, dict):
            raise PlatformError(
                f"Facebook answered {what} with {type(result).__name__}, not a JSON object.",
                status=self._last_status,
                code="bad_response",
            )
        if self._last_status is not None and self._last_status >= 500:
            raise PlatformError(
                f"Facebook answered HTTP {self._last_status} without an error object.",
                status=self._last_status,
                code="server_error",
            )
        return result

    def _secrets(self) -> tuple[str, ...]:
        token = self.account.credentials.get("page_access_token", "")
        return (token,) if token else ()


def next_args(response: Mapping[str, Any]) -> dict[str, str] | None:
    link = next_link(response)
    return link[1] if link else None


def next_link(response: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The path and query of ``paging.next``, without the access token it embeds."""
    paging = response.get("paging")
    if not isinstance(paging, dict):
        return None
    url = paging.get("next")
    if not isinstance(url, str) or not url:
        return None
    parsed = urlparse(url)
    path = parsed.path.lstrip("/")
    if not path:
        raise MalformedPayload("paging.next has no path.")
    query = parse_qs(parsed.query, keep_blank_values=True)
    return path, {name: values[-1] for name, values in query.items() if name not in _SECRET_PARAMS}


def _graph_error(
    exc: facebook.GraphAPIError, status: int | None, secrets: tuple[str, ...], *, replying: bool = False
) -> PlatformError:
    """The ``PlatformError`` for a Graph error object.

    With ``replying``, code 100 (the object does not exist or cannot be loaded, e.g. a deleted comment) and 551
    (Messenger cannot reach the person) are ``target_gone``: the thing the reply answers is gone. Elsewhere 100 is
    ``bad_request``, which polling reads as an expired paging cursor.
    """
    result = exc.result if isinstance(exc.result, dict) else {}
    error = result.get("error")
    details: dict[str, Any] = error if isinstance(error, dict) else {}
    code = int_or_none(details.get("code"))
    subcode = int_or_none(details.get("error_subcode"))
    text = _scrub(str(exc.message), secrets)
    label = "" if code is None else f" (code {code}{'' if subcode is None else f', subcode {subcode}'})"

    if code == 190:
        return PlatformError(
            f"Facebook rejected the Page access token{label}: {text} Reconnect the Page.",
            permanent=True,
            status=status,
            code="unauthorized",
        )
    if code in _RATE_LIMIT_CODES:
        # A fixed pause: the usage headers that sometimes estimate the time to regain access are not read.
        return PlatformError(
            f"Facebook rate limit reached{label}: {text}",
            retry_at=datetime.now(UTC) + RATE_LIMIT_BACKOFF,
            status=status,
            code="rate_limited",
        )
    if code == 10 and subcode == _OUTSIDE_WINDOW_SUBCODE:
        return PlatformError(
            f"Messenger allows replies only within 24 hours of the customer's last message{label}: {text}",
            permanent=True,
            status=status,
            code="outside_window",
        )
    if replying and code in (100, _PERSON_UNAVAILABLE_CODE):
        return PlatformError(
            f"The post, comment or person this reply answers is gone or cannot be reached{label}: {text}",
            permanent=True,
            status=status,
            code="target_gone",
        )
    if code == 100:
        return PlatformError(
            f"Facebook refused the request{label}: {text}", permanent=True, status=status, code="bad_request"
        )
    if code in _SERVER_ERROR_CODES or details.get("is_transient") is True:
        return PlatformError(f"Facebook had a temporary problem{label}: {text}", status=status, code="server_error")
    if code == 10 or (code is not None and 200 <= code <= 299):
        # Permission errors: the token lacks a permission (pages_read_engagement, pages_messaging, ...).
        return PlatformError(
            f"Facebook denied permission{label}: {text} Reconnect the Page with the required permissions.",
            permanent=True,
            status=status,
            code="forbidden",
        )
    if code is None:
        # Not a Graph error object: facebook-sdk raises GraphAPIError("Maintype was not text, image, or
        # querystring") for a body that is not JSON, such as a proxy's HTML 502 page.
        where = f"HTTP {status}" if status else "a response"
        return PlatformError(
            f"Facebook sent {where} that is not a Graph API answer: {text}",
            status=status,
            code="server_error" if status is not None and status >= 500 else "bad_response",
        )
    return PlatformError(f"Facebook API error{label}: {text}", status=status, code="api_error")


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Remove tokens from text: facebook-sdk and requests put request URLs, token included, in their messages."""
    for secret in secrets:
        if len(secret) >= 8:  # a real token is far longer; a short test value would mangle the message
            text = text.replace(secret, "[redacted]")
    text = _SECRET_IN_TEXT.sub(r"\1=[redacted]", text)
    if len(text) > _MAX_MESSAGE_LENGTH:
        text = text[: _MAX_MESSAGE_LENGTH - 1] + "…"
    return text
