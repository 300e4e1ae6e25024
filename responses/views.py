"""Supervisors' approval of held replies, and the customers' CSAT survey page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import Conflict, ContactCenterError, NotFound, PermissionDenied
from core.roles import is_supervisor
from responses.actions import check_approve_reply, check_held_reply, check_reject_reply, held_replies
from responses.surveys import SCORES, do_answer_survey, survey_for


@login_required
def approvals(request: HttpRequest) -> HttpResponse:
    if not is_supervisor(request.user):
        raise PermissionDenied("Only supervisors approve replies.")
    return render(request, "responses/approvals.html", {"held": held_replies()})


@login_required
@require_POST
def approve(request: HttpRequest, message_id: int) -> HttpResponse:
    check_held_reply(request.user, message_id)  # someone else's, or gone: the error page, as for any id
    try:
        check_approve_reply(request.user, message_id, text=request.POST.get("text"))
        messages.success(request, "Approved: the reply is on its way.")
    except ContactCenterError as error:
        messages.error(request, error.message)
    return redirect("approvals")


@login_required
@require_POST
def reject(request: HttpRequest, message_id: int) -> HttpResponse:
    check_held_reply(request.user, message_id)
    try:
        check_reject_reply(request.user, message_id, reason=request.POST.get("reason", ""))
        messages.success(request, "Rejected: the agent sees why.")
    except ContactCenterError as error:
        messages.error(request, error.message)
    return redirect("approvals")


class SurveyAnswerForm(forms.Form):
    score = forms.TypedChoiceField(choices=[(n, str(n)) for n in SCORES], coerce=int)
    comment = forms.CharField(required=False, max_length=2000)


@require_http_methods(["GET", "POST"])
def csat_survey(request: HttpRequest, token: str) -> HttpResponse:
    """Public (the customer has no login): rate the conversation once. Protected by CSRF like any form."""
    try:
        invitation = survey_for(token)
    except NotFound:
        return render(request, "responses/csat_done.html", {"outcome": "unknown"}, status=404)
    if invitation.answered_at is not None:
        return render(request, "responses/csat_done.html", {"outcome": "already", "invitation": invitation})
    form = SurveyAnswerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            do_answer_survey(invitation, form.cleaned_data["score"], form.cleaned_data["comment"])
        except Conflict:
            return render(request, "responses/csat_done.html", {"outcome": "already", "invitation": invitation})
        return render(request, "responses/csat_done.html", {"outcome": "thanks", "invitation": invitation})
    status = 400 if form.is_bound else 200
    return render(
        request, "responses/csat.html", {"form": form, "invitation": invitation, "scores": SCORES}, status=status
    )
