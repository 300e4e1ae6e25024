"""Replies: checked against the platform's rules, held for approval where required, then put in the outbox.

``check_*`` functions load and check permissions; ``do_*`` functions write.
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from agents.models import AgentProfile
from core import realtime
from core.actions import check_reply_text, do_hold_reply, do_record_reply, do_resolve_conversation
from core.configuration import bound_form, check_delete, check_save_form
from core.email_options import EmailReplyOptions, check_email_reply_options
from core.errors import Conflict, Invalid, NotFound, PermissionDenied
from core.models import Attachment, Conversation, Delivery, Direction, Disposition, EventKind, Message
from core.models import ConversationState as S
from core.queries import check_can_work, customer_email_address
from core.roles import is_supervisor
from core.text import REASON_MAX_LENGTH, check_text
from responses.forms import KnowledgeArticleForm, ResponseTemplateForm
from responses.models import KnowledgeArticle, ResponseTemplate, ReviewRule
from responses.outbox import enqueue_post
from responses.platform_rules import check_reply


def check_can_reply(user: Any, conversation: Conversation) -> None:
    """Only the conversation's agent replies (a supervisor too), and only while it is being worked."""
    check_can_work(user, conversation)
    if conversation.state not in (S.ASSIGNED, S.WAITING):
        raise Conflict(f"A reply needs the conversation assigned; it is {conversation.get_state_display().lower()}.")


def needs_review(conversation: Conversation, agent: Any) -> str:
    """Why the reply waits for a supervisor, or "" if it does not."""
    if AgentProfile.objects.filter(user=agent, is_trainee=True).exists():
        return "trainee"
    rule = (
        ReviewRule.objects.filter(enabled=True)
        .filter(Q(category="") | Q(category=conversation.category))
        .filter(Q(queue__isnull=True) | Q(queue=conversation.queue_id))
        .first()
    )
    return f"review rule: {rule.name}" if rule else ""


def last_customer_message_at(conversation: Conversation) -> Any:
    return (
        conversation.messages.filter(direction=Direction.INBOUND)
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )


def check_platform_rules(conversation: Conversation, text: str, *, private: bool) -> None:
    verdict = check_reply(
        conversation.channel,
        text,
        private=private,
        last_customer_message_at=last_customer_message_at(conversation),
        now=timezone.now(),
    )
    if not verdict.allowed:
        raise Invalid(" ".join(verdict.problems), fields={"text": list(verdict.problems)})


def do_send_reply(
    conversation: Conversation,
    agent: Any,
    text: str,
    *,
    private: bool = False,
    resolve_with: str = "",
    email: EmailReplyOptions | None = None,
) -> Message:
    """The composer's Send: check, then hold for approval or put in the outbox (and resolve, if asked).

    A reply that must be reviewed waits (``pending_approval``) and the
    conversation's clock keeps running until a supervisor releases it.
    ``email`` (subject, CC, files) is for email conversations only; it is
    stored with the reply, held or not, in the same transaction.
    """
    check_can_reply(agent, conversation)
    text = check_reply_text(text)
    check_platform_rules(conversation, text, private=private)
    if resolve_with and resolve_with not in Disposition.values:
        raise Invalid(f"Unknown disposition {resolve_with!r}.", fields={"disposition": ["Choose a disposition."]})
    email = check_email_reply_options(
        conversation.channel,
        email,
        customer_address=customer_email_address(conversation) if email is not None else "",
    )
    reason = needs_review(conversation, agent)
    with transaction.atomic():
        if reason:
            return do_hold_reply(
                conversation, agent, text, private=private, reason=reason, resolve_with=resolve_with, email=email
            )
        message = do_record_reply(conversation, agent, text, private=private, email=email)
        _post_after_commit(message)
        if resolve_with:
            do_resolve_conversation(conversation, actor=agent, disposition=resolve_with)
    return message


def _post_after_commit(message: Message) -> None:
    transaction.on_commit(partial(enqueue_post, message.pk))


def check_held_reply(user: Any, message_id: int) -> Message:
    if not is_supervisor(user):
        raise PermissionDenied("Only supervisors approve replies.")
    message = (
        Message.objects.select_related("conversation", "author_agent")
        .filter(pk=message_id, direction=Direction.OUTBOUND)
        .first()
    )
    if message is None or message.conversation is None:
        raise NotFound(f"Reply {message_id} not found.")
    if message.delivery != Delivery.PENDING_APPROVAL:
        raise Conflict("This reply is not waiting for approval any more.")
    return message


def check_approve_reply(user: Any, message_id: int, *, text: str | None = None) -> Message:
    """A supervisor releases a held reply (HTML and API), as written or edited (blank text: as written)."""
    message = check_held_reply(user, message_id)
    return do_approve_reply(message, user, text=text if text is not None and text.strip() else None)


def check_reject_reply(user: Any, message_id: int, *, reason: str) -> Message:
    """A supervisor refuses a held reply (HTML and API), saying why so the agent can learn."""
    message = check_held_reply(user, message_id)
    return do_reject_reply(message, user, reason=reason)


def do_approve_reply(message: Message, supervisor: Any, *, text: str | None = None) -> Message:
    """Release a held reply, as written or as edited by the supervisor, into the outbox (and resolve, if asked)."""
    conversation = message.conversation
    assert conversation is not None
    final = check_reply_text(text if text is not None else message.text)
    check_platform_rules(conversation, final, private=not message.is_public)
    held = Message.objects.filter(pk=message.pk, delivery=Delivery.PENDING_APPROVAL)
    with transaction.atomic():
        if not held.select_for_update().exists():
            raise Conflict("This reply was handled by someone else.")
        conversation.refresh_from_db()
        if conversation.state not in (S.ASSIGNED, S.WAITING):
            raise Conflict("The conversation moved on; this reply can no longer be sent.")
        Message.objects.filter(pk=message.pk).update(reviewed_by=supervisor)
        agent = message.author_agent or supervisor
        released = do_record_reply(conversation, agent, final, private=not message.is_public, held=message)
        resolve_with = (
            conversation.events.filter(kind=EventKind.REPLY_HELD, data__message_id=message.pk)
            .values_list("data__resolve_with", flat=True)
            .first()
        )
        _post_after_commit(released)
        if resolve_with:
            do_resolve_conversation(conversation, actor=agent, disposition=str(resolve_with))
    return released


def do_reject_reply(message: Message, supervisor: Any, *, reason: str) -> Message:
    reason = check_text(reason, field="reason", max_length=REASON_MAX_LENGTH, blank="Say why, so the agent can learn.")
    updated = Message.objects.filter(pk=message.pk, delivery=Delivery.PENDING_APPROVAL).update(
        delivery=Delivery.REJECTED, delivery_error=reason, reviewed_by=supervisor
    )
    if not updated:
        raise Conflict("This reply was handled by someone else.")
    message.delivery, message.delivery_error = Delivery.REJECTED, reason
    conversation = message.conversation
    if conversation is not None and message.author_agent_id:
        event = {"type": "conversations", "op": "changed", "ids": [conversation.pk]}
        transaction.on_commit(
            lambda: realtime.send_event(event, [realtime.user_group(message.author_agent_id)])  # type: ignore[arg-type]
        )
    return message


def held_replies() -> list[Message]:
    """Replies waiting for a supervisor, oldest first."""
    return list(
        Message.objects.filter(delivery=Delivery.PENDING_APPROVAL)
        .select_related("conversation__contact", "author_agent")
        .prefetch_related(Prefetch("files", queryset=Attachment.objects.defer("data")))
        .order_by("sent_at")
    )


# --- Templates and knowledge (the API's writes; the admin saves the same forms) -------------------


def check_save_template(data: dict[str, Any], *, template: ResponseTemplate | None = None) -> ResponseTemplate:
    return cast(ResponseTemplate, check_save_form(bound_form(ResponseTemplateForm, template, data)))


def check_delete_template(template: ResponseTemplate) -> None:
    check_delete(template, [])


def check_save_article(data: dict[str, Any], *, article: KnowledgeArticle | None = None) -> KnowledgeArticle:
    return cast(KnowledgeArticle, check_save_form(bound_form(KnowledgeArticleForm, article, data)))


def check_delete_article(article: KnowledgeArticle) -> None:
    check_delete(article, [])
