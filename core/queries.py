"""Reads of conversations, with who may see what decided here."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from core.errors import NotFound, PermissionDenied
from core.models import (
    OPEN_STATES,
    Attachment,
    Contact,
    Conversation,
    ConversationState,
    Direction,
    Event,
    Identity,
    Message,
    Platform,
)
from core.roles import is_supervisor


def visible_conversations(user: Any) -> QuerySet[Conversation]:
    """Supervisors see all; an agent sees what is, or was last, theirs."""
    conversations = Conversation.objects.all()
    if is_supervisor(user):
        return conversations
    return conversations.filter(Q(assigned_agent=user) | Q(last_agent=user))


def access_conversation(user: Any, conversation_id: int) -> Conversation:
    """The conversation if ``user`` may see it; ``NotFound`` either way otherwise (no probing ids)."""
    conversation = (
        visible_conversations(user)
        .select_related("contact", "queue", "assigned_agent", "last_agent")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound(f"Conversation {conversation_id} not found.")
    return conversation


def check_can_work(user: Any, conversation: Conversation) -> None:
    """Acting on a conversation (reply, transfer, escalate, resolve) is for its agent, or a supervisor."""
    if conversation.assigned_agent_id != user.pk and not is_supervisor(user):
        raise PermissionDenied("Only the agent working this conversation (or a supervisor) can do that.")


def may_reopen(user: Any, conversation: Conversation) -> bool:
    """Reopening a resolved conversation by hand is for the agent who had it last, or a supervisor."""
    return conversation.state == ConversationState.RESOLVED and (
        user.pk in (conversation.last_agent_id, conversation.assigned_agent_id) or is_supervisor(user)
    )


def access_worked_conversation(user: Any, conversation_id: int) -> Conversation:
    """The conversation if ``user`` may act on it.

    Invisible conversations are ``NotFound`` (no probing ids); visible ones the
    user may not work (e.g. one transferred away) are ``PermissionDenied``.
    """
    conversation = access_conversation(user, conversation_id)
    check_can_work(user, conversation)
    return conversation


def live_conversations(user: Any, limit: int = 50) -> list[Conversation]:
    """Open conversations for the live list, most urgent first."""
    return list(
        visible_conversations(user)
        .filter(state__in=OPEN_STATES)
        .select_related("contact", "queue", "assigned_agent")
        .order_by("-priority", "waiting_since", "created_at")[:limit]
    )


def state_counts(user: Any) -> dict[str, int]:
    rows = visible_conversations(user).values("state").annotate(n=Count("id"))
    counts = {state: 0 for state in ConversationState.values}
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def conversation_thread(conversation: Conversation) -> list[Message]:
    """The messages in order, with their files' names and sizes (not their bytes: only a download reads those)."""
    files = Prefetch("files", queryset=Attachment.objects.defer("data"))
    return list(
        conversation.messages.select_related("author_identity", "author_agent")
        .prefetch_related(files)
        .order_by("sent_at", "id")
    )


AUTOMATIC_EMAIL = ("auto_reply", "bounce")
"""``raw["email"]["auto"]`` of mail no person wrote to us: an out-of-office, a bounce from a mailer-daemon."""


def customer_email_address(conversation: Conversation) -> str:
    """The address our email replies go to: the Reply-To, else the From, of the customer's latest mail a person
    wrote (an out-of-office or a bounce answers nobody), as the sending side addresses them.

    Falls back to the contact's email address; "" when there is none.
    """
    rows = (
        conversation.messages.filter(direction=Direction.INBOUND)
        .order_by("-sent_at", "-id")
        .values_list("raw__email__reply_to", "raw__email__from", "author_identity__external_id", "raw__email__auto")[
            :20
        ]
    )
    for reply_to, sender, author, auto in rows:
        address = next((a for a in (reply_to, sender, author) if isinstance(a, str) and a), "")
        if address and auto not in AUTOMATIC_EMAIL:
            return address
    identity = (
        Identity.objects.filter(contact_id=conversation.contact_id, platform=Platform.EMAIL)
        .order_by("pk")
        .values_list("external_id", flat=True)
        .first()
    )
    return str(identity or "")


def access_attachment(user: Any, conversation_id: int, attachment_id: int) -> Attachment:
    """A file of a message in a conversation ``user`` may see; ``NotFound`` otherwise, as for the conversation."""
    conversation = access_conversation(user, conversation_id)
    attachment = Attachment.objects.filter(pk=attachment_id, message__conversation=conversation).first()
    if attachment is None:
        raise NotFound(f"Attachment {attachment_id} not found.")
    return attachment


def conversation_timeline(conversation: Conversation) -> list[Event]:
    return list(conversation.events.select_related("agent", "queue").order_by("at", "id"))


def visible_contacts(user: Any, query: str = "") -> QuerySet[Contact]:
    """Supervisors see every contact; an agent the customers of the conversations they may see.

    ``query`` matches the contact's name or any of its identities' handles and names.
    """
    contacts = Contact.objects.all()
    if not is_supervisor(user):
        contacts = contacts.filter(pk__in=visible_conversations(user).values("contact_id"))
    query = query.strip()
    if query:
        matching = Q(display_name__icontains=query) | Q(
            pk__in=Identity.objects.filter(Q(handle__icontains=query) | Q(display_name__icontains=query)).values(
                "contact_id"
            )
        )
        contacts = contacts.filter(matching)
    return contacts.prefetch_related("identities")


def access_contact(user: Any, contact_id: int) -> Contact:
    """The contact if ``user`` may see it; ``NotFound`` either way otherwise."""
    contact = visible_contacts(user).filter(pk=contact_id).first()
    if contact is None:
        raise NotFound(f"Contact {contact_id} not found.")
    return contact


def contact_conversations(user: Any, contact: Contact, limit: int = 100) -> list[Conversation]:
    """The contact's conversations ``user`` may see, newest first."""
    return list(
        visible_conversations(user)
        .filter(contact=contact)
        .select_related("queue", "assigned_agent")
        .order_by("-created_at", "-id")[:limit]
    )
