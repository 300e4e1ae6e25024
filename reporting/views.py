"""The live overview: open conversations and counts by state, refreshed over the websocket."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from agents.roles import is_supervisor
from contactcenter.core.queries import live_conversations, state_counts


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    if not is_supervisor(request.user):
        return redirect("inbox")  # agents work from their inbox
    return render(request, "reporting/overview.html", _live_context(request))


@login_required
def overview_live(request: HttpRequest) -> HttpResponse:
    """The part of the overview that changes, for the page to swap in when an event arrives."""
    return render(request, "reporting/_live.html", _live_context(request))


def _live_context(request: HttpRequest) -> dict[str, object]:
    return {
        "conversations": live_conversations(request.user),
        "counts": state_counts(request.user),
        "sees_everything": is_supervisor(request.user),
    }
