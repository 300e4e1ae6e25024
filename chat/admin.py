"""Admin for chat channels: the widget's look and texts, its allowed origins, its secret and where chats go.

A chat channel is saved with its capture source (a ``SocialAccount`` on platform ``chat``), which holds the
encrypted identity secret; the admin edits both as one thing, as it does for mailboxes.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from chat.colours import AA_NORMAL_TEXT, contrast_ratio
from chat.models import HEX_COLOUR, ChatChannel, Visitor
from chat.queries import channel_queue, queue_rule_name
from monitoring import credentials
from monitoring.mailboxes import account_queue_id, do_set_account_queue
from monitoring.models import SocialAccount, SocialPlatform
from routing.models import Queue

GENERATE = "generate"
"""Typed as the identity secret: make a new random one."""


def check_origin(line: str) -> str:
    """``scheme://host[:port]``, lower-cased, or ``ValueError`` saying what is wrong with ``line``."""
    origin = line.strip().rstrip("/")
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        raise ValueError(f"{line.strip()!r} is not an origin: give scheme://host[:port].") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{line.strip()!r} is not an origin: give http(s)://host[:port], e.g. https://www.a.example.")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{line.strip()!r} has more than an origin: keep only scheme://host[:port], no path.")
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port is not None else "")


def _colour(value: object) -> str:
    colour = str(value).strip().lower()
    HEX_COLOUR(colour)  # here, before clean() compares the two; the model validates only after it
    return colour


class ChatChannelForm(forms.ModelForm):
    queue = forms.ModelChoiceField(
        Queue.objects.all(),
        required=False,
        help_text="Where its chats go: kept as a routing rule on this channel (Routing rules can refine it). "
        "Empty: the default queue, and the routing rules on channel chat decide.",
    )
    identity_secret = forms.CharField(
        label="Identity secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="The key the host site signs its users' ids with (see the docs). Leave blank to keep the stored "
        "one (a new channel gets a random one); 'generate' makes a new random one, shown once after saving. "
        "Stored encrypted, never shown again.",
    )

    class Meta:
        model = ChatChannel
        fields = [
            "key",
            "name",
            "enabled",
            "allowed_origins",
            "greeting",
            "offline_text",
            "business_hours_text",
            "primary_colour",
            "text_colour",
            "prechat_name",
            "prechat_email",
            "prechat_topic",
            "topics",
            "max_wait_seconds",
            "mailbox",
        ]
        widgets = {"allowed_origins": forms.Textarea(attrs={"rows": 3}), "topics": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        channel: ChatChannel = self.instance
        if channel.pk:
            self.initial["queue"] = account_queue_id(channel.account, queue_rule_name(channel.key))

    def clean_allowed_origins(self) -> str:
        origins, problems = [], []
        for line in str(self.cleaned_data["allowed_origins"]).splitlines():
            if not line.strip():
                continue
            try:
                origins.append(check_origin(line))
            except ValueError as error:
                problems.append(str(error))
        if problems:
            raise forms.ValidationError(problems)
        return "\n".join(dict.fromkeys(origins))

    def clean_primary_colour(self) -> str:
        return _colour(self.cleaned_data["primary_colour"])

    def clean_text_colour(self) -> str:
        return _colour(self.cleaned_data["text_colour"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        primary, text = data.get("primary_colour"), data.get("text_colour")
        if primary and text:
            ratio = contrast_ratio(primary, text)
            if ratio < AA_NORMAL_TEXT:
                self.add_error(
                    "text_colour",
                    f"The text colour on the primary colour has a contrast of {ratio:.2f}:1; WCAG AA needs at least "
                    f"{AA_NORMAL_TEXT}:1 so everyone can read the widget. Darken one colour or lighten the other.",
                )
        return data

    def clean_identity_secret(self) -> str:
        secret = str(self.cleaned_data.get("identity_secret") or "")
        if secret and secret != GENERATE and len(secret) < 16:
            raise forms.ValidationError("Give at least 16 characters, or 'generate' for a random secret.")
        return secret

    @transaction.atomic
    def save(self, commit: bool = True) -> ChatChannel:
        channel: ChatChannel = super().save(commit=False)
        account = channel.account if channel.pk else SocialAccount(platform=SocialPlatform.CHAT)
        old_key = account.external_id
        account.external_id = channel.key
        account.handle = channel.key
        account.name = channel.name
        account.enabled = channel.enabled
        try:
            stored = credentials.stored_credentials(account) if account.pk else {}
        except credentials.CredentialsUnreadable:
            stored = {}
        entered = str(self.cleaned_data.get("identity_secret") or "")
        self.generated_secret = ""
        if entered == GENERATE or (not entered and not stored.get("identity_secret")):
            entered = self.generated_secret = secrets.token_urlsafe(32)
        if entered:
            stored["identity_secret"] = entered
        account.credentials_encrypted = credentials.encrypt(stored)
        account.save()
        channel.account = account
        channel.save()
        do_set_account_queue(
            account,
            queue_rule_name(channel.key),
            self.cleaned_data.get("queue"),
            old_rule_name=queue_rule_name(old_key) if old_key else "",
        )
        return channel

    def save_m2m(self) -> None:  # the admin calls it after save(commit=False); a chat channel has none
        return None


@admin.register(ChatChannel)
class ChatChannelAdmin(admin.ModelAdmin):
    form = ChatChannelForm
    list_display = ["key", "name", "enabled", "mailbox", "queue"]
    search_fields = ["key", "name"]
    readonly_fields = ["secret"]
    fieldsets = [
        (None, {"fields": ["key", "name", "enabled", "queue", "mailbox", "max_wait_seconds"]}),
        ("Where the widget may run", {"fields": ["allowed_origins"]}),
        (
            "Look and texts",
            {"fields": ["primary_colour", "text_colour", "greeting", "offline_text", "business_hours_text"]},
        ),
        ("Pre-chat form", {"fields": ["prechat_name", "prechat_email", "prechat_topic", "topics"]}),
        ("Identity verification", {"fields": ["identity_secret", "secret"]}),
    ]

    def save_model(self, request: HttpRequest, obj: ChatChannel, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if getattr(form, "generated_secret", ""):
            # Shown this once, to whoever saved it: the host site needs it to sign its users' ids.
            self.message_user(
                request,
                f"New identity secret of {obj.key}: {form.generated_secret} — put it in your site's configuration "
                "now; it is stored encrypted and will not be shown again.",
                messages.WARNING,
            )

    @admin.display(description="Queue")
    def queue(self, channel: ChatChannel) -> str:
        queue = channel_queue(channel)
        return str(queue) if queue else "-"

    @admin.display(description="Stored secret")
    def secret(self, channel: ChatChannel) -> str:
        return credentials.describe(channel.account) if channel.pk else "none yet (one is generated on save)"

    def delete_model(self, request: HttpRequest, obj: ChatChannel) -> None:
        obj.account.delete()  # the channel goes with its account

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChatChannel]) -> None:
        SocialAccount.objects.filter(chat_channel__in=queryset).delete()


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "name", "email", "verified_id", "created_at", "last_seen_at", "sockets"]
    list_filter = ["channel"]
    search_fields = ["name", "email", "verified_id"]
    readonly_fields = [field.name for field in Visitor._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
