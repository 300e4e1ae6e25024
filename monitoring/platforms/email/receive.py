"""Mail handed over by a mail server (the ``receive_email`` pipe command): stored like polled mail."""

from __future__ import annotations

from django.db.models import Q

from monitoring.models import Mailbox
from monitoring.pipeline import IngestStats, ingest
from monitoring.platforms.email.inbound import prepare_posts
from monitoring.platforms.email.parsing import parse_email


class UnknownMailbox(LookupError):
    """No mailbox goes by that name."""


def find_mailbox(name: str) -> Mailbox:
    """The mailbox ``name`` stands for: its address, its account's name, or its id."""
    name = name.strip()
    match = Q(address__iexact=name) | Q(account__name__iexact=name)
    if name.isdigit() and len(name) < 19:
        match |= Q(pk=int(name))
    mailbox = Mailbox.objects.select_related("account").filter(match).order_by("pk").first()
    if mailbox is None:
        raise UnknownMailbox(f"No mailbox {name!r}: give its address, its name or its id (see the admin's Mailboxes).")
    return mailbox


def do_receive_email(mailbox: Mailbox, raw: bytes) -> IngestStats:
    """Store one RFC 5322 message for ``mailbox``; storing it again is a no-op (``duplicates`` = 1).

    Raises ``MalformedEmail`` for bytes that are no message, and the database's errors as they come: the caller
    (the pipe command) turns those into "try again later" for the mail server, so nothing is lost.
    """
    parsed = parse_email(raw)
    return ingest(prepare_posts([parsed], account_id=mailbox.account_id))
