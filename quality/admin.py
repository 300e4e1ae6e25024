"""Admin for quality assurance: QA forms with their criteria inline, reviews (read-only) and training."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from quality.models import QaCriterion, QaForm, QaReview, TrainingRecord


class CriteriaFormSet(forms.BaseInlineFormSet):
    """An active form needs at least one criterion: reviewers would have nothing to score."""

    def clean(self) -> None:
        super().clean()
        kept = [
            form
            for form in self.forms
            if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE", False)
        ]
        if getattr(self.instance, "active", False) and not kept:
            raise ValidationError("Add at least one criterion before making the form active.")


class QaCriterionInline(admin.TabularInline):
    model = QaCriterion
    formset = CriteriaFormSet
    extra = 1
    fields = ["position", "label", "guidance", "weight", "kind", "max_points", "critical", "allow_na"]


@admin.register(QaForm)
class QaFormAdmin(admin.ModelAdmin):
    """A QA form: criteria with weights (at least 1), points or pass/fail, critical (auto-fail) and N/A.

    Editing a form never changes past scores: each review keeps a copy of the
    criteria as they were when it was scored.
    """

    list_display = ["name", "active", "pass_mark", "criteria_count"]
    list_filter = ["active"]
    search_fields = ["name"]
    fields = ["name", "description", "active", "pass_mark", "created_at"]
    readonly_fields = ["created_at"]
    inlines = [QaCriterionInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("criteria")

    @admin.display(description="Criteria")
    def criteria_count(self, form: QaForm) -> int:
        return len(form.criteria.all())


@admin.register(QaReview)
class QaReviewAdmin(admin.ModelAdmin):
    """Reviews are scored on the QA pages (/qa/); here they are records, read-only."""

    list_display = ["__str__", "form", "agent", "status", "score", "passed", "reviewer", "submitted_at"]
    list_filter = ["status", "form", "passed", "critical_failed"]
    list_select_related = ["form", "agent", "reviewer"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TrainingRecord)
class TrainingRecordAdmin(admin.ModelAdmin):
    list_display = ["topic", "agent", "status", "due_on", "completed_on", "review", "assigned_by"]
    list_filter = ["status"]
    search_fields = ["topic", "agent__username", "agent__first_name"]
    list_select_related = ["agent", "review", "assigned_by"]
    raw_id_fields = ["review"]
