"""X (Twitter): polling over API v2 with tweepy, replies, and the Account Activity webhook.

- ``connector``: ``XConnector``, polling the account's mentions and direct messages and running listening
  queries through recent search;
- ``paging``: walking X's newest-first listings across polls;
- ``replies``: posting replies, and finding one already posted before a retry;
- ``client``: the account's tweepy client, its timeout, and X's errors as ``PlatformError``;
- ``webhooks``: pure functions (``crc_response_token``, ``signature_valid``, ``parse_account_activity``) for
  the view that owns the request, the secrets and the storage;
- ``objects``: what X's ids and language tags mean, in both API versions.

Payload shapes are checked by ``monitoring.platforms.payloads``, shared with the other platforms.
"""

from monitoring.platforms.x.client import PAGE_SIZE, RATE_LIMIT_FALLBACK
from monitoring.platforms.x.connector import (
    DM_EVENT_FIELDS,
    DM_EXPANSIONS,
    DM_FORBIDDEN_PAUSE,
    MAX_PAGES_PER_POLL,
    TWEET_EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    XConnector,
    build_search_query,
)
from monitoring.platforms.x.objects import NOT_A_LANGUAGE
from monitoring.platforms.x.replies import REPLY_LOOKUP_DM_EVENT_FIELDS, REPLY_LOOKUP_TWEET_FIELDS
from monitoring.platforms.x.webhooks import crc_response_token, parse_account_activity, signature_valid

__all__ = [
    "DM_EVENT_FIELDS",
    "DM_EXPANSIONS",
    "DM_FORBIDDEN_PAUSE",
    "MAX_PAGES_PER_POLL",
    "NOT_A_LANGUAGE",
    "PAGE_SIZE",
    "RATE_LIMIT_FALLBACK",
    "REPLY_LOOKUP_DM_EVENT_FIELDS",
    "REPLY_LOOKUP_TWEET_FIELDS",
    "TWEET_EXPANSIONS",
    "TWEET_FIELDS",
    "USER_FIELDS",
    "XConnector",
    "build_search_query",
    "crc_response_token",
    "parse_account_activity",
    "signature_valid",
]
