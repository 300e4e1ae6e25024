"""Admin for what Switchboard listens to. Credentials go in, and are never shown back."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from core.errors import ContactCenterError
from core.models import Channel, Platform
from core.posts import Author, InboundPost
from monitoring import credentials
from monitoring.actions import check_process_held_delivery
from monitoring.models import (
    BlockedAuthor,
    ClassificationRule,
    FilterRule,
    HeldDelivery,
    ListeningQuery,
    SocialAccount,
    SocialPlatform,
    TrackedKeyword,
)
from monitoring.triage import TriageRules
from routing.models import Skill
from routing.placement import ContactFacts, Placer

OWN_ADMIN = (SocialPlatform.EMAIL, SocialPlatform.CHAT)
"""Platforms whose accounts are made and edited with their source: under Mailboxes, and under Chat channels."""
SECRET_FIELDS = sorted(
    {name for platform, names in credentials.FIELDS.items() if platform not in OWN_ADMIN for name in names}
)
"""The social platforms' credentials; a mailbox's passwords are set under Mailboxes (``admin_mailboxes``)."""


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A mailbox's account is made, with its servers, under Mailboxes; a chat channel's under Chat channels.
        platform = self.fields["platform"]
        assert isinstance(platform, forms.ChoiceField)
        platform.choices = [
            ("", "---------"),
            *((v, label) for v, label in SocialPlatform.choices if v not in OWN_ADMIN),
        ]

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

    def get_queryset(self, request: HttpRequest) -> QuerySet[SocialAccount]:
        return super().get_queryset(request).exclude(platform__in=OWN_ADMIN)

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
        held = HeldDelivery.objects.filter(account__in=queryset, processed_at=None).count()
        if held:
            self.message_user(
                request,
                f"{held} delivery(ies) received while disabled are held: process them under Held deliveries.",
                messages.WARNING,
            )


class HeldStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("waiting", "Waiting"), ("processed", "Processed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[HeldDelivery]) -> QuerySet[HeldDelivery]:
        if self.value() == "waiting":
            return queryset.filter(processed_at=None)
        if self.value() == "processed":
            return queryset.exclude(processed_at=None)
        return queryset


@admin.register(HeldDelivery)
class HeldDeliveryAdmin(admin.ModelAdmin):
    """Webhook deliveries that arrived while their account was disabled: kept until processed here."""

    list_display = ["received_at", "account", "account_enabled", "posts", "deletions", "processed_at", "last_error"]
    list_filter = [HeldStateFilter, "account"]
    list_select_related = ["account"]
    readonly_fields = ["account", "received_at", "posts", "deletions", "processed_at", "last_error", "body"]
    actions = ["process_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # only the webhooks hold deliveries

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # what the platform sent is kept as it was sent

    @admin.display(boolean=True, description="Account enabled")
    def account_enabled(self, held: HeldDelivery) -> bool:
        return held.account.enabled

    @admin.action(description="Process selected now (their accounts enabled again)")
    def process_now(self, request: HttpRequest, queryset: QuerySet[HeldDelivery]) -> None:
        stored = processed = 0
        for held_id in queryset.filter(processed_at=None).values_list("pk", flat=True):
            try:
                stats = check_process_held_delivery(held_id)
            except ContactCenterError as error:
                self.message_user(request, error.message, messages.ERROR)
                continue
            processed += 1
            stored += stats.stored
        self.message_user(request, f"{processed} delivery(ies) processed, {stored} post(s) stored.", messages.SUCCESS)


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


class PreviewForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.X_PUBLIC)
    account = forms.ModelChoiceField(SocialAccount.objects.all(), required=False)
    author_handle = forms.CharField(required=False, max_length=200)
    followers = forms.IntegerField(min_value=0, initial=100)
    verified = forms.BooleanField(required=False)
    language = forms.CharField(required=False, max_length=16, help_text="As the platform tags it; empty: detect.")
    contact_vip = forms.BooleanField(required=False)


def preview(data: dict[str, Any]) -> dict[str, Any]:
    """Where a post like this would go, and why: triage and placement without storing anything."""
    channel = data["channel"]
    platform = Channel.platform_of(channel)
    post = InboundPost(
        platform=platform if platform in Platform.values else "sandbox",
        channel=channel,
        external_id="preview",
        thread_key="preview",
        author=Author(
            platform,
            "preview-author",
            data["author_handle"],
            data["author_handle"],
            data["followers"],
            data["verified"],
        ),
        text=data["text"],
        sent_at=timezone.now(),
        language=data["language"],
        account_id=data["account"].pk if data["account"] else None,
    )
    triage = TriageRules.load().triage(post)
    placed = Placer().place(post, triage, ContactFacts(is_vip=data["contact_vip"]))
    skills = dict(Skill.objects.filter(pk__in=[s for s, _ in placed.skills]).values_list("pk", "name"))
    return {
        "filtered": placed.filtered_reason,
        "rule": placed.placement.get("rule"),
        "queue": placed.placement.get("queue"),
        "skills": [(skills.get(s, s), level) for s, level in placed.skills],
        "priority": placed.priority,
        "category": placed.category,
        "language": placed.language,
        "sentiment": placed.sentiment,
        "factors": (placed.why.get("priority") or {}).get("factors", []),
        "boost": placed.placement.get("priority_boost"),
        "due": placed.first_response_due,
    }


@admin.register(ClassificationRule)
class ClassificationRuleAdmin(admin.ModelAdmin):
    list_display = ["order", "name", "category", "language", "priority_boost", "enabled"]
    list_display_links = ["name"]
    list_editable = ["order", "enabled"]
    list_filter = ["enabled", "category", "language"]
    search_fields = ["name", "category"]
    filter_horizontal = ["skills"]
    change_list_template = "admin/monitoring/classificationrule/change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "preview/", self.admin_site.admin_view(self.preview_view), name="monitoring_classificationrule_preview"
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        form = PreviewForm(request.POST or None)
        result = preview(form.cleaned_data) if request.method == "POST" and form.is_valid() else None
        context = {
            **self.admin_site.each_context(request),
            "title": "Preview routing",
            "form": form,
            "result": result,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/monitoring/preview.html", context)


@admin.register(TrackedKeyword)
class TrackedKeywordAdmin(admin.ModelAdmin):
    """Keywords the keyword trends report counts (reporting.kpis.keywords)."""

    list_display = ["keyword", "enabled"]
    list_editable = ["enabled"]
    list_filter = ["enabled"]
    search_fields = ["keyword"]


from monitoring import admin_mailboxes  # noqa: E402, F401 - registers the Mailbox admin
