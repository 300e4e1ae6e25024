"""Response content forms shared by the admin and the API, so both validate templates and articles alike."""

from __future__ import annotations

from django import forms

from responses import templating
from responses.models import KnowledgeArticle, ResponseTemplate


class ResponseTemplateForm(forms.ModelForm):
    class Meta:
        model = ResponseTemplate
        fields = ["name", "shortcut", "body", "queue", "language", "is_active"]

    def clean_body(self) -> str:
        body: str = self.cleaned_data["body"]
        if problems := templating.problems(body):
            raise forms.ValidationError(problems)
        return body


class KnowledgeArticleForm(forms.ModelForm):
    class Meta:
        model = KnowledgeArticle
        fields = ["title", "body", "tags", "is_published"]
