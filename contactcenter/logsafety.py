"""Keeping credentials out of the logs.

Two layers. The HTTP libraries that carry platform credentials log them at
DEBUG (tweepy logs every request's headers, ``Authorization: Bearer ...``
included; urllib3 logs every URL, and Graph API URLs carry ``access_token=``),
so settings keep those loggers at INFO whatever ``LOG_LEVEL`` says
(:data:`CHATTY_LOGGERS`). And every record our handler writes passes
:class:`RedactSecrets`, which blanks anything shaped like a credential, in case
some other library logs one at a level we do keep, and every query string's
values: access logs (uvicorn's, Django's) write each request's path with its
query string, and query strings carry secrets the patterns cannot know by name
(Meta's ``hub.verify_token``) and customer text (a search, a draft). The keys
stay, so a line still says which parameters a request had:
``/webhooks/facebook/?hub.mode=[redacted]&hub.verify_token=[redacted]``.
settings.LOGGING routes every logger (uvicorn's and Django's included) to that
one handler.
"""

from __future__ import annotations

import logging
import re

CHATTY_LOGGERS = ("tweepy", "urllib3", "requests_oauthlib", "oauthlib", "facebook")
"""Libraries whose DEBUG output includes credentials; kept at INFO."""

_PATTERNS = [
    # Authorization headers and OAuth 1.0a header parameters.
    re.compile(r"(?P<keep>\b(?:Bearer|Token|Basic)\s+)[A-Za-z0-9._~+/=%-]{8,}", re.IGNORECASE),
    re.compile(r"(?P<keep>\boauth_(?:token|signature|consumer_key)=\"?)[^\"&,\s]+", re.IGNORECASE),
    # Secrets in query strings and form bodies (Graph API access tokens, app secrets).
    re.compile(r"(?P<keep>\b(?:access_token|appsecret_proof|client_secret|password|secret)=)[^&\s'\"]+", re.IGNORECASE),
]
REDACTED = "[redacted]"

_QUERY_STRING = re.compile(r"(?<=[^\s?])\?(?P<query>[^\s\"'<>#]+)")
"""A ``?`` right after a path or URL, and what follows it up to a space, quote or fragment."""


def _blank_values(match: re.Match[str]) -> str:
    parts = re.split(r"([&;])", match.group("query"))
    for index in range(0, len(parts), 2):  # the separators sit at odd indexes
        key, equals, _value = parts[index].partition("=")
        if equals:
            parts[index] = f"{key}={REDACTED}"
        elif key:
            parts[index] = REDACTED  # a bare item may be a secret itself
    return "?" + "".join(parts)


def redact(text: str) -> str:
    text = _QUERY_STRING.sub(_blank_values, text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group("keep") + REDACTED, text)
    return text


_TRACEBACKS = logging.Formatter()


class RedactSecrets(logging.Filter):
    """Rewrites each record's message, traceback and stack with credentials and query values blanked.

    The message is formatted once, here. The traceback is formatted here too (a
    formatter uses ``exc_text`` when it is set), since exceptions from HTTP
    libraries name the URL they failed on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
