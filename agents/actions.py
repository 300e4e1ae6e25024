"""Writes for agents and the people who supervise them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.utils import timezone

from agents.models import AgentProfile, Presence, Team
from agents.roles import ADMIN, ROLES, SUPERVISOR
from contactcenter.errors import Invalid


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


def do_set_presence(profile: AgentProfile, presence: str, *, reason: str = "") -> AgentProfile:
    if presence not in Presence.values:
        raise Invalid(f"Unknown presence {presence!r}; use one of {', '.join(Presence.values)}.")
    if presence != Presence.AWAY:
        reason = ""
    now = timezone.now()
    AgentProfile.objects.filter(pk=profile.pk).update(presence=presence, presence_reason=reason, presence_since=now)
    profile.presence, profile.presence_reason, profile.presence_since = presence, reason, now
    return profile
