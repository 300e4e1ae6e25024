"""CSAT: after a resolution the customer is invited to rate it, once, on a public page.

Where the platform allows a private message (an X DM, Messenger within its
24-hour window, a sandbox private message, an email where RFC 3834 allows an
automatic answer) the invitation is sent as one,
through the outbox like any reply. On public channels nothing is posted: a
public "rate us" reply under the customer's post reads as spam to them and to
everyone else. The invitation is still created there, so an agent can share
the link by hand (or privately, where that is possible).
"""

from __future__ import annotations

import secrets
import uuid
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actions import record_event
from core.errors import Conflict, Invalid, NotFound
from core.models import Channel, Conversation, Delivery, Direction, EventKind, Message
from core.models import ConversationState as S
from responses.actions import last_customer_message_at
from responses.automatic import automatic_mail_refusal
from responses.models import SurveyInvitation
from responses.outbox import enqueue_post
from responses.platform_rules import check_reply

NOT_SURVEYED = frozenset({"spam", "no_action"})
"""Dispositions that end a conversation nobody should be asked to rate."""

SCORES = (1, 2, 3, 4, 5)


def survey_url(invitation: SurveyInvitation) -> str:
    return f"{settings.SITE_URL}/csat/{invitation.token}/"


def survey_text(invitation: SurveyInvitation) -> str:
    return f"Thanks for getting in touch. How did we do? Rate us from 1 to 5 (one click): {survey_url(invitation)}"


def _resolved_by(conversation: Conversation) -> int | None:
    """The agent on the latest ``resolved`` ledger row: who resolved it (an agent or a supervisor)."""
    return (
        conversation.events.filter(kind=EventKind.RESOLVED)
        .order_by("-at", "-id")
        .values_list("agent_id", flat=True)
        .first()
    )


def _may_message(conversation: Conversation, text: str) -> bool:
    """A private channel, and the platform accepts a message now (Messenger: within 24 h of the customer's).

    By email, also only where an automatic answer is welcome (``responses.automatic``).
    """
    if Channel.is_public(conversation.channel) or automatic_mail_refusal(conversation):
        return False
    verdict = check_reply(
        conversation.channel,
        text,
        private=True,
        last_customer_message_at=last_customer_message_at(conversation),
        now=timezone.now(),
    )
    return verdict.allowed


def do_invite_to_survey(conversation: Conversation) -> SurveyInvitation | None:
    """Invite the customer to rate a conversation just resolved; ``None`` when no invitation is due.

    Preconditions: the conversation was resolved (the caller may still be in
    the resolving transaction). Spam and "no action" resolutions are not
    surveyed, and a conversation is surveyed at most once, also after a reopen
    (the one-to-one row enforces it against concurrent resolutions). The
    survey message, where one is allowed, is queued in the outbox and posted
    after commit.
    """
    if conversation.state != S.RESOLVED or conversation.disposition in NOT_SURVEYED:
        return None
    now = timezone.now()
    with transaction.atomic():
        if SurveyInvitation.objects.filter(conversation=conversation).exists():
            return None
        try:
            with transaction.atomic():  # a savepoint: losing the race must not break the caller's transaction
                invitation = SurveyInvitation.objects.create(
                    conversation=conversation,
                    agent_id=_resolved_by(conversation),
                    token=secrets.token_urlsafe(24),
                    created_at=now,
                )
        except IntegrityError:
            return None  # resolved twice at once: the other resolution invited
        text = survey_text(invitation)
        if _may_message(conversation, text):
            message = Message.objects.create(
                conversation=conversation,
                direction=Direction.OUTBOUND,
                platform=conversation.platform,
                text=text,
                is_public=False,
                sent_at=now,
                delivery=Delivery.QUEUED,
                idempotency_key=uuid.uuid4(),
                raw={"automatic": "csat_invitation"},
            )
            SurveyInvitation.objects.filter(pk=invitation.pk).update(sent_at=now)
            invitation.sent_at = now
            _post_after_commit(message.pk)
    return invitation


def _post_after_commit(message_id: int) -> None:
    transaction.on_commit(partial(enqueue_post, message_id))


def survey_for(token: str) -> SurveyInvitation:
    """The invitation behind a survey link, with what its page shows; ``NotFound`` for an unknown token."""
    invitation = SurveyInvitation.objects.select_related("conversation__contact", "agent").filter(token=token).first()
    if invitation is None:
        raise NotFound("This survey link is not valid.")
    return invitation


def do_answer_survey(invitation: SurveyInvitation, score: int, comment: str = "") -> SurveyInvitation:
    """Record the customer's answer, once, and its ``csat`` ledger row (value = score, agent = who resolved).

    A second answer (another tab, a double click) raises ``Conflict``: the
    conditional update lets exactly one of two concurrent answers through.
    """
    if score not in SCORES:
        raise Invalid("Choose a score from 1 to 5.", fields={"score": ["Choose a score from 1 to 5."]})
    comment = comment.strip()
    now = timezone.now()
    with transaction.atomic():
        answered = SurveyInvitation.objects.filter(pk=invitation.pk, answered_at__isnull=True).update(
            answered_at=now, score=score, comment=comment
        )
        if not answered:
            raise Conflict("This survey has been answered already.")
        invitation.answered_at, invitation.score, invitation.comment = now, score, comment
        record_event(
            EventKind.CSAT,
            at=now,
            conversation=invitation.conversation,
            agent=invitation.agent,
            value=float(score),
            data={"invitation_id": invitation.pk, "commented": bool(comment)},
        )
    return invitation
