"""Agents over REST: the floor for supervisors, and every user's own profile.

``GET /api/v1/agents/`` and ``/agents/<user id>/`` (supervisors and admins):
presence, time in it, load against capacity, skills and team, the figures
the live dashboard shows. ``GET /api/v1/agents/me/`` (any role): the caller's.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import AgentProfile, Presence
from agents.queries import agents_on_the_floor
from core.errors import NotFound
from core.rest.pagination import NewestFirstCursorPagination
from core.rest.permissions import IsAgent, IsSupervisor
from core.rest.schema import RefSerializer, error_responses

TAGS = ["agents"]


class AgentSkillSerializer(serializers.Serializer):
    skill = RefSerializer()
    level = serializers.IntegerField(help_text="1 to 10.")


class AgentSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user_id", help_text="The agent's user id.")
    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="__str__")
    team = RefSerializer(allow_null=True)
    presence = serializers.ChoiceField(choices=Presence.choices)
    reason = serializers.CharField(source="presence_reason")
    since = serializers.DateTimeField(source="presence_since")
    in_state_seconds = serializers.SerializerMethodField(help_text="Seconds in the current presence.")
    load = serializers.IntegerField(help_text="Weights of the conversations held (assigned or waiting).")
    skills = AgentSkillSerializer(many=True, source="skills.all")

    class Meta:
        model = AgentProfile
        fields = [
            "id",
            "username",
            "name",
            "team",
            "presence",
            "reason",
            "since",
            "in_state_seconds",
            "load",
            "capacity",
            "is_trainee",
            "skills",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField())
    def get_in_state_seconds(self, profile: AgentProfile) -> float:
        return max(0.0, (timezone.now() - profile.presence_since).total_seconds())


class ByUserPagination(NewestFirstCursorPagination):
    ordering = "user_id"


class AgentListView(generics.ListAPIView[AgentProfile]):
    permission_classes = [IsSupervisor]
    serializer_class = AgentSerializer
    pagination_class = ByUserPagination

    def get_queryset(self) -> Any:
        return agents_on_the_floor()

    @extend_schema(
        operation_id="agents_list",
        tags=TAGS,
        summary="The agents on the floor",
        description="Active users with an agent profile, by user id, cursor-paginated. Supervisors and admins only.",
        responses={200: AgentSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class AgentDetailView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(
        operation_id="agents_retrieve",
        tags=TAGS,
        summary="One agent",
        description="By user id. Supervisors and admins only.",
        responses={200: AgentSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, user_id: int) -> Response:
        profile = agents_on_the_floor().filter(user_id=user_id).first()
        if profile is None:
            raise NotFound(f"Agent {user_id} not found.")
        return Response(AgentSerializer(profile).data)


class AgentMeView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="agents_me",
        tags=TAGS,
        summary="The caller's own agent profile",
        description="Any role; 404 for a user without an agent profile.",
        responses={200: AgentSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        profile = agents_on_the_floor().filter(user_id=request.user.pk or 0).first()
        if profile is None:
            raise NotFound("You have no agent profile.")
        return Response(AgentSerializer(profile).data)
