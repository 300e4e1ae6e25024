"""Reads for the agent console: the inbox, a customer's journey, where work can be transferred."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q, QuerySet

from agents.models import AgentProfile, Presence
from console.email_display import EmailView, email_views, last_customer_subject, reply_subject
from core.email_options import max_attachment_bytes, max_attachment_files
from core.models import Channel, Contact, Conversation, Delivery, Direction, Message
from core.models import ConversationState as S
from core.queries import conversation_thread, customer_email_address, visible_conversations
from core.roles import is_supervisor
from monitoring.models import Mailbox
from routing.models import Queue, RoutingMode
from routing.queries import transfer_targets

INBOX_STATES = (S.ASSIGNED, S.WAITING)


def inbox_for(user: Any) -> list[Conversation]:
    """The agent's conversations: waiting on us first, most urgent first, then those waiting on the customer."""
    rows = (
        Conversation.objects.filter(assigned_agent=user, state__in=INBOX_STATES)
        .select_related("contact", "queue")
        .order_by("state", "-priority", "first_response_due", "waiting_since", "pk")
    )
    return list(rows)


def journey(user: Any, contact: Contact, limit: int = 50) -> list[Conversation]:
    """The customer's conversations on every channel that ``user`` may open, newest first, with CSAT (or None).

    The same conversations the contacts API shows the user: another team's
    conversation with this customer is not shown here, only counted
    (:func:`hidden_journey_count`).
    """
    return list(
        visible_conversations(user)
        .filter(contact=contact)
        .select_related("assigned_agent", "last_agent", "queue")
        .annotate(csat_score=F("survey_invitation__score"))  # a LEFT JOIN on the one-to-one: no query per row
        .order_by("-created_at")[:limit]
    )


def hidden_journey_count(user: Any, contact: Contact) -> int:
    """How many of the customer's conversations ``user`` may not open: that they exist, nothing of them."""
    if is_supervisor(user):
        return 0
    return contact.conversations.count() - visible_conversations(user).filter(contact=contact).count()


def transfer_queues() -> QuerySet[Queue]:
    return Queue.objects.order_by("name")


def transfer_agents(exclude_user_id: int | None) -> list[tuple[int, str]]:
    """Agents who could take work now (available or busy), by name: ``(user id, name)`` pairs.

    Plain rows, not users: every conversation page lists them, and with a few
    hundred agents building the model instances was most of the page's cost.
    """
    rows = (
        transfer_targets()
        .filter(agent_profile__presence__in=[Presence.AVAILABLE, Presence.BUSY])
        .exclude(pk=exclude_user_id or 0)
        .order_by("first_name", "username")
        .values_list("pk", "first_name", "last_name", "username")
    )
    return [(pk, f"{first} {last}".strip() or username) for pk, first, last, username in rows]


def has_pull_queue() -> bool:
    return Queue.objects.filter(mode=RoutingMode.PULL).exists()


def held_reply_count() -> int:
    return Message.objects.filter(delivery=Delivery.PENDING_APPROVAL).count()


def pending_or_failed(conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.filter(Q(delivery=Delivery.FAILED) | Q(delivery=Delivery.PENDING_APPROVAL))


def thread_with_context(conversation: Conversation) -> list[tuple[Message, Message | None, EmailView | None]]:
    """Each message with the post it answers (ours, the customer's, or the page's own post), if stored.

    An email conversation's messages come with their headers, folded body and files (``EmailView``); an email's
    parent is not shown (it is the mail it quotes, already folded into it).
    """
    thread = conversation_thread(conversation)
    emails = email_views(conversation, thread)
    wanted = {m.in_reply_to_external_id for m in thread if m.in_reply_to_external_id and not emails}
    parents = {
        m.external_id: m
        for m in Message.objects.filter(platform=conversation.platform, external_id__in=wanted).select_related(
            "author_identity", "author_agent"
        )
    }
    return [(m, parents.get(m.in_reply_to_external_id), emails.get(m.pk)) for m in thread]


SIGNATURE_DELIMITER = "-- \n"
"""The line mail clients (and ``fold``) know a signature by."""


@dataclass(frozen=True)
class EmailComposer:
    """What the composer shows on an email conversation, before the agent types."""

    to: str
    subject: str
    signature: str
    """The block the reply starts with, below the text to come: blank lines, the delimiter, the signature."""
    max_files: int
    max_bytes: int


def email_signature(conversation: Conversation, agent: Any) -> str:
    """The agent's own signature, else the conversation's queue's, else its mailbox's; "" when none is set."""
    mine = AgentProfile.objects.filter(user_id=agent.pk).values_list("email_signature", flat=True).first()
    if mine and mine.strip():
        return str(mine)
    if conversation.queue is not None and conversation.queue.email_signature.strip():
        return conversation.queue.email_signature
    account_id = (
        conversation.messages.filter(direction=Direction.INBOUND, account_id__isnull=False)
        .order_by("-sent_at", "-id")
        .values_list("account_id", flat=True)
        .first()
    )
    mailbox = Mailbox.objects.filter(account_id=account_id).values_list("signature", flat=True).first()
    return str(mailbox) if mailbox and mailbox.strip() else ""


def email_composer(conversation: Conversation, agent: Any) -> EmailComposer | None:
    """The composer's To, prefilled subject and signature on an email conversation; None on the other channels."""
    if conversation.channel != Channel.EMAIL:
        return None
    # Signatures typed in the admin come with the browser's CRLF line ends.
    signature = email_signature(conversation, agent).replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if signature and not signature.startswith(("-- \n", "--\n")):
        signature = SIGNATURE_DELIMITER + signature
    return EmailComposer(
        to=customer_email_address(conversation),
        subject=reply_subject(last_customer_subject(conversation)),
        signature="\n\n" + signature if signature else "",
        max_files=max_attachment_files(),
        max_bytes=max_attachment_bytes(),
    )
