"""Offers over REST (mounted under /api/v1/): the caller's ringing offers, and answering one.

An agent sees and answers only their own offers: anyone else's is a 404, as
if it did not exist. The answers go through ``routing.offers``, like the
inbox's buttons.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.rest.permissions import IsAgent
from core.rest.schema import error_responses
from routing.models import Offer, OfferOutcome
from routing.offers import check_accept_offer, check_decline_offer, pending_offers_of

TAGS = ["offers"]


@extend_schema_serializer(component_name="Offer")
class OfferSerializer(serializers.ModelSerializer):
    conversation = serializers.IntegerField(source="conversation_id", help_text="The conversation offered.")
    channel = serializers.CharField(source="conversation.channel")
    queue = serializers.IntegerField(source="conversation.queue_id", allow_null=True, help_text="Its queue's id.")
    outcome = serializers.ChoiceField(choices=OfferOutcome.choices)

    class Meta:
        model = Offer
        fields = ["id", "conversation", "channel", "queue", "offered_at", "expires_at", "answered_at", "outcome"]
        read_only_fields = fields


def _own_offer(request: Request, offer_id: int) -> Offer:
    offer = Offer.objects.select_related("conversation").filter(pk=offer_id, agent_id=request.user.pk).first()
    if offer is None:
        raise NotFound("You have no such offer.")
    return offer


class OfferListView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="offers_list",
        tags=TAGS,
        summary="The caller's ringing offers",
        description=(
            "Offers ringing for the caller now (one at most): conversations of offer-mode queues the router chose "
            "them for. Accept or decline before `expires_at`; after it the offer goes to the next agent."
        ),
        responses={200: OfferSerializer(many=True), **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(OfferSerializer(pending_offers_of(request.user), many=True).data)


class OfferAcceptView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="offers_accept",
        tags=TAGS,
        summary="Accept an offer",
        description=(
            "The conversation is assigned to the caller. 409 when the offer is no longer ringing (answered, rung "
            "out, or its conversation left the queue)."
        ),
        request=None,
        responses={200: OfferSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, offer_id: int) -> Response:
        offer = _own_offer(request, offer_id)
        check_accept_offer(request.user, offer)
        offer.refresh_from_db()
        return Response(OfferSerializer(offer).data)


class OfferDeclineView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="offers_decline",
        tags=TAGS,
        summary="Decline an offer",
        description=(
            "The conversation is offered to the next best agent (never again to the caller, until every eligible "
            "agent has refused it). 409 when the offer is no longer ringing."
        ),
        request=None,
        responses={200: OfferSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, offer_id: int) -> Response:
        offer = _own_offer(request, offer_id)
        check_decline_offer(request.user, offer)
        offer.refresh_from_db()
        return Response(OfferSerializer(offer).data)
