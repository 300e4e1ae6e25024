"""X (Twitter): polling over API v2 with tweepy, replies, and the Account Activity webhook."""

from monitoring.platforms.x.connector import (
    DM_FORBIDDEN_PAUSE,
    XConnector,
    build_search_query,
    crc_response_token,
    parse_account_activity,
    signature_valid,
)

__all__ = [
    "DM_FORBIDDEN_PAUSE",
    "XConnector",
    "build_search_query",
    "crc_response_token",
    "parse_account_activity",
    "signature_valid",
]
