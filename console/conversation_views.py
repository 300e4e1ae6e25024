"""The conversation page and the actions an agent takes on it.

Each POST calls one action. On a refused action the page is rendered again
with the agent's text kept and the reason shown: nothing typed is lost.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_GET, require_POST

from console import queries as console
from console.downloads import attachment_response
from console.email_display import EmailView
from core.actions import (
    allowed_transitions,
    check_escalate_conversation,
    check_reopen_conversation,
    check_resolve_conversation,
)
from core.email_options import EmailReplyOptions, ReplyFile, check_attachment_limits, split_addresses
from core.errors import ContactCenterError, NotFound
from core.handling import check_add_note, do_close_work, do_open_work, do_start_wrap_up
from core.models import Conversation, Delivery, Disposition, Message
from core.models import ConversationState as S
from core.queries import access_attachment, access_conversation, conversation_timeline, may_reopen
from core.roles import agent_required, is_supervisor
from responses.actions import check_can_reply, do_send_reply, last_customer_message_at
from responses.platform_rules import check_reply
from responses.queries import articles_matching, templates_for
from responses.templating import VARIABLES
from routing.actions import check_transfer_conversation


def _with_context(conversation: Conversation) -> list[tuple[Message, Message | None, EmailView | None]]:
    return console.thread_with_context(conversation)


def _page(request: HttpRequest, conversation: Conversation, *, status: int = 200, **extra: Any) -> HttpResponse:
    with_context = _with_context(conversation)
    thread = [m for m, _, _ in with_context]
    email = console.email_composer(conversation, request.user)
    context = {
        "conversation": conversation,
        "thread": with_context,
        "events": conversation_timeline(conversation),
        "identities": list(conversation.contact.identities.all()),
        "journey": console.journey(request.user, conversation.contact),
        "journey_hidden": console.hidden_journey_count(request.user, conversation.contact),
        "notes": list(conversation.notes.select_related("author")),
        "transitions": allowed_transitions(conversation.state),
        "why": next((m.triage for m in thread if m.direction == "in" and m.triage), {}),
        "is_mine": conversation.assigned_agent_id == request.user.pk and conversation.state in (S.ASSIGNED, S.WAITING),
        "can_work": conversation.assigned_agent_id == request.user.pk or is_supervisor(request.user),
        "can_reopen": may_reopen(request.user, conversation),
        "queues": console.transfer_queues(),
        # Built here, not by a template loop: a few hundred options, on every conversation page.
        "agent_options": format_html_join(
            "", '<option value="{}">{}</option>', console.transfer_agents(request.user.pk)
        ),
        "dispositions": Disposition.choices,
        "variables": VARIABLES.items(),
        # An email's limit is far beyond any reply: no counter for it.
        "limit": None
        if email is not None
        else check_reply(conversation.channel, "x", last_customer_message_at=None, now=timezone.now()).limit,
        "email": email,
        **extra,
    }
    return render(request, "console/conversation.html", context, status=status)


@agent_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = access_conversation(request.user, conversation_id)
    if conversation.assigned_agent_id == request.user.pk and conversation.state in (S.ASSIGNED, S.WAITING):
        do_open_work(conversation, request.user)  # reading a resolved conversation is not handling it
    return _page(request, conversation)


@agent_required
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
            subject_draft=request.POST.get("subject"),
            cc_draft=request.POST.get("cc", ""),
            files_dropped=bool(request.FILES),
        )
    messages.success(request, done)
    return redirect("conversation", conversation_id=conversation.pk)


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)  # every view here requires a login


@agent_required
@require_POST
def reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    text = request.POST.get("text", "")
    private = request.POST.get("private") == "1"
    resolve_with = request.POST.get("resolve_with", "")

    def send(conversation: Conversation) -> None:
        email = _email_options(request)
        message = do_send_reply(
            conversation, _user(request), text, private=private, resolve_with=resolve_with, email=email
        )
        if message.delivery == Delivery.PENDING_APPROVAL:
            messages.info(request, "Your reply waits for a supervisor's approval before it is posted.")

    return _act(request, conversation_id, send, "Reply sent." if not resolve_with else "Replied and resolved.")


def _email_options(request: HttpRequest) -> EmailReplyOptions | None:
    """The email composer's subject, CC and files (None from the other channels' composer, which has none)."""
    files = request.FILES.getlist("attachments")
    if "subject" not in request.POST and "cc" not in request.POST and not files:
        return None
    check_attachment_limits([upload.size or 0 for upload in files])  # before reading them into memory
    return EmailReplyOptions(
        subject=request.POST.get("subject"),
        cc=tuple(split_addresses(request.POST.get("cc", ""))),
        attachments=tuple(
            ReplyFile(filename=upload.name or "", content_type=upload.content_type or "", data=upload.read())
            for upload in files
        ),
    )


@agent_required
@require_GET
def attachment(request: HttpRequest, conversation_id: int, attachment_id: int) -> HttpResponse:
    """A message's file, as a download, for whoever may see the conversation (404 for anyone else)."""
    stored = access_attachment(request.user, conversation_id, attachment_id)
    if stored.dropped_reason:
        raise NotFound(f"This file was not stored: {stored.dropped_reason}")
    return attachment_response(stored)


@agent_required
@require_POST
def resolve(request: HttpRequest, conversation_id: int) -> HttpResponse:
    disposition = request.POST.get("disposition", "")
    return _act(
        request,
        conversation_id,
        lambda c: check_resolve_conversation(_user(request), c, disposition=disposition),
        "Resolved.",
    )


@agent_required
@require_POST
def reopen(request: HttpRequest, conversation_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _act(
        request,
        conversation_id,
        lambda c: check_reopen_conversation(_user(request), c, reason=reason),
        "Reopened: it is back in its queue.",
    )


@agent_required
@require_POST
def start_wrap_up(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = access_conversation(request.user, conversation_id)
    if conversation.assigned_agent_id == request.user.pk:
        do_start_wrap_up(conversation, request.user)
    return HttpResponse(status=204)


@agent_required
@require_POST
def close_work(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Sent by the page as the agent leaves it (navigator.sendBeacon)."""
    conversation = access_conversation(request.user, conversation_id)
    do_close_work(conversation, request.user)
    return HttpResponse(status=204)


@agent_required
@require_POST
def transfer(request: HttpRequest, conversation_id: int) -> HttpResponse:
    def move(conversation: Conversation) -> None:
        check_transfer_conversation(
            _user(request),
            conversation,
            queue_id=request.POST.get("queue", ""),
            agent_id=request.POST.get("agent", ""),
            reason=request.POST.get("reason", ""),
        )

    response = _act(request, conversation_id, move, "Transferred.")
    if response.status_code == 302 and not is_supervisor(request.user):
        return redirect("inbox")  # it is no longer theirs to see
    return response


@agent_required
@require_POST
def escalate(request: HttpRequest, conversation_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _act(
        request,
        conversation_id,
        lambda c: check_escalate_conversation(_user(request), c, reason=reason),
        "Escalated: supervisors have been told.",
    )


@agent_required
@require_POST
def add_note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(
        request, conversation_id, lambda c: check_add_note(request.user, c, request.POST.get("note", "")), "Note added."
    )


@agent_required
@require_GET
def template_search(request: HttpRequest, conversation_id: int) -> JsonResponse:
    conversation = access_conversation(request.user, conversation_id)
    return JsonResponse({"templates": templates_for(conversation, request.user, request.GET.get("q", "")[:100])})


@agent_required
@require_GET
def knowledge_search(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"articles": articles_matching(request.GET.get("q", "")[:200])})


@agent_required
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
