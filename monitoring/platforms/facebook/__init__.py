"""Facebook Pages: the Page feed and Messenger, read by polling the Graph API and from Meta's webhooks."""

from monitoring.platforms.facebook.connector import (
    CONVERSATION_FIELDS,
    FEED_FIELDS,
    MESSENGER_CHANNEL,
    PUBLIC_CHANNEL,
    FacebookConnector,
    handshake_response,
    parse_webhook,
    signature_valid,
)

__all__ = [
    "CONVERSATION_FIELDS",
    "FEED_FIELDS",
    "MESSENGER_CHANNEL",
    "PUBLIC_CHANNEL",
    "FacebookConnector",
    "handshake_response",
    "parse_webhook",
    "signature_valid",
]
