"""Admin for the shared domain. Records are read-only here: state changes go through actions."""

from __future__ import annotations

import json
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from core.actions import check_resolve_conversation, do_close_conversation, do_merge_contacts
from core.errors import ContactCenterError
from core.models import (
    WEBHOOK_EVENT_CHOICES,
    Contact,
    ContactMerge,
    Conversation,
    ConversationState,
    Disposition,
    Event,
    Identity,
    Message,
    Note,
    WebhookDelivery,
    WebhookEndpoint,
    WorkSession,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the product writes; admins may look, never edit."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def pretty_json(value: Any) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


class IdentityInline(ReadOnlyInline):
    model = Identity
    fields = readonly_fields = ("platform", "handle", "display_name", "external_id", "followers_count", "verified")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["display_name", "is_vip", "created_at"]
    list_filter = ["is_vip", "identities__platform"]
    search_fields = ["display_name", "identities__handle", "identities__external_id"]
    fields = ["display_name", "is_vip", "tags", "notes", "created_at"]
    readonly_fields = ["created_at"]
    inlines = [IdentityInline]
    actions = ["merge_contacts"]

    @admin.action(description="Merge selected contacts into the oldest one")
    def merge_contacts(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        contacts = list(queryset.order_by("created_at", "pk"))
        if len(contacts) < 2:
            self.message_user(request, "Select at least two contacts to merge.", messages.WARNING)
            return
        into = contacts[0]
        for other in contacts[1:]:
            do_merge_contacts(into, other, actor=cast(User, request.user), reason="merged in admin")
        self.message_user(request, f"Merged {len(contacts) - 1} contact(s) into {into}.", messages.SUCCESS)


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ["handle", "platform", "display_name", "contact", "followers_count", "verified"]
    list_filter = ["platform", "verified"]
    search_fields = ["handle", "display_name", "external_id"]
    list_select_related = ["contact"]


@admin.register(ContactMerge)
class ContactMergeAdmin(ReadOnlyAdmin):
    list_display = ["merged_contact_name", "into", "actor", "at"]
    search_fields = ["merged_contact_name", "into__display_name"]
    list_select_related = ["into", "actor"]


class MessageInline(ReadOnlyInline):
    model = Message
    fields = readonly_fields = ("direction", "sent_at", "text", "is_public", "external_id")


class EventInline(ReadOnlyInline):
    model = Event
    fields = readonly_fields = ("at", "kind", "agent", "value_seconds", "data")
    show_change_link = False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["id", "contact", "channel", "subject", "state", "priority", "queue", "assigned_agent", "created_at"]
    list_filter = ["state", "channel", "queue", "escalated", "sentiment", "language"]
    search_fields = ["subject", "contact__display_name", "thread_key"]
    list_select_related = ["contact", "queue", "assigned_agent"]
    date_hierarchy = "created_at"
    inlines = [MessageInline, EventInline]
    readonly_fields = ["why"]

    @admin.display(description="Why this category and priority (opening post)")
    def why(self, conversation: Conversation) -> str:
        opening = conversation.messages.order_by("sent_at", "id").values_list("triage", flat=True).first()
        return pretty_json(opening or {})

    actions = ["resolve_no_action", "close_resolved"]

    @admin.action(description="Resolve selected (no action needed)")
    def resolve_no_action(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._apply(
            request,
            queryset,
            lambda c: check_resolve_conversation(cast(User, request.user), c, disposition=Disposition.NO_ACTION),
        )

    @admin.action(description="Close selected resolved conversations")
    def close_resolved(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._apply(request, queryset.filter(state=ConversationState.RESOLVED), do_close_conversation)

    def _apply(self, request: HttpRequest, queryset: QuerySet[Conversation], action: Any) -> None:
        done, refused = 0, []
        for conversation in queryset:
            try:
                action(conversation)
                done += 1
            except ContactCenterError as error:
                refused.append(error.message)
        self.message_user(request, f"{done} conversation(s) updated.", messages.SUCCESS)
        for reason in refused[:10]:
            self.message_user(request, reason, messages.WARNING)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "direction",
        "platform",
        "external_id",
        "conversation",
        "sent_at",
        "short_text",
        "filtered_reason",
    ]
    list_filter = ["direction", "platform", "delivery", "is_public", ("filtered_reason", admin.EmptyFieldListFilter)]
    search_fields = ["text", "external_id"]
    list_select_related = ["conversation"]
    date_hierarchy = "sent_at"
    exclude = ["raw", "triage", "edit_history"]
    readonly_fields = ["why", "earlier_versions", "raw_payload"]

    @admin.display(description="Text")
    def short_text(self, message: Message) -> str:
        return message.text[:80]

    @admin.display(description="Raw payload")
    def raw_payload(self, message: Message) -> str:
        return pretty_json(message.raw)

    @admin.display(description="Why this category and priority")
    def why(self, message: Message) -> str:
        return pretty_json(message.triage)

    @admin.display(description="Earlier versions (edits)")
    def earlier_versions(self, message: Message) -> str:
        return pretty_json(message.edit_history)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "conversation", "agent", "channel", "queue", "value_seconds", "value"]
    list_filter = ["kind", "channel", "queue"]
    search_fields = ["conversation__id"]
    list_select_related = ["conversation", "agent", "queue"]
    date_hierarchy = "at"


@admin.register(Note)
class NoteAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "conversation", "author", "text"]
    search_fields = ["text"]
    list_select_related = ["conversation", "author"]


@admin.register(WorkSession)
class WorkSessionAdmin(ReadOnlyAdmin):
    list_display = ["opened_at", "closed_at", "wrap_started_at", "agent", "conversation"]
    list_filter = ["agent"]
    list_select_related = ["agent", "conversation"]
    date_hierarchy = "opened_at"


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=WEBHOOK_EVENT_CHOICES, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "enabled"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Admins register URLs and pick events; the signing secret is shown in full once, when it is created."""

    form = WebhookEndpointForm
    list_display = ["url", "enabled", "subscribed_events", "created_at"]
    list_filter = ["enabled"]
    readonly_fields = ["signing_secret", "created_at"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["url", "events", "enabled"] + (["signing_secret", "created_at"] if obj else [])

    @admin.display(description="Events")
    def subscribed_events(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events or [])

    @admin.display(description="Signing secret")
    def signing_secret(self, endpoint: WebhookEndpoint) -> str:
        return f"…{endpoint.secret[-4:]} (shown in full once, when the endpoint was added)"

    def response_add(self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: str | None = None) -> Any:
        self.message_user(
            request,
            f"Signing secret for {obj.url}: {obj.secret} — copy it now; it will not be shown again.",
            messages.WARNING,
        )
        return super().response_add(request, obj, post_url_continue)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "endpoint", "status", "attempts", "last_status_code", "sent_at"]
    list_filter = ["status", "event"]
    list_select_related = ["endpoint"]
    readonly_fields = ["attempt_log", "pretty_payload"]
    exclude = ["log", "payload"]
    date_hierarchy = "created_at"

    @admin.display(description="Payload")
    def pretty_payload(self, delivery: WebhookDelivery) -> str:
        return pretty_json(delivery.payload)

    @admin.display(description="Attempts")
    def attempt_log(self, delivery: WebhookDelivery) -> str:
        return pretty_json(delivery.log)
