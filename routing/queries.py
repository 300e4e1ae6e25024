"""Reads for routing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet

from core.roles import AGENT, SUPERVISOR
from routing.models import Queue, Skill


def default_queue() -> Queue | None:
    return Queue.objects.select_related("sla_policy").filter(is_default=True).first()


def agents_meeting(requirements: dict[Skill, int]) -> list[int]:
    """Agent profile ids that have every skill at or above its level."""
    from agents.models import AgentSkill  # agents depends on routing's models, not the other way round

    query = Q()
    for skill, level in requirements.items():
        query |= Q(skill=skill, level__gte=level)
    rows = (
        AgentSkill.objects.filter(query)
        .values("agent_id")
        .annotate(n=Count("skill", distinct=True))
        .filter(n=len(requirements))
    )
    return [row["agent_id"] for row in rows]


def check_queue_servable(requirements: dict[Skill, int]) -> None:
    """A queue's skill requirements are refused when no agent meets them all: nobody could ever serve it.

    Used by the admin's queue page and by the API, so both refuse the same queues.
    """
    if requirements and not agents_meeting(requirements):
        wanted = " and ".join(f"{skill} ≥ {level}" for skill, level in requirements.items())
        raise ValidationError(
            f"No agent has {wanted}: nobody could ever serve this queue. Lower a level or train agents first."
        )


def queues_with_skills() -> Any:
    """Queues with their SLA policy and skill requirements, for lists: a fixed number of queries."""
    return Queue.objects.select_related("sla_policy", "breach_queue").prefetch_related("skill_requirements__skill")


def transfer_targets() -> QuerySet[Any]:
    """Who a conversation may be transferred to: active users with an agent profile, in the agent or supervisor role.

    Admin-only and role-less accounts are not there: they do not work conversations.
    """
    return (
        get_user_model()
        .objects.filter(is_active=True, agent_profile__isnull=False, groups__name__in=[AGENT, SUPERVISOR])
        .distinct()
    )
