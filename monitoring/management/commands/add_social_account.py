"""Register a social account from a script; running it again for the same account changes nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.credentials import credentials_for
from monitoring.models import SocialAccount, SocialPlatform


class Command(BaseCommand):
    help = (
        "Register an X account (by user id) or a Facebook Page (by Page id) to monitor. Credentials come from "
        "the environment (X_*, FACEBOOK_PAGE_ACCESS_TOKEN) or are set later in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("platform", choices=[SocialPlatform.X, SocialPlatform.FACEBOOK])
        parser.add_argument("external_id", help="The X user id or Facebook Page id (digits).")
        parser.add_argument("--name", required=True, help="A name for people, e.g. 'Northwind Help'.")
        parser.add_argument("--handle", default="", help="@handle or Page name, for display.")
        parser.add_argument("--interval", type=int, default=60, help="Seconds between polls (5 to 86400).")

    def handle(
        self, *args: Any, platform: str, external_id: str, name: str, handle: str, interval: int, **options: Any
    ) -> None:
        if not external_id.isdigit():
            raise CommandError(f"{external_id!r} is not a platform id: use the numeric X user id or Facebook Page id.")
        if not 5 <= interval <= 86_400:
            raise CommandError("--interval must be between 5 and 86400 seconds.")
        account, created = SocialAccount.objects.get_or_create(
            platform=platform,
            external_id=external_id,
            defaults={"name": name, "handle": handle, "poll_interval_seconds": interval},
        )
        if not created:
            self.stdout.write(f"{account} is already registered (id {account.pk}); nothing changed.")
            return
        present = sorted(credentials_for(account))
        self.stdout.write(self.style.SUCCESS(f"Registered {account} (id {account.pk})."))
        self.stdout.write(
            f"Credentials from the environment: {', '.join(present)}."
            if present
            else "No polling credentials: the account is not polled, and its webhook deliveries are captured. "
            "Set credentials in the admin or the environment to poll it too."
        )
