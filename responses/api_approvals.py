"""Held replies over REST (mounted under /api/v1/): the supervisors' approval queue, as on the approvals page.

A reply from a trainee, or one a review rule catches, is answered
``delivery: pending_approval`` by the replies endpoint; these endpoints list
such replies and release or refuse them through the same actions as the
page (``responses.actions.check_approve_reply`` / ``check_reject_reply``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import Message
from core.rest.permissions import IsSupervisor
from core.rest.schema import error_responses
from core.text import REASON_MAX_LENGTH
from responses.actions import check_approve_reply, check_reject_reply, held_replies

TAGS = ["approvals"]


@extend_schema_serializer(component_name="HeldReply")
class HeldReplySerializer(serializers.ModelSerializer):
    conversation = serializers.IntegerField(source="conversation_id")
    author_agent = serializers.IntegerField(source="author_agent_id", allow_null=True)
    reviewed_by = serializers.IntegerField(source="reviewed_by_id", allow_null=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "author_agent",
            "text",
            "is_public",
            "sent_at",
            "delivery",
            "delivery_error",
            "reviewed_by",
        ]
        read_only_fields = fields


class HeldReplyListView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(
        operation_id="replies_held_list",
        tags=TAGS,
        summary="Replies waiting for a supervisor",
        description="Oldest first. Supervisors and admins only.",
        responses={200: HeldReplySerializer(many=True), **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(HeldReplySerializer(held_replies(), many=True).data)


class ApproveReplyView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema_serializer(component_name="ApproveReplyRequest")
    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(
            required=False,
            allow_blank=True,
            trim_whitespace=False,
            help_text="The reply as edited by the supervisor; omitted or blank: as the agent wrote it.",
        )

    @extend_schema(
        operation_id="replies_approve",
        tags=TAGS,
        summary="Approve a held reply",
        description=(
            "Releases the reply into the outbox (`delivery: queued`) and, if the agent asked, resolves the "
            "conversation. 409 when someone else handled it, or the conversation moved on."
        ),
        request=InputSerializer,
        responses={200: HeldReplySerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, message_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = check_approve_reply(request.user, message_id, text=data.validated_data.get("text"))
        return Response(HeldReplySerializer(message).data)


class RejectReplyView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema_serializer(component_name="RejectReplyRequest")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(
            max_length=REASON_MAX_LENGTH, help_text="Why, so the agent can learn; shown to them."
        )

    @extend_schema(
        operation_id="replies_reject",
        tags=TAGS,
        summary="Reject a held reply",
        description="The reply is never posted (`delivery: rejected`); its agent is told why.",
        request=InputSerializer,
        responses={200: HeldReplySerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, message_id: int) -> Response:
        data: Any = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = check_reject_reply(request.user, message_id, reason=data.validated_data["reason"])
        return Response(HeldReplySerializer(message).data)
