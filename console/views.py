"""The agent console: the inbox, presence, and "get next".

Views parse input, call one action or query, and render. Domain errors are
turned into pages by ``contactcenter.middleware``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from agents.actions import do_set_presence
from agents.models import AwayReason, Presence
from agents.queries import profile_of
from console import queries
from core.errors import ContactCenterError, NotFound
from core.roles import agent_required, is_supervisor
from routing.actions import do_get_next
from routing.models import Offer
from routing.offers import check_accept_offer, check_decline_offer, pending_offers_of


def _inbox_context(request: HttpRequest) -> dict[str, object]:
    return {
        "conversations": queries.inbox_for(request.user),
        "profile": profile_of(request.user),
        "presences": Presence.choices,
        "away_reasons": AwayReason.choices,
        "pull": queries.has_pull_queue(),
        "held_replies": queries.held_reply_count() if is_supervisor(request.user) else None,
        "offers": list(pending_offers_of(request.user)),
    }


@agent_required
def inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "console/inbox.html", _inbox_context(request))


@agent_required
def inbox_live(request: HttpRequest) -> HttpResponse:
    return render(request, "console/_inbox_list.html", _inbox_context(request))


@agent_required
@require_POST
def set_presence(request: HttpRequest) -> HttpResponse:
    profile = profile_of(request.user)
    if profile is None:
        raise NotFound("You have no agent profile.")
    try:
        do_set_presence(profile, request.POST.get("presence", ""), reason=request.POST.get("reason", ""))
    except ContactCenterError as error:
        messages.error(request, error.message)
    return redirect("inbox")


@agent_required
@require_POST
def get_next(request: HttpRequest) -> HttpResponse:
    try:
        conversation_id = do_get_next(int(request.user.pk or 0))
    except ContactCenterError as error:
        messages.error(request, error.message)
        return redirect("inbox")
    if conversation_id is None:
        messages.info(request, "Nothing you can take is waiting in the pull queues.")
        return redirect("inbox")
    return redirect("conversation", conversation_id=conversation_id)


@agent_required
def offers_live(request: HttpRequest) -> HttpResponse:
    return render(request, "console/_offers.html", {"offers": list(pending_offers_of(request.user))})


def _own_offer(request: HttpRequest, offer_id: int) -> Offer:
    offer = Offer.objects.filter(pk=offer_id, agent_id=request.user.pk).first()
    if offer is None:
        raise NotFound("You have no such offer.")
    return offer


@agent_required
@require_POST
def accept_offer(request: HttpRequest, offer_id: int) -> HttpResponse:
    try:
        conversation = check_accept_offer(request.user, _own_offer(request, offer_id))
    except ContactCenterError as error:
        if isinstance(error, NotFound):
            raise
        messages.error(request, error.message)
        return redirect("inbox")
    return redirect("conversation", conversation_id=conversation.pk)


@agent_required
@require_POST
def decline_offer(request: HttpRequest, offer_id: int) -> HttpResponse:
    try:
        check_decline_offer(request.user, _own_offer(request, offer_id))
    except ContactCenterError as error:
        if isinstance(error, NotFound):
            raise
        messages.error(request, error.message)
    return redirect("inbox")
