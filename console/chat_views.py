"""The agent's side of a web chat's typing indicator and read receipts: two small endpoints for console.js."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from chat.actions import do_agent_read, do_agent_typing
from core.errors import ContactCenterError
from core.queries import access_conversation
from core.roles import agent_required


@agent_required
@require_POST
def chat_typing(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """POST ``on=1`` while the agent types a reply, ``on=0`` when they stop: the visitor sees it."""
    try:
        conversation = access_conversation(request.user, conversation_id)
        do_agent_typing(request.user, conversation, request.POST.get("on") == "1")
    except ContactCenterError as error:
        return JsonResponse({"error": str(error)}, status=error.http_status)
    return JsonResponse({"ok": True})


@agent_required
@require_POST
def chat_read(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """POST ``up_to=<message id>``: the agent has seen the visitor's messages up to it."""
    try:
        up_to = int(request.POST.get("up_to", ""))
    except ValueError:
        return JsonResponse({"error": "Give up_to, a message id."}, status=400)
    try:
        conversation = access_conversation(request.user, conversation_id)
        do_agent_read(request.user, conversation, up_to)
    except ContactCenterError as error:
        return JsonResponse({"error": str(error)}, status=error.http_status)
    return JsonResponse({"ok": True})
