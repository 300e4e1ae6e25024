from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from responses import templating
from responses.forms import KnowledgeArticleForm, ResponseTemplateForm
from responses.models import KnowledgeArticle, ResponseTemplate, ReviewRule


class TemplateSyntaxFilter(admin.SimpleListFilter):
    """Templates saved before the template rules (``responses.templating``) that they would now refuse.

    Such a template still renders, its bad placeholders left as written; this finds
    them for a supervisor to fix (saving one shows what is wrong). Checked in Python,
    row by row: the rules are not SQL, and a team has tens of templates, not millions.
    """

    title = "syntax"
    parameter_name = "syntax"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("valid", "Valid"), ("invalid", "Needs fixing")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in ("valid", "invalid"):
            return queryset
        invalid = [pk for pk, body in queryset.values_list("pk", "body") if templating.problems(body)]
        return queryset.filter(pk__in=invalid) if self.value() == "invalid" else queryset.exclude(pk__in=invalid)


@admin.register(ResponseTemplate)
class ResponseTemplateAdmin(admin.ModelAdmin):
    form = ResponseTemplateForm
    list_display = ["shortcut", "name", "queue", "language", "is_active", "valid_syntax"]
    list_filter = ["is_active", TemplateSyntaxFilter, "queue", "language"]
    search_fields = ["shortcut", "name", "body"]

    @admin.display(boolean=True, description="Valid syntax")
    def valid_syntax(self, template: ResponseTemplate) -> bool:
        return not templating.problems(template.body)


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(admin.ModelAdmin):
    form = KnowledgeArticleForm
    list_display = ["title", "is_published", "updated_at"]
    list_filter = ["is_published"]
    search_fields = ["title", "body"]


@admin.register(ReviewRule)
class ReviewRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "queue", "enabled"]
    list_filter = ["enabled", "queue"]
