"""Supervisors' approval of held replies."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from agents.roles import is_supervisor
from contactcenter.errors import ContactCenterError, PermissionDenied
from responses.actions import check_held_reply, do_approve_reply, do_reject_reply, held_replies


@login_required
def approvals(request: HttpRequest) -> HttpResponse:
    if not is_supervisor(request.user):
        raise PermissionDenied("Only supervisors approve replies.")
    return render(request, "responses/approvals.html", {"held": held_replies()})


@login_required
@require_POST
def approve(request: HttpRequest, message_id: int) -> HttpResponse:
    message = check_held_reply(request.user, message_id)
    edited = request.POST.get("text")
    try:
        do_approve_reply(message, request.user, text=edited if edited is not None and edited.strip() else None)
        messages.success(request, "Approved: the reply is on its way.")
    except ContactCenterError as error:
        messages.error(request, error.message)
    return redirect("approvals")


@login_required
@require_POST
def reject(request: HttpRequest, message_id: int) -> HttpResponse:
    message = check_held_reply(request.user, message_id)
    try:
        do_reject_reply(message, request.user, reason=request.POST.get("reason", ""))
        messages.success(request, "Rejected: the agent sees why.")
    except ContactCenterError as error:
        messages.error(request, error.message)
    return redirect("approvals")
