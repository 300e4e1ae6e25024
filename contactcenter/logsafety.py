"""Keeping credentials out of the logs.

Two layers. The HTTP libraries that carry platform credentials log them at
DEBUG (tweepy logs every request's headers, ``Authorization: Bearer ...``
included; urllib3 logs every URL, and Graph API URLs carry ``access_token=``),
so settings keep those loggers at INFO whatever ``LOG_LEVEL`` says
(:data:`CHATTY_LOGGERS`). And every record our handlers write passes
:class:`RedactSecrets`, which blanks anything shaped like a credential, in case
some other library logs one at a level we do keep.
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


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group("keep") + REDACTED, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record's message with credentials blanked (the record is formatted once, here)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
