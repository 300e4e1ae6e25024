"""Routing configuration in the admin: validated, with a preview of where a post would go."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from core.models import Channel, Platform
from core.posts import Author, InboundPost
from monitoring.models import SocialAccount
from monitoring.triage import TriageRules
from routing.forms import NotificationRuleForm, QueueForm, RoutingRuleForm, SkillForm
from routing.models import (
    ChannelWeight,
    Holiday,
    NotificationEvent,
    NotificationRule,
    OverflowStep,
    Queue,
    QueueSkill,
    RoutingRule,
    Skill,
    SLAPolicy,
    SpikeAlert,
)
from routing.placement import ContactFacts, Placer
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
    list_display = ["name", "mode", "priority", "sla_policy", "is_default", "queued_now"]
    list_filter = ["mode", "is_default", "sla_policy"]
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

    def get_urls(self) -> list[Any]:
        return [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="routing_routingrule_preview"),
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
        return TemplateResponse(request, "admin/routing/preview.html", context)


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
