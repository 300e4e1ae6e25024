"""Configuration forms shared by the admin and the API, so both validate configuration the same way."""

from __future__ import annotations

from typing import Any

from django import forms

from core import hooks
from routing.models import NotificationEvent, NotificationRule, Queue, RoutingRule, Skill

QUEUE_FIELDS = [
    "name",
    "description",
    "priority",
    "sla_policy",
    "is_default",
    "mode",
    "route_mode",
    "offer_seconds",
    "offer_timeouts_before_away",
    "sticky_window_hours",
    "sticky_wait_seconds",
    "breach_action",
    "breach_queue",
    "requeue_on_agent_timeout",
    "email_signature",
]


class QueueForm(forms.ModelForm):
    """The admin's queue form (every editable field; the model's ``clean``); skills are checked apart."""

    class Meta:
        model = Queue
        fields = QUEUE_FIELDS


class SkillForm(forms.ModelForm):
    class Meta:
        model = Skill
        fields = ["name", "description"]


class RoutingRuleForm(forms.ModelForm):
    class Meta:
        model = RoutingRule
        fields = [
            "order",
            "name",
            "enabled",
            "channel",
            "account",
            "listening_query",
            "category",
            "language",
            "sentiment",
            "min_priority",
            "max_priority",
            "contact_vip",
            "contact_tag",
            "queue",
            "extra_skills",
            "extra_skill_level",
            "priority_boost",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        category = cleaned.get("category")
        if category and not hooks.category_exists.get()(category):
            self.add_error(
                "category",
                f"No enabled classification rule sets the category {category!r}, so this rule can never match.",
            )
        return cleaned


class NotificationRuleForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=NotificationEvent.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = NotificationRule
        fields = [
            "name",
            "enabled",
            "events",
            "queue",
            "team",
            "min_priority",
            "users",
            "groups",
            "supervisors_of",
            "extra_emails",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        recipients = [cleaned.get(name) for name in ("users", "groups", "supervisors_of", "extra_emails")]
        if not any(recipients) and not self.errors:
            raise forms.ValidationError(
                "Choose who is emailed: users, groups, a team's supervisors or extra addresses."
            )
        return cleaned
