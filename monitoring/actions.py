"""Webhook deliveries once verified: stored through capture, or held while their account is disabled.

A delivery is signed by the platform's app secret, not by the account's polling credentials: an account whose
token was revoked, or that an admin switched off, still has customers writing to it. Their posts are never
dropped. A delivery for a disabled account is held (``HeldDelivery``), shown in the admin, and processed once the
account is enabled again (``check_process_held_delivery``), through the same pipeline as any delivery.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from core.errors import Conflict, Invalid, NotFound
from monitoring.models import HeldDelivery, SocialAccount
from monitoring.pipeline import IngestStats, ingest
from monitoring.platforms import MalformedPayload, Page, WebhookEvents
from monitoring.platforms import facebook as facebook_platform
from monitoring.platforms import x as x_platform
from monitoring.platforms.payloads import json_document

logger = logging.getLogger(__name__)

PARSERS: dict[str, Callable[[object], WebhookEvents]] = {
    "facebook": facebook_platform.parse_webhook,
    "x": x_platform.parse_account_activity,
}
"""Each platform's webhook parser: what a delivery's JSON means, account by account."""


@dataclass
class DeliveryStats(IngestStats):
    held: int = 0
    """Posts and deletions held for disabled accounts."""


def parse_delivery(platform: str, body: bytes) -> WebhookEvents:
    """A delivery's body as posts and deletions per account; ``MalformedPayload`` when it is not the platform's."""
    return PARSERS[platform](json_document(body))


def do_receive_delivery(platform: str, body: bytes, events: WebhookEvents) -> DeliveryStats:
    """Store a verified delivery: the posts of enabled accounts go through capture, those of disabled ones are held.

    Preconditions: the signature was checked and ``events`` is ``parse_delivery(platform, body)``. Pages for an
    account Switchboard does not know are dropped (logged): nobody asked to monitor it.
    """
    accounts = {
        account.external_id: account
        for account in SocialAccount.objects.filter(platform=platform, external_id__in=list(events))
    }
    total = DeliveryStats()
    for external_id, page in events.items():
        account = accounts.get(external_id)
        if account is None:
            logger.info("%s webhook for unknown account %s dropped", platform, external_id)
            continue
        if not account.enabled:
            total.held += do_hold_delivery(account, body, page)
            continue
        _add(total, _ingest_page(account, page))
    return total


def do_hold_delivery(account: SocialAccount, body: bytes, page: Page) -> int:
    """Keep ``account``'s part of a delivery until it is enabled again; returns the posts and deletions held.

    A page with nothing in it (read receipts, echoes) is not worth holding. Precondition: ``body`` parsed (it is
    valid UTF-8 JSON).
    """
    items = len(page.posts) + len(page.deletions)
    if not items:
        return 0
    HeldDelivery.objects.create(
        account=account, body=body.decode("utf-8"), posts=len(page.posts), deletions=len(page.deletions)
    )
    logger.warning(
        "%s webhook for disabled account %s held (%d posts, %d deletions)",
        account.platform,
        account.pk,
        len(page.posts),
        len(page.deletions),
    )
    return items


def check_process_held_delivery(held_id: int) -> IngestStats:
    """Capture a held delivery's posts now that its account is enabled again.

    Raises ``NotFound`` (no such delivery), ``Conflict`` (already processed, or the account still disabled) and
    ``Invalid`` (the body no longer reads as a delivery: the error is kept on the delivery, which stays held).
    """
    held = HeldDelivery.objects.select_related("account").filter(pk=held_id).first()
    if held is None:
        raise NotFound(f"Held delivery {held_id} not found.")
    if held.processed_at is not None:
        raise Conflict(f"{held} was already processed.")
    if not held.account.enabled:
        raise Conflict(f"{held.account} is still disabled: enable it first.")
    try:
        events = parse_delivery(held.account.platform, held.body.encode("utf-8"))
    except MalformedPayload as error:
        HeldDelivery.objects.filter(pk=held.pk).update(last_error=str(error)[:2000])
        raise Invalid(f"{held} cannot be read: {error}") from None
    return do_process_held_delivery(held, events.get(held.account.external_id, Page()))


def do_process_held_delivery(held: HeldDelivery, page: Page) -> IngestStats:
    """Capture ``page`` (the held delivery's part for its account), then mark the delivery processed.

    Capture first: it is idempotent, so a crash in between, or two admins at once, at worst capture twice, which
    stores nothing twice. Precondition: the account is enabled.
    """
    stats = _ingest_page(held.account, page)
    HeldDelivery.objects.filter(pk=held.pk, processed_at=None).update(processed_at=timezone.now(), last_error="")
    return stats


def _ingest_page(account: SocialAccount, page: Page) -> IngestStats:
    posts = [dataclasses.replace(post, account_id=account.pk) for post in page.posts]
    return ingest(posts, page.deletions)


def _add(total: IngestStats, stats: IngestStats) -> None:
    for field in dataclasses.fields(IngestStats):
        setattr(total, field.name, getattr(total, field.name) + getattr(stats, field.name))
