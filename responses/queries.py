"""Reads for the composer: templates and knowledge articles an agent may use."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from core.models import Conversation
from core.roles import is_supervisor
from responses.models import KnowledgeArticle, ResponseTemplate
from responses.templating import render


def templates_for(conversation: Conversation, agent: Any, query: str = "", limit: int = 10) -> list[dict[str, str]]:
    """Active templates of this conversation's queue and global ones, matching ``query``, rendered.

    ``/refund`` matches the shortcut exactly first, then shortcuts starting with it; plain words
    search names and bodies.
    """
    rows = ResponseTemplate.objects.filter(is_active=True)
    rows = rows.filter(Q(queue__isnull=True) | Q(queue=conversation.queue_id))
    query = query.strip()
    if query.startswith("/"):
        rows = rows.filter(shortcut__startswith=query[1:].lower())
    elif query:
        rows = rows.filter(Q(name__icontains=query) | Q(body__icontains=query) | Q(shortcut__icontains=query))
    if conversation.language:
        rows = rows.filter(Q(language="") | Q(language=conversation.language))
    return [
        {"shortcut": t.shortcut, "name": t.name, "text": render(t.body, conversation, agent)}
        for t in rows.order_by("shortcut")[:limit]
    ]


def articles_matching(query: str, limit: int = 10) -> list[dict[str, str]]:
    rows = KnowledgeArticle.objects.filter(is_published=True)
    for word in query.split()[:5]:
        rows = rows.filter(Q(title__icontains=word) | Q(body__icontains=word))
    return [{"title": a.title, "body": a.body} for a in rows.order_by("title")[:limit]]


def templates_visible_to(user: Any) -> QuerySet[ResponseTemplate]:
    """Supervisors and admins see every template (they manage them); agents the active ones."""
    rows = ResponseTemplate.objects.select_related("queue")
    return rows if is_supervisor(user) else rows.filter(is_active=True)


def articles_visible_to(user: Any, query: str = "") -> QuerySet[KnowledgeArticle]:
    """Published articles (every article for supervisors and admins), narrowed by every word of ``query``."""
    rows = KnowledgeArticle.objects.all() if is_supervisor(user) else KnowledgeArticle.objects.filter(is_published=True)
    for word in query.split()[:5]:
        rows = rows.filter(Q(title__icontains=word) | Q(body__icontains=word))
    return rows
