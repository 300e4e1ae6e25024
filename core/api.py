"""Contacts over REST: list with search, and a contact with its identities and conversations.

Supervisors and admins see every contact. An agent sees the customers of the
conversations they may see (those that are, or were last, theirs) and, in a
contact, only those conversations; anything else is a 404, like a missing id.
Merging contacts is ``POST /api/v1/contacts/<id>/merge/`` (agents/api.py).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import Contact, Conversation, Identity
from core.queries import access_contact, contact_conversations, visible_contacts
from core.rest.permissions import IsAgent
from core.rest.schema import RefSerializer, error_responses

TAGS = ["contacts"]


class IdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Identity
        fields = ["id", "platform", "external_id", "handle", "display_name", "followers_count", "verified"]
        read_only_fields = fields


class ContactSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name")
    tags = serializers.ListField(child=serializers.CharField())
    identities = IdentitySerializer(many=True, source="identities.all")

    class Meta:
        model = Contact
        fields = ["id", "name", "is_vip", "tags", "created_at", "identities"]
        read_only_fields = fields


class AgentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class ContactConversationSerializer(serializers.ModelSerializer):
    """A conversation in a contact's history: ids, states and outcome, no customer text."""

    queue = RefSerializer(allow_null=True)
    assigned_agent = AgentRefSerializer(allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "state",
            "channel",
            "queue",
            "category",
            "priority",
            "assigned_agent",
            "created_at",
            "resolved_at",
            "disposition",
        ]
        read_only_fields = fields


class SearchSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class ContactListView(generics.ListAPIView[Contact]):
    permission_classes = [IsAgent]
    serializer_class = ContactSerializer

    def get_queryset(self) -> Any:
        params = SearchSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return visible_contacts(self.request.user, params.validated_data["q"])

    @extend_schema(
        operation_id="contacts_list",
        tags=TAGS,
        summary="List contacts",
        description=(
            "Newest first, cursor-paginated. `q` matches the name and the identities' handles and names. "
            "Supervisors and admins see every contact; an agent the customers of the conversations they may see."
        ),
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Part of a name or handle, up to 200 characters.")
        ],
        responses={200: ContactSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ContactDetailSerializer(ContactSerializer):
    conversations = serializers.SerializerMethodField(help_text="The conversations the caller may see, newest first.")

    class Meta(ContactSerializer.Meta):
        fields = [*ContactSerializer.Meta.fields, "notes", "conversations"]
        read_only_fields = fields

    @extend_schema_field(ContactConversationSerializer(many=True))
    def get_conversations(self, contact: Contact) -> Any:
        user = self.context["request"].user
        return ContactConversationSerializer(contact_conversations(user, contact), many=True).data


class ContactDetailView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="contacts_retrieve",
        tags=TAGS,
        summary="A contact with its identities and conversations",
        responses={200: ContactDetailSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, contact_id: int) -> Response:
        contact = access_contact(request.user, contact_id)
        return Response(ContactDetailSerializer(contact, context={"request": request}).data)
