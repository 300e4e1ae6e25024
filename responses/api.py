"""Response templates and knowledge articles over REST (mounted under /api/v1/).

Agents read them (active templates, published articles; and the templates
usable for one conversation, rendered for it); supervisors and admins, who
manage them in the admin, also create, change and delete them here, through
the admin's forms (``responses.actions``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.queries import access_conversation
from core.rest.config_views import ConfigDetailView, ConfigListView, config_schema
from core.rest.ids import IdField
from core.rest.permissions import AgentReadsSupervisorWrites, IsAgent
from core.rest.schema import error_responses
from responses.actions import check_delete_article, check_delete_template, check_save_article, check_save_template
from responses.models import KnowledgeArticle, ResponseTemplate
from responses.queries import articles_visible_to, templates_for, templates_visible_to
from responses.templating import MAX_LENGTH

WHO = "Every role reads; supervisors and admins create, change and delete."


class SearchSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


def _search(request: Request) -> str:
    params = SearchSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    return str(params.validated_data["q"])


SEARCH = OpenApiParameter("q", OpenApiTypes.STR, description="Words to look for (all of them), up to 200 characters.")

# --- Templates ----------------------------------------------------------------------------------------


class TemplateQueueSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ResponseTemplateSerializer(serializers.ModelSerializer):
    queue = TemplateQueueSerializer(allow_null=True, help_text="null: offered in every queue.")

    class Meta:
        model = ResponseTemplate
        fields = ["id", "name", "shortcut", "body", "queue", "language", "is_active"]
        read_only_fields = fields


@extend_schema_serializer(component_name="ResponseTemplateRequest")
class ResponseTemplateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    shortcut = serializers.RegexField(r"^[a-z0-9_-]+$", max_length=40, help_text="Typed as /shortcut.")
    body = serializers.CharField(
        max_length=MAX_LENGTH,
        help_text=(
            "Text with variables such as {customer_name}, {agent_name}; {{ and }} for literal braces. "
            "Nothing else goes inside braces (no format specs, conversions, attributes or indexes)."
        ),
    )
    queue = IdField(required=False, allow_null=True, help_text="A queue's id; null: every queue.")
    language = serializers.CharField(max_length=16, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


_template_list, _template_detail = config_schema(
    tag="templates",
    noun="response template",
    output=ResponseTemplateSerializer,
    input=ResponseTemplateInputSerializer,
    who="Agents see active templates, supervisors and admins every one. " + WHO,
    list_parameters=[SEARCH],
)


@extend_schema_view(**_template_list)
class TemplateListView(ConfigListView):
    permission_classes = [AgentReadsSupervisorWrites]
    serializer_class = ResponseTemplateSerializer
    input_serializer = ResponseTemplateInputSerializer

    def get_queryset(self) -> Any:
        rows = templates_visible_to(self.request.user)
        if self.request.method == "GET" and (query := _search(self.request)):
            rows = rows.filter(shortcut__icontains=query.lstrip("/")) | rows.filter(name__icontains=query)
        return rows

    def create(self, data: dict[str, Any]) -> ResponseTemplate:
        return check_save_template(data)


@extend_schema_view(**_template_detail)
class TemplateDetailView(ConfigDetailView):
    permission_classes = [AgentReadsSupervisorWrites]
    serializer_class = ResponseTemplateSerializer
    input_serializer = ResponseTemplateInputSerializer
    lookup_url_kwarg = "template_id"

    def get_queryset(self) -> Any:
        return templates_visible_to(self.request.user)

    def update(self, instance: ResponseTemplate, data: dict[str, Any]) -> ResponseTemplate:
        return check_save_template(data, template=instance)

    def destroy(self, instance: ResponseTemplate) -> None:
        check_delete_template(instance)


class RenderedTemplateSerializer(serializers.Serializer):
    shortcut = serializers.CharField()
    name = serializers.CharField()
    text = serializers.CharField(help_text="The body with this conversation's variables filled in.")


class ConversationTemplatesView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="conversations_templates_list",
        tags=["templates"],
        summary="Templates usable for a conversation, rendered for it",
        description=(
            "Active templates of the conversation's queue and global ones, in its language, with their variables "
            "filled in (at most 10). `q` starting with `/` matches shortcuts; other words search names and bodies. "
            "Same visibility as the conversation."
        ),
        parameters=[SEARCH],
        responses={200: RenderedTemplateSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = access_conversation(request.user, conversation_id)
        query = _search(request)
        return Response(RenderedTemplateSerializer(templates_for(conversation, request.user, query), many=True).data)


# --- Knowledge ----------------------------------------------------------------------------------------


class KnowledgeArticleSerializer(serializers.ModelSerializer):
    tags = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = KnowledgeArticle
        fields = ["id", "title", "body", "tags", "is_published", "updated_at"]
        read_only_fields = fields


@extend_schema_serializer(component_name="KnowledgeArticleRequest")
class KnowledgeArticleInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    body = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=50)
    is_published = serializers.BooleanField(required=False)


_article_list, _article_detail = config_schema(
    tag="knowledge",
    noun="knowledge article",
    output=KnowledgeArticleSerializer,
    input=KnowledgeArticleInputSerializer,
    who="`q` searches titles and bodies. Agents see published articles, supervisors and admins every one. " + WHO,
    list_parameters=[SEARCH],
)


@extend_schema_view(**_article_list)
class KnowledgeListView(ConfigListView):
    permission_classes = [AgentReadsSupervisorWrites]
    serializer_class = KnowledgeArticleSerializer
    input_serializer = KnowledgeArticleInputSerializer

    def get_queryset(self) -> Any:
        query = _search(self.request) if self.request.method == "GET" else ""
        return articles_visible_to(self.request.user, query)

    def create(self, data: dict[str, Any]) -> KnowledgeArticle:
        return check_save_article(data)


@extend_schema_view(**_article_detail)
class KnowledgeDetailView(ConfigDetailView):
    permission_classes = [AgentReadsSupervisorWrites]
    serializer_class = KnowledgeArticleSerializer
    input_serializer = KnowledgeArticleInputSerializer
    lookup_url_kwarg = "article_id"

    def get_queryset(self) -> Any:
        return articles_visible_to(self.request.user)

    def update(self, instance: KnowledgeArticle, data: dict[str, Any]) -> KnowledgeArticle:
        return check_save_article(data, article=instance)

    def destroy(self, instance: KnowledgeArticle) -> None:
        check_delete_article(instance)
