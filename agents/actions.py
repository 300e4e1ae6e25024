"""Writes for agents: creating them, their skills, presence and heartbeats."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.utils import timezone

from agents.models import AgentProfile, AgentSkill, AwayReason, Presence, PresenceChange, Team
from core import hooks, realtime
from core.errors import Invalid
from core.roles import ADMIN, ROLES, SUPERVISOR


def do_create_user(
    username: str,
    password: str,
    *,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    team: Team | None = None,
    capacity: int = 10,
) -> AbstractUser:
    """A user in one role, with an agent profile (supervisors and admins can take work too).

    Supervisors and admins are staff, so they can open the admin; admins are
    superusers.
    """
    if role not in ROLES:
        raise Invalid(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.create_user(
            username=username,
            password=password,
            email=email,
            first_name=first_name,
            last_name=last_name,
            is_staff=role in (SUPERVISOR, ADMIN),
            is_superuser=role == ADMIN,
        )
        user.groups.add(Group.objects.get(name=role))
        AgentProfile.objects.create(user=user, team=team, capacity=capacity)
    return user


def do_set_agent_skill(profile: AgentProfile, skill_id: int, level: int) -> AgentSkill:
    if not 1 <= level <= 10:
        raise Invalid(f"A skill level is 1 to 10, not {level}.", fields={"level": ["Between 1 and 10."]})
    skill, _ = AgentSkill.objects.update_or_create(agent=profile, skill_id=skill_id, defaults={"level": level})
    return skill


def do_set_presence(
    profile: AgentProfile, presence: str, *, reason: str = "", cause: str = "agent", at: datetime | None = None
) -> AgentProfile:
    """Change an agent's presence and log it; an agent becoming available triggers routing.

    Away needs a reason code (break, lunch, training, ...).
    """
    if presence not in Presence.values:
        raise Invalid(f"Unknown presence {presence!r}; use one of {', '.join(Presence.values)}.")
    if presence == Presence.AWAY and reason not in AwayReason.values:
        raise Invalid(
            f"Away needs a reason: one of {', '.join(AwayReason.values)}.", fields={"reason": ["Choose a reason."]}
        )
    if presence != Presence.AWAY:
        reason = ""
    now = at or timezone.now()
    with transaction.atomic():
        current = AgentProfile.objects.select_for_update().get(pk=profile.pk)
        if current.presence == presence and current.presence_reason == reason:
            return current
        PresenceChange.objects.create(
            agent=current,
            at=now,
            presence=presence,
            reason=reason,
            previous=current.presence,
            previous_seconds=max(0.0, (now - current.presence_since).total_seconds()),
            cause=cause,
        )
        AgentProfile.objects.filter(pk=profile.pk).update(presence=presence, presence_reason=reason, presence_since=now)
        profile.presence, profile.presence_reason, profile.presence_since = presence, reason, now
        event = {"type": "agents", "op": "changed", "ids": [profile.user_id]}
        transaction.on_commit(lambda: realtime.send_event(event, [realtime.SUPERVISORS_GROUP]))
        if presence == Presence.AVAILABLE:
            hooks.routing_wanted()
        elif current.presence == Presence.AVAILABLE:
            hooks.agent_unavailable(profile.user_id)
    return profile


def do_heartbeat(profile: AgentProfile) -> None:
    """The agent's browser is alive (sent by the live socket)."""
    AgentProfile.objects.filter(pk=profile.pk).update(last_heartbeat_at=timezone.now())


def do_time_out_silent_agents(now: datetime | None = None) -> list[int]:
    """Agents whose browser went silent are set offline, and their work re-routed per queue policy.

    Only agents who have had a live browser are watched: an agent who never
    connected (an integration, a seeded demo agent) has no heartbeat to lose.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.AGENT_HEARTBEAT_TIMEOUT_SECONDS)
    silent = list(
        AgentProfile.objects.exclude(presence=Presence.OFFLINE).filter(
            last_heartbeat_at__isnull=False, last_heartbeat_at__lt=cutoff
        )
    )
    for profile in silent:
        do_set_presence(profile, Presence.OFFLINE, cause="timeout", at=now)
        hooks.agent_timed_out(profile.user_id)  # routing re-queues their work, waiting for them (sticky)
    return [profile.user_id for profile in silent]
