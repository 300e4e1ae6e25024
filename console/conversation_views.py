"""The conversation page and the actions an agent takes on it.

Each POST calls one action. On a refused action the page is rendered again
with the agent's text kept and the reason shown: nothing typed is lost.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_GET, require_POST

from console import queries as console
from core.actions import (
    allowed_transitions,
    do_escalate_conversation,
    do_resolve_conversation,
    do_transfer_to_agent,
    do_transfer_to_queue,
)
from core.errors import ContactCenterError, Invalid
from core.handling import do_add_note, do_close_work, do_open_work, do_start_wrap_up
from core.models import Conversation, Message
from core.models import ConversationState as S
from core.queries import (
    access_conversation,
    check_can_work,
    conversation_timeline,
)
from core.roles import is_supervisor
from responses.actions import DISPOSITIONS, check_can_reply, do_send_reply, last_customer_message_at
from responses.platform_rules import check_reply
from responses.queries import articles_matching, templates_for
from responses.surveys import do_invite_to_survey
from responses.templating import VARIABLES
from routing.models import Queue


def _with_context(conversation: Conversation) -> list[tuple[Message, Message | None]]:
    return console.thread_with_context(conversation)


def _page(request: HttpRequest, conversation: Conversation, *, status: int = 200, **extra: Any) -> HttpResponse:
    with_context = _with_context(conversation)
    thread = [m for m, _ in with_context]
    context = {
        "conversation": conversation,
        "thread": with_context,
        "events": conversation_timeline(conversation),
        "identities": list(conversation.contact.identities.all()),
        "journey": console.journey(conversation.contact),
        "notes": list(conversation.notes.select_related("author")),
        "transitions": allowed_transitions(conversation.state),
        "why": next((m.triage for m in thread if m.direction == "in" and m.triage), {}),
        "is_mine": conversation.assigned_agent_id == request.user.pk and conversation.state in (S.ASSIGNED, S.WAITING),
        "can_work": conversation.assigned_agent_id == request.user.pk or is_supervisor(request.user),
        "queues": console.transfer_queues(),
        # Built here, not by a template loop: a few hundred options, on every conversation page.
        "agent_options": format_html_join(
            "", '<option value="{}">{}</option>', console.transfer_agents(request.user.pk)
        ),
        "dispositions": DISPOSITIONS.items(),
        "variables": VARIABLES.items(),
        "limit": check_reply(conversation.channel, "x", last_customer_message_at=None, now=timezone.now()).limit,
        **extra,
    }
    return render(request, "console/conversation.html", context, status=status)


@login_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = access_conversation(request.user, conversation_id)
    if conversation.assigned_agent_id == request.user.pk and conversation.state in (S.ASSIGNED, S.WAITING):
        do_open_work(conversation, request.user)  # reading a resolved conversation is not handling it
    return _page(request, conversation)


@login_required
def conversation_live(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The parts of the page that change while the agent types: thread and timeline."""
    conversation = access_conversation(request.user, conversation_id)
    return render(
        request,
        "console/_thread.html",
        {
            "conversation": conversation,
            "thread": _with_context(conversation),
            "events": conversation_timeline(conversation),
        },
    )


def _act(request: HttpRequest, conversation_id: int, action: Any, done: str) -> HttpResponse:
    conversation = access_conversation(request.user, conversation_id)
    try:
        action(conversation)
    except ContactCenterError as error:
        # Whatever the agent typed comes back with the reason: nothing is lost.
        return _page(
            request,
            conversation,
            status=error.http_status,
            error=error,
            draft=request.POST.get("text", ""),
            note_draft=request.POST.get("note", ""),
            reason_draft=request.POST.get("reason", ""),
        )
    messages.success(request, done)
    return redirect("conversation", conversation_id=conversation.pk)


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)  # every view here requires a login


def _require_worker(request: HttpRequest, conversation: Conversation) -> None:
    check_can_work(request.user, conversation)


@login_required
@require_POST
def reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    text = request.POST.get("text", "")
    private = request.POST.get("private") == "1"
    resolve_with = request.POST.get("resolve_with", "")

    def send(conversation: Conversation) -> None:
        message = do_send_reply(conversation, _user(request), text, private=private, resolve_with=resolve_with)
        if message.delivery == "pending_approval":
            messages.info(request, "Your reply waits for a supervisor's approval before it is posted.")
        elif resolve_with:
            do_close_work(conversation, request.user)

    return _act(request, conversation_id, send, "Reply sent." if not resolve_with else "Replied and resolved.")


@login_required
@require_POST
def resolve(request: HttpRequest, conversation_id: int) -> HttpResponse:
    disposition = request.POST.get("disposition", "")

    def resolve_it(conversation: Conversation) -> None:
        _require_worker(request, conversation)
        if disposition not in DISPOSITIONS:
            raise Invalid("Choose how it ended.", fields={"disposition": ["Choose a disposition."]})
        do_resolve_conversation(conversation, actor=_user(request), disposition=disposition)
        do_invite_to_survey(conversation)
        do_close_work(conversation, request.user)

    return _act(request, conversation_id, resolve_it, "Resolved.")


@login_required
@require_POST
def start_wrap_up(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = access_conversation(request.user, conversation_id)
    if conversation.assigned_agent_id == request.user.pk:
        do_start_wrap_up(conversation, request.user)
    return HttpResponse(status=204)


@login_required
@require_POST
def close_work(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Sent by the page as the agent leaves it (navigator.sendBeacon)."""
    conversation = access_conversation(request.user, conversation_id)
    do_close_work(conversation, request.user)
    return HttpResponse(status=204)


@login_required
@require_POST
def transfer(request: HttpRequest, conversation_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "").strip()
    queue_id, agent_id = request.POST.get("queue", ""), request.POST.get("agent", "")

    def move(conversation: Conversation) -> None:
        _require_worker(request, conversation)
        if queue_id.isdigit():
            queue = Queue.objects.filter(pk=int(queue_id)).first()
            if queue is None:
                raise Invalid("That queue no longer exists.")
            do_close_work(conversation, request.user)
            do_transfer_to_queue(conversation, queue, actor=_user(request), reason=reason)
        elif agent_id.isdigit():
            agent = get_user_model().objects.filter(pk=int(agent_id), is_active=True).first()
            if agent is None:
                raise Invalid("That agent cannot take work.")
            do_close_work(conversation, request.user)
            do_transfer_to_agent(conversation, agent, actor=_user(request), reason=reason)
        else:
            raise Invalid("Choose a queue or an agent to transfer to.")

    response = _act(request, conversation_id, move, "Transferred.")
    if response.status_code == 302 and not is_supervisor(request.user):
        return redirect("inbox")  # it is no longer theirs to see
    return response


@login_required
@require_POST
def escalate(request: HttpRequest, conversation_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")

    def raise_it(conversation: Conversation) -> None:
        _require_worker(request, conversation)
        do_escalate_conversation(conversation, actor=_user(request), reason=reason)

    return _act(request, conversation_id, raise_it, "Escalated: supervisors have been told.")


@login_required
@require_POST
def add_note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(
        request, conversation_id, lambda c: do_add_note(c, request.user, request.POST.get("note", "")), "Note added."
    )


@login_required
@require_GET
def template_search(request: HttpRequest, conversation_id: int) -> JsonResponse:
    conversation = access_conversation(request.user, conversation_id)
    return JsonResponse({"templates": templates_for(conversation, request.user, request.GET.get("q", "")[:100])})


@login_required
@require_GET
def knowledge_search(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"articles": articles_matching(request.GET.get("q", "")[:200])})


@login_required
@require_POST
def reply_check(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """The composer's live counter: length the platform's way, and whether it may be sent.

    POST, not GET: the draft is customer-facing text, and a query string would put it in every access log."""
    conversation = access_conversation(request.user, conversation_id)
    try:
        check_can_reply(request.user, conversation)
        can_reply = ""
    except ContactCenterError as error:
        can_reply = error.message
    verdict = check_reply(
        conversation.channel,
        request.POST.get("text", "")[:20_000],
        private=request.POST.get("private") == "1",
        last_customer_message_at=last_customer_message_at(conversation),
        now=timezone.now(),
    )
    problems = list(verdict.problems) + ([can_reply] if can_reply else [])
    return JsonResponse({"length": verdict.length, "limit": verdict.limit, "problems": problems})
