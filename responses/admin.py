from django.contrib import admin

from responses.forms import KnowledgeArticleForm, ResponseTemplateForm
from responses.models import KnowledgeArticle, ResponseTemplate, ReviewRule


@admin.register(ResponseTemplate)
class ResponseTemplateAdmin(admin.ModelAdmin):
    form = ResponseTemplateForm
    list_display = ["shortcut", "name", "queue", "language", "is_active"]
    list_filter = ["is_active", "queue", "language"]
    search_fields = ["shortcut", "name", "body"]


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
