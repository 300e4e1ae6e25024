"""Response content forms shared by the admin and the API, so both validate templates and articles alike."""

from __future__ import annotations

from django import forms

from responses.models import KnowledgeArticle, ResponseTemplate


class ResponseTemplateForm(forms.ModelForm):
    class Meta:
        model = ResponseTemplate
        fields = ["name", "shortcut", "body", "queue", "language", "is_active"]


class KnowledgeArticleForm(forms.ModelForm):
    class Meta:
        model = KnowledgeArticle
        fields = ["title", "body", "tags", "is_published"]
