"""Admin for mailboxes: the address, its IMAP and SMTP servers, write-only passwords, and where its mail goes.

A mailbox is saved with its capture source (a ``SocialAccount`` on platform ``email``), which holds the poll
schedule, the cursor and the encrypted passwords; the admin edits both as one thing.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from monitoring import credentials
from monitoring.mailboxes import do_set_mailbox_queue, mailbox_queue_id
from monitoring.models import Mailbox, SocialAccount, SocialPlatform
from monitoring.platforms.email.connection import test_connection
from monitoring.polling import account_ref
from routing.models import Queue

PASSWORDS = credentials.FIELDS[SocialPlatform.EMAIL]


def _password(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave blank to keep the stored value. Stored encrypted, never shown.",
    )


class MailboxForm(forms.ModelForm):
    name = forms.CharField(max_length=100, help_text="For people and for the pipe command, e.g. 'help'.")
    enabled = forms.BooleanField(required=False, initial=True)
    poll_interval_seconds = forms.IntegerField(min_value=5, max_value=86_400, initial=60, label="Poll every (s)")
    imap_password = _password("IMAP password")
    smtp_password = _password("SMTP password")
    queue = forms.ModelChoiceField(
        Queue.objects.all(),
        required=False,
        help_text="Where its mail goes: kept as a routing rule on this mailbox (Routing rules can refine it). "
        "Empty: the routing rules on channel email decide.",
    )

    class Meta:
        model = Mailbox
        fields = [
            "address",
            "from_name",
            "signature",
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_user",
            "imap_folder",
            "sent_folder",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "smtp_user",
            "message_id_domain",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mailbox: Mailbox = self.instance
        if mailbox.pk:
            account = mailbox.account
            self.initial.update(
                name=account.name, enabled=account.enabled, poll_interval_seconds=account.poll_interval_seconds
            )
            self.initial["queue"] = mailbox_queue_id(account, mailbox.address)

    def clean_address(self) -> str:
        address: str = self.cleaned_data["address"].strip().lower()
        taken = SocialAccount.objects.filter(platform=SocialPlatform.EMAIL, external_id=address)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("Another mailbox has this address.")
        return address

    @transaction.atomic
    def save(self, commit: bool = True) -> Mailbox:
        mailbox: Mailbox = super().save(commit=False)
        account = mailbox.account if mailbox.pk else SocialAccount(platform=SocialPlatform.EMAIL)
        old_address = account.external_id
        account.external_id = mailbox.address
        account.handle = mailbox.address
        account.name = self.cleaned_data["name"]
        account.enabled = self.cleaned_data["enabled"]
        account.poll_interval_seconds = self.cleaned_data["poll_interval_seconds"]
        try:
            stored = credentials.stored_credentials(account) if account.pk else {}
        except credentials.CredentialsUnreadable:
            stored = {}
        entered = {name: self.cleaned_data[name] for name in PASSWORDS if self.cleaned_data.get(name)}
        merged = {**stored, **entered}
        account.credentials_encrypted = credentials.encrypt(merged) if merged else ""
        account.save()
        mailbox.account = account
        mailbox.save()
        do_set_mailbox_queue(account, mailbox.address, self.cleaned_data.get("queue"), old_address=old_address)
        return mailbox

    def save_m2m(self) -> None:  # the admin calls it after save(commit=False); a mailbox has none
        return None


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    form = MailboxForm
    list_display = ["address", "name", "enabled", "imap_host", "smtp_host", "last_polled_at", "last_error"]
    list_select_related = ["account"]
    search_fields = ["address", "account__name"]
    readonly_fields = ["passwords", "last_polled_at", "last_error", "disabled_reason", "cursor"]
    actions = ["check_connection", "poll_now", "enable"]
    fieldsets = [
        (None, {"fields": ["address", "name", "from_name", "enabled", "queue", "signature"]}),
        (
            "Reading mail (IMAP)",
            {
                "fields": ["imap_host", "imap_port", "imap_security", "imap_user", "imap_password", "imap_folder"],
                "description": "No host: the mailbox is not polled; mail comes by the receive_email pipe command.",
            },
        ),
        (
            "Sending replies (SMTP)",
            {"fields": ["smtp_host", "smtp_port", "smtp_security", "smtp_user", "smtp_password", "sent_folder"]},
        ),
        ("Advanced", {"fields": ["message_id_domain", "poll_interval_seconds"], "classes": ["collapse"]}),
        ("State", {"fields": ["passwords", "last_polled_at", "last_error", "disabled_reason", "cursor"]}),
    ]

    @admin.display(description="Name", ordering="account__name")
    def name(self, mailbox: Mailbox) -> str:
        return mailbox.account.name

    @admin.display(boolean=True, description="Enabled")
    def enabled(self, mailbox: Mailbox) -> bool:
        return mailbox.account.enabled

    @admin.display(description="Passwords")
    def passwords(self, mailbox: Mailbox) -> str:
        return credentials.describe(mailbox.account) if mailbox.pk else "none yet"

    @admin.display(description="Last polled")
    def last_polled_at(self, mailbox: Mailbox) -> Any:
        return mailbox.account.last_polled_at

    @admin.display(description="Last error")
    def last_error(self, mailbox: Mailbox) -> str:
        return mailbox.account.last_error[:200]

    @admin.display(description="Disabled because")
    def disabled_reason(self, mailbox: Mailbox) -> str:
        return mailbox.account.disabled_reason

    @admin.display(description="Cursor (UIDVALIDITY, last UID)")
    def cursor(self, mailbox: Mailbox) -> Any:
        return mailbox.account.cursor

    def delete_model(self, request: HttpRequest, obj: Mailbox) -> None:
        obj.account.delete()  # the mailbox goes with its account

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        SocialAccount.objects.filter(mailbox__in=queryset).delete()

    @admin.action(description="Test the connection (IMAP login and folder, SMTP login)")
    def check_connection(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        for mailbox in queryset.select_related("account"):
            try:
                problems = test_connection(account_ref(mailbox.account))
            except credentials.CredentialsUnreadable as error:
                problems = [str(error)]
            if problems:
                self.message_user(request, f"{mailbox}: " + "; ".join(problems), messages.ERROR)
            else:
                self.message_user(
                    request, f"{mailbox}: IMAP and SMTP answered and accepted the login.", messages.SUCCESS
                )

    @admin.action(description="Poll selected now")
    def poll_now(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        count = SocialAccount.objects.filter(mailbox__in=queryset).update(
            next_poll_at=timezone.now(), poll_lease_until=None
        )
        self.message_user(request, f"{count} mailbox(es) will be polled within seconds.", messages.SUCCESS)

    @admin.action(description="Enable selected (after fixing the cause)")
    def enable(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        count = SocialAccount.objects.filter(mailbox__in=queryset).update(
            enabled=True, disabled_reason="", consecutive_failures=0, next_poll_at=timezone.now(), poll_lease_until=None
        )
        self.message_user(request, f"{count} mailbox(es) enabled.", messages.SUCCESS)
