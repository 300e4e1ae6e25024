"""Admin for what Switchboard listens to. Credentials go in, and are never shown back."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from monitoring import credentials
from monitoring.models import (
    BlockedAuthor,
    ClassificationRule,
    FilterRule,
    ListeningQuery,
    SocialAccount,
    TrackedKeyword,
)

SECRET_FIELDS = sorted({name for names in credentials.FIELDS.values() for name in names})


def _secret(name: str) -> forms.CharField:
    platforms = [platform for platform, names in credentials.FIELDS.items() if name in names]
    return forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=f"{', '.join(platforms)}; leave blank to keep the stored value.",
    )


class SocialAccountForm(forms.ModelForm):
    """Adds one write-only input per credential: blank keeps what is stored."""

    bearer_token = _secret("bearer_token")
    consumer_key = _secret("consumer_key")
    consumer_secret = _secret("consumer_secret")
    access_token = _secret("access_token")
    access_token_secret = _secret("access_token_secret")
    page_access_token = _secret("page_access_token")
    clear_credentials = forms.BooleanField(
        required=False, help_text="Forget every stored credential (the environment's are used, if any)."
    )

    class Meta:
        model = SocialAccount
        fields = ["platform", "external_id", "name", "handle", "enabled", "poll_interval_seconds"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        platform = cleaned.get("platform")
        allowed = set(credentials.FIELDS.get(platform or "", ()))
        for name in SECRET_FIELDS:
            if cleaned.get(name) and name not in allowed:
                self.add_error(name, f"Not a credential of {platform}.")
        return cleaned

    def save(self, commit: bool = True) -> SocialAccount:
        account: SocialAccount = super().save(commit=False)
        stored = {} if self.cleaned_data.get("clear_credentials") else self._stored(account)
        entered = {name: self.cleaned_data[name] for name in SECRET_FIELDS if self.cleaned_data.get(name)}
        merged = {**stored, **entered}
        account.credentials_encrypted = credentials.encrypt(merged) if merged else ""
        if commit:
            account.save()
        return account

    @staticmethod
    def _stored(account: SocialAccount) -> dict[str, str]:
        try:
            return credentials.stored_credentials(account)
        except credentials.CredentialsUnreadable:
            return {}


class ListeningQueryInline(admin.TabularInline):
    model = ListeningQuery
    extra = 0
    fields = ["name", "keywords", "hashtags", "phrases", "exclusions", "languages", "enabled", "poll_interval_seconds"]
    show_change_link = True


@admin.register(SocialAccount)
class SocialAccountAdmin(admin.ModelAdmin):
    form = SocialAccountForm
    list_display = ["name", "platform", "external_id", "enabled", "last_polled_at", "short_error", "next_poll_at"]
    list_filter = ["platform", "enabled"]
    search_fields = ["name", "handle", "external_id"]
    readonly_fields = [
        "credentials_status",
        "disabled_reason",
        "last_polled_at",
        "last_error",
        "last_error_at",
        "consecutive_failures",
        "next_poll_at",
        "cursor",
    ]
    inlines = [ListeningQueryInline]
    actions = ["poll_now", "enable"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return [
            (None, {"fields": ["platform", "external_id", "name", "handle", "enabled", "poll_interval_seconds"]}),
            ("Credentials", {"fields": ["credentials_status", *SECRET_FIELDS, "clear_credentials"]}),
            (
                "Polling",
                {
                    "fields": [
                        "last_polled_at",
                        "next_poll_at",
                        "last_error",
                        "last_error_at",
                        "consecutive_failures",
                        "disabled_reason",
                        "cursor",
                    ]
                },
            ),
        ]

    @admin.display(description="Credentials")
    def credentials_status(self, account: SocialAccount) -> str:
        return credentials.describe(account) if account.pk else "none yet"

    @admin.display(description="Last error")
    def short_error(self, account: SocialAccount) -> str:
        return account.last_error[:80]

    @admin.action(description="Poll selected now")
    def poll_now(self, request: HttpRequest, queryset: QuerySet[SocialAccount]) -> None:
        count = queryset.update(next_poll_at=timezone.now(), poll_lease_until=None)
        self.message_user(request, f"{count} account(s) will be polled within seconds.", messages.SUCCESS)

    @admin.action(description="Enable selected (after fixing the cause)")
    def enable(self, request: HttpRequest, queryset: QuerySet[SocialAccount]) -> None:
        count = queryset.update(
            enabled=True, disabled_reason="", consecutive_failures=0, next_poll_at=timezone.now(), poll_lease_until=None
        )
        self.message_user(request, f"{count} account(s) enabled.", messages.SUCCESS)


@admin.register(ListeningQuery)
class ListeningQueryAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "enabled", "last_polled_at", "last_error"]
    list_filter = ["enabled", "account"]
    search_fields = ["name"]
    readonly_fields = [
        "last_polled_at",
        "last_error",
        "last_error_at",
        "consecutive_failures",
        "next_poll_at",
        "cursor",
    ]
    list_select_related = ["account"]


@admin.register(FilterRule)
class FilterRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "pattern", "is_regex", "platform", "enabled"]
    list_filter = ["enabled", "platform", "is_regex"]
    search_fields = ["name", "pattern"]


@admin.register(BlockedAuthor)
class BlockedAuthorAdmin(admin.ModelAdmin):
    list_display = ["handle", "external_id", "platform", "reason"]
    list_filter = ["platform"]
    search_fields = ["handle", "external_id"]


@admin.register(ClassificationRule)
class ClassificationRuleAdmin(admin.ModelAdmin):
    list_display = ["order", "name", "category", "language", "priority_boost", "enabled"]
    list_display_links = ["name"]
    list_editable = ["order", "enabled"]
    list_filter = ["enabled", "category", "language"]
    search_fields = ["name", "category"]
    filter_horizontal = ["skills"]


@admin.register(TrackedKeyword)
class TrackedKeywordAdmin(admin.ModelAdmin):
    """Keywords the keyword trends report counts (reporting.kpis.keywords)."""

    list_display = ["keyword", "enabled"]
    list_editable = ["enabled"]
    list_filter = ["enabled"]
    search_fields = ["keyword"]
