"""Actions on the agent's work with a conversation: internal notes, and handle time.

Handle time is measured honestly, from the console: a work session opens when
the agent opens the conversation and closes when they leave it (the page
says so), transfer it or resolve it; each closed session writes a ``work``
ledger row with its seconds. Wrap-up runs from the moment the agent opens the
resolve form to the moment they submit it, and writes a ``wrap_up`` row. AHT
is the sum of both per conversation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.ledger import record_event
from core.models import Conversation, EventKind, Note, WorkSession
from core.text import NOTE_MAX_LENGTH, check_text

MAX_SESSION_SECONDS = 4 * 3600
"""A session left open (a closed laptop) counts at most this long."""


def check_add_note(user: Any, conversation: Conversation, text: str) -> Note:
    """An internal note on a conversation the user may see (agents and supervisors; customers never see it)."""
    text = check_text(text, field="text", max_length=NOTE_MAX_LENGTH, blank="A note needs some text.")
    return Note.objects.create(conversation=conversation, author=user, text=text)


def do_open_work(conversation: Conversation, agent: Any, *, at: datetime | None = None) -> WorkSession:
    """The agent has the conversation in front of them (opening it twice keeps one session)."""
    now = at or timezone.now()
    session = WorkSession.objects.filter(conversation=conversation, agent=agent, closed_at__isnull=True).first()
    if session is not None:
        return session
    try:
        with transaction.atomic():
            return WorkSession.objects.create(conversation=conversation, agent=agent, opened_at=now)
    except IntegrityError:  # a second tab opened it at the same moment
        return WorkSession.objects.get(conversation=conversation, agent=agent, closed_at__isnull=True)


def do_start_wrap_up(conversation: Conversation, agent: Any, *, at: datetime | None = None) -> None:
    now = at or timezone.now()
    session = do_open_work(conversation, agent, at=now)
    WorkSession.objects.filter(pk=session.pk, wrap_started_at__isnull=True).update(wrap_started_at=now)


def do_close_work(conversation: Conversation, agent: Any, *, at: datetime | None = None) -> float:
    """Close the agent's open session, writing its work (and wrap-up) seconds to the ledger. Returns work seconds."""
    now = at or timezone.now()
    with transaction.atomic():
        session = (
            WorkSession.objects.select_for_update()
            .filter(conversation=conversation, agent=agent, closed_at__isnull=True)
            .first()
        )
        if session is None:
            return 0.0
        WorkSession.objects.filter(pk=session.pk).update(closed_at=now)
        work_end = session.wrap_started_at or now
        work = min(MAX_SESSION_SECONDS, max(0.0, (work_end - session.opened_at).total_seconds()))
        record_event(EventKind.WORK, at=now, conversation=conversation, agent=agent, value_seconds=work)
        if session.wrap_started_at is not None:
            wrap = min(MAX_SESSION_SECONDS, max(0.0, (now - session.wrap_started_at).total_seconds()))
            record_event(EventKind.WRAP_UP, at=now, conversation=conversation, agent=agent, value_seconds=wrap)
    return work


def close_all_work(conversation: Conversation, *, at: datetime) -> None:
    """The work on ``conversation`` is over (it was resolved): every agent's open session closes now."""
    open_sessions = WorkSession.objects.filter(conversation=conversation, closed_at__isnull=True).select_related(
        "agent"
    )
    for session in open_sessions:
        do_close_work(conversation, session.agent, at=at)
