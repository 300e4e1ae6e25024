"""The conversation page: thread, customer, and the ledger timeline."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from contactcenter.core.actions import allowed_transitions
from contactcenter.core.queries import access_conversation, conversation_thread, conversation_timeline


@login_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = access_conversation(request.user, conversation_id)
    messages = conversation_thread(conversation)
    return render(
        request,
        "agents/conversation.html",
        {
            "conversation": conversation,
            "messages": messages,
            "events": conversation_timeline(conversation),
            "identities": list(conversation.contact.identities.all()),
            "transitions": allowed_transitions(conversation.state),
            "why": next((m.triage for m in messages if m.direction == "in" and m.triage), {}),
        },
    )
