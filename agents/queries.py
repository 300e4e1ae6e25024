"""Reads about agents: profiles and who is on the floor."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from agents.models import AgentProfile
from core.models import HOLDING_STATES


def profile_of(user: Any) -> AgentProfile | None:
    return AgentProfile.objects.filter(user=user).first()


def agents_on_the_floor() -> QuerySet[AgentProfile]:
    """Active agents' profiles with user, team, skills and ``load`` (weights of the work they hold): 3 queries."""
    held = Q(user__assigned_conversations__state__in=HOLDING_STATES)
    return (
        AgentProfile.objects.filter(user__is_active=True)
        .select_related("user", "team")
        .prefetch_related("skills__skill")
        .annotate(load=Coalesce(Sum("user__assigned_conversations__weight", filter=held), Value(0)))
    )
