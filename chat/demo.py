"""The embedded default's demo chat channel (key ``demo``), which the demo customer page at /chat/demo/ uses."""

from __future__ import annotations

import secrets

from django.conf import settings

from chat.models import ChatChannel
from chat.queries import queue_rule_name
from monitoring.credentials import encrypt
from monitoring.mailboxes import do_set_account_queue
from monitoring.models import Mailbox, SocialAccount, SocialPlatform
from routing.models import Queue

DEMO_CHAT = "demo"


def demo_origins() -> str:
    """The site itself (the demo page is served by Switchboard) and the usual local addresses of ``make run``."""
    return "\n".join(dict.fromkeys([settings.SITE_URL.lower(), "http://127.0.0.1:8000", "http://localhost:8000"]))


def seed_demo_chat_channel(queue: Queue, mailbox: Mailbox | None) -> ChatChannel:
    """The demo chat channel, its chats routed to ``queue``, left messages to ``mailbox``; one that exists is kept
    (with the site's own origin added to those it allows).

    Its identity secret is random (none is shown: the demo page signs no identity).
    """
    existing = ChatChannel.objects.filter(key=DEMO_CHAT).first()
    if existing is not None:
        # `make run PORT=...` serves the demo page at another address: its origin joins those allowed.
        origins = existing.allowed_origins.split()
        if settings.SITE_URL.lower() not in origins:
            existing.allowed_origins = "\n".join([*origins, settings.SITE_URL.lower()])
            existing.save(update_fields=["allowed_origins"])
        return existing
    account, _ = SocialAccount.objects.get_or_create(
        platform=SocialPlatform.CHAT,
        external_id=DEMO_CHAT,
        defaults={
            "name": "Northwind chat",
            "handle": DEMO_CHAT,
            "credentials_encrypted": encrypt({"identity_secret": secrets.token_urlsafe(32)}),
        },
    )
    channel = ChatChannel.objects.create(
        account=account,
        key=DEMO_CHAT,
        name="Northwind chat",
        allowed_origins=demo_origins(),
        greeting="Hello! Ask us anything about your service or your bill.",
        business_hours_text="Every day, around the clock (it is a demo).",
        prechat_topic="optional",
        topics="Billing\nOutage\nSomething else",
        mailbox=mailbox,
    )
    do_set_account_queue(account, queue_rule_name(DEMO_CHAT), queue)
    return channel
