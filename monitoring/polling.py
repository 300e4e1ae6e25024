"""Polling social sources: claim what is due, fetch, store, then move the cursor.

Order matters for "never lost, never twice": the posts are stored (each batch
committed) before the cursor is saved, so a crash anywhere re-reads from the
old cursor and the re-read posts are no-ops. A poll is claimed with a lease
(conditional update), so two schedulers or workers never poll the same source
at once; a crashed worker's lease simply expires.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from core.notifications import notify_admins
from monitoring.credentials import CredentialsUnreadable, credentials_for
from monitoring.models import ListeningQuery, PollState, SocialAccount
from monitoring.pipeline import IngestStats, ingest
from monitoring.platforms import AccountRef, Page, PlatformError, QuerySpec, connector_class

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
CREDENTIAL_ERRORS = frozenset({"unauthorized", "no_credentials", "credentials_unreadable"})
"""Permanent errors that are the account's, not the query's: they disable the account too."""
MAX_BACKOFF = timedelta(hours=1)


def claim_due(model: Any, now: datetime | None = None) -> list[int]:
    """Ids of enabled sources whose poll is due, each now leased to the caller."""
    now = now or timezone.now()
    due = model.objects.filter(enabled=True, next_poll_at__lte=now).filter(
        Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now)
    )
    if model is ListeningQuery:
        due = due.filter(account__enabled=True)
    claimed = []
    for pk in due.values_list("pk", flat=True)[:500]:
        # The lease is taken only if nobody took it since we looked.
        taken = (
            model.objects.filter(pk=pk, enabled=True, next_poll_at__lte=now)
            .filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now))
            .update(poll_lease_until=now + LEASE)
        )
        if taken:
            claimed.append(pk)
    return claimed


def account_ref(account: SocialAccount) -> AccountRef:
    return AccountRef(
        id=account.pk,
        platform=account.platform,
        external_id=account.external_id,
        handle=account.handle,
        credentials=credentials_for(account),
        settings=account.connection_settings(),
    )


def do_poll_account(account_id: int) -> IngestStats | None:
    account = SocialAccount.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        return None
    return _poll(account, account, lambda connector: connector.poll(account.cursor))


def do_poll_query(query_id: int) -> IngestStats | None:
    query = ListeningQuery.objects.select_related("account").filter(pk=query_id, enabled=True).first()
    if query is None or not query.account.enabled:
        return None
    spec = QuerySpec(
        id=query.pk,
        keywords=list(query.keywords),
        hashtags=list(query.hashtags),
        phrases=list(query.phrases),
        exclusions=list(query.exclusions),
        languages=list(query.languages),
    )
    return _poll(query, query.account, lambda connector: connector.search(spec, query.cursor))


def _poll(source: PollState, account: SocialAccount, fetch: Any) -> IngestStats | None:
    try:
        connector = connector_class(account.platform)(account_ref(account), timeout=settings.PLATFORM_TIMEOUT_SECONDS)
        if not connector.can_poll():
            _not_polled(source)
            return None
        page: Page = fetch(connector)
    except CredentialsUnreadable as error:
        _failed(source, account, PlatformError(str(error), permanent=True, code="credentials_unreadable"))
        return None
    except PlatformError as error:
        _failed(source, account, error)
        return None
    except Exception as error:
        logger.exception("polling %s failed unexpectedly", source)
        _failed(source, account, PlatformError(f"unexpected error: {type(error).__name__}", code="internal"))
        return None
    query_id = source.pk if isinstance(source, ListeningQuery) else None
    posts = [
        dataclasses.replace(post, account_id=account.pk, query_id=query_id or post.query_id) for post in page.posts
    ]
    stats = ingest(posts, page.deletions)
    now = timezone.now()
    notices = "\n".join(page.notices)
    # Saved only now that every post of the page is stored.
    source_model: Any = type(source)
    source_model.objects.filter(pk=source.pk).update(
        cursor=page.cursor,
        last_polled_at=now,
        # More waiting (a mailbox's backlog): due again at once, for the next scheduler run to claim.
        next_poll_at=now if page.more else now + timedelta(seconds=source.poll_interval_seconds),
        poll_lease_until=None,
        consecutive_failures=0,
        last_error=notices[:2000],
        **({"last_error_at": now} if notices else {}),
    )
    if notices:
        notify_admins(
            f"Switchboard skipped messages of {source}",
            f"Polling {source} skipped what it could not store:\n\n{notices}\n\n"
            "The rest was stored, and polling goes on.",
        )
    return stats


NOT_POLLED = "Not polled: the account has no polling credentials. Its webhook deliveries are still captured."


def _not_polled(source: PollState) -> None:
    """A webhook-only account (or a query of one): not polled, not failed, not disabled; looked at again later.

    The note in ``last_error`` tells an admin why nothing is polled; adding credentials starts polling.
    """
    now = timezone.now()
    source_model: Any = type(source)
    source_model.objects.filter(pk=source.pk).update(
        poll_lease_until=None,
        next_poll_at=now + timedelta(seconds=source.poll_interval_seconds),
        last_error=NOT_POLLED,
        last_error_at=None,
    )


def _failed(source: PollState, account: SocialAccount, error: PlatformError) -> None:
    now = timezone.now()
    failures = source.consecutive_failures + 1
    changes: dict[str, Any] = {
        "poll_lease_until": None,
        "last_error": error.message[:2000],
        "last_error_at": now,
        "consecutive_failures": failures,
    }
    if error.permanent:
        # A query the platform refuses is that query's problem; a refused
        # credential is the whole account's. Either way the others go on.
        changes["enabled"] = False
        if isinstance(source, SocialAccount):
            changes["disabled_reason"] = error.message[:300]
        elif error.code in CREDENTIAL_ERRORS:
            SocialAccount.objects.filter(pk=account.pk).update(
                enabled=False, disabled_reason=error.message[:300], last_error=error.message[:2000], last_error_at=now
            )
        notify_admins(
            f"Switchboard stopped polling {source}",
            f"{source} was disabled after a permanent error from {account.get_platform_display()}:\n\n"
            f"{error.message}\n\nFix the cause (for example new credentials in the admin) and enable it again.",
        )
        logger.warning("disabled %s: %s", source, error.message)
    elif error.retry_at is not None:
        changes["next_poll_at"] = max(error.retry_at, now) + timedelta(seconds=random.uniform(0, 5))
        logger.info("%s rate limited until %s", source, error.retry_at)
    else:
        # Exponential back-off with jitter, so many sources failing together
        # do not all return at the same instant.
        backoff = min(MAX_BACKOFF, timedelta(seconds=source.poll_interval_seconds * 2 ** min(failures, 10)))
        changes["next_poll_at"] = now + backoff * random.uniform(0.8, 1.2)
        logger.info("%s failed (%s); retrying in about %s", source, error.message, backoff)
    source_model: Any = type(source)
    source_model.objects.filter(pk=source.pk).update(**changes)
