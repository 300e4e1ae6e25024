"""Facebook Pages: the Page feed and Messenger, read by polling the Graph API and from Meta's webhooks.

- ``connector``: ``FacebookConnector``, polling the feed and the Messenger conversations;
- ``replies``: posting a comment or a Messenger message, and finding one already posted before a retry;
- ``client``: the Graph API through facebook-sdk, and its errors as token-free ``PlatformError``;
- ``webhooks``: pure functions (``signature_valid``, ``handshake_response``, ``parse_webhook``): no database, no
  Django models, no network;
- ``objects``: what Graph reads and webhooks have in common (channel names, ids, people, times).

Payload shapes are checked by ``monitoring.platforms.payloads``, shared with the other platforms.
"""

from monitoring.platforms.facebook.client import GRAPH_VERSION, RATE_LIMIT_BACKOFF
from monitoring.platforms.facebook.connector import (
    CONVERSATION_FIELDS,
    FEED_FIELDS,
    FIRST_POLL_LOOKBACK,
    MAX_NESTED_PAGES,
    SINCE_OVERLAP,
    FacebookConnector,
)
from monitoring.platforms.facebook.objects import MAX_ID_LENGTH, MESSENGER_CHANNEL, PLATFORM, PUBLIC_CHANNEL
from monitoring.platforms.facebook.replies import REPLY_LOOKUP_COMMENT_FIELDS, REPLY_LOOKUP_CONVERSATION_FIELDS
from monitoring.platforms.facebook.webhooks import handshake_response, parse_webhook, signature_valid

__all__ = [
    "CONVERSATION_FIELDS",
    "FEED_FIELDS",
    "FIRST_POLL_LOOKBACK",
    "GRAPH_VERSION",
    "MAX_ID_LENGTH",
    "MAX_NESTED_PAGES",
    "MESSENGER_CHANNEL",
    "PLATFORM",
    "PUBLIC_CHANNEL",
    "RATE_LIMIT_BACKOFF",
    "REPLY_LOOKUP_COMMENT_FIELDS",
    "REPLY_LOOKUP_CONVERSATION_FIELDS",
    "SINCE_OVERLAP",
    "FacebookConnector",
    "handshake_response",
    "parse_webhook",
    "signature_valid",
]
