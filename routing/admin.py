"""Routing configuration in the admin: validated, with a preview of where a post would go."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.http import HttpRequest

from core.admin import ReadOnlyAdmin
from routing.forms import NotificationRuleForm, QueueForm, RoutingRuleForm, SkillForm
from routing.models import (
    ChannelWeight,
    Holiday,
    NotificationEvent,
    NotificationRule,
    Offer,
    OverflowStep,
    Queue,
    QueueSkill,
    RoutingRule,
    Skill,
    SLAPolicy,
    SpikeAlert,
)
from routing.queries import check_queue_servable


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    form = SkillForm
    list_display = ["name", "description", "agents_with_it"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(agent_count=Count("agents"))

    @admin.display(description="Agents", ordering="agent_count")
    def agents_with_it(self, skill: Any) -> int:
        return int(skill.agent_count)


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "first_response_seconds", "next_response_seconds", "warning_percent", "hours"]
    search_fields = ["name"]
    inlines = [HolidayInline]

    @admin.display(description="Business hours")
    def hours(self, policy: SLAPolicy) -> str:
        return (
            ", ".join(f"{day} {' '.join('-'.join(s) for s in spans)}" for day, spans in policy.business_hours.items())
            or "24/7"
        )


class QueueSkillFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        requirements = {
            form.cleaned_data["skill"]: form.cleaned_data["min_level"]
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("skill")
        }
        check_queue_servable(requirements)


class QueueSkillInline(admin.TabularInline):
    model = QueueSkill
    formset = QueueSkillFormSet
    extra = 0


class OverflowStepInline(admin.TabularInline):
    model = OverflowStep
    fk_name = "queue"
    extra = 0


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    form = QueueForm
    list_display = ["name", "mode", "route_mode", "priority", "sla_policy", "is_default", "queued_now"]
    list_filter = ["mode", "route_mode", "is_default", "sla_policy"]
    search_fields = ["name"]
    list_select_related = ["sla_policy"]
    inlines = [QueueSkillInline, OverflowStepInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .annotate(queued=Count("conversations", filter=Q(conversations__state="queued")))
        )

    @admin.display(description="Queued now", ordering="queued")
    def queued_now(self, queue: Any) -> int:
        return int(queue.queued)


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    form = RoutingRuleForm
    list_display = [
        "order",
        "name",
        "queue",
        "channel",
        "category",
        "language",
        "sentiment",
        "priority_boost",
        "enabled",
    ]
    list_display_links = ["name"]
    list_editable = ["order", "enabled"]
    list_filter = ["enabled", "queue", "channel"]
    search_fields = ["name"]
    filter_horizontal = ["extra_skills"]
    change_list_template = "admin/routing/routingrule/change_list.html"


@admin.register(ChannelWeight)
class ChannelWeightAdmin(admin.ModelAdmin):
    list_display = ["channel", "weight"]


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    """Who is emailed about escalations, SLA breaches and risks, and spikes (see routing.notifications)."""

    form = NotificationRuleForm
    list_display = ["name", "enabled", "event_names", "queue", "team", "min_priority"]
    list_filter = ["enabled", "queue", "team"]
    search_fields = ["name"]
    filter_horizontal = ["users", "groups"]

    @admin.display(description="Events")
    def event_names(self, rule: NotificationRule) -> str:
        labels = dict(NotificationEvent.choices)
        return ", ".join(labels.get(event, event) for event in rule.events or [])


@admin.register(SpikeAlert)
class SpikeAlertAdmin(admin.ModelAdmin):
    """Spikes already announced (read-only): the record that each (category, hour) is announced once."""

    list_display = ["hour", "category", "created_at"]
    list_filter = ["category"]
    date_hierarchy = "hour"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    """Offers the router made in offer-mode queues and how each ended: to look at, never to change."""

    list_display = ["id", "conversation", "agent", "outcome", "offered_at", "expires_at", "answered_at"]
    list_filter = ["outcome"]
    list_select_related = ["agent"]
    search_fields = ["=conversation__id", "agent__username"]
    date_hierarchy = "offered_at"
    raw_id_fields = ["conversation"]
