"""Roles are Django groups with permissions, defined here and rebuilt after every migrate.

* **agent** works conversations: reads contacts, conversations, messages and the
  ledger, and changes conversations (through the console's actions).
* **supervisor** also manages teams, queues, SLA policies and response content,
  and reads everything; supervisors are staff, so they can use the admin.
* **admin** has every permission of Switchboard's apps and of user management.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group, Permission
from django.db.models import Q
from django.http import HttpRequest, HttpResponse

from core.errors import PermissionDenied

AGENT, SUPERVISOR, ADMIN = "agent", "supervisor", "admin"
ROLES = (AGENT, SUPERVISOR, ADMIN)

SWITCHBOARD_APPS = ("core", "agents", "routing", "monitoring", "responses", "reporting", "quality")

ROLE_PERMISSIONS: dict[str, list[str]] = {
    AGENT: [
        "core.view_contact",
        "core.view_identity",
        "core.view_conversation",
        "core.change_conversation",
        "core.view_message",
        "core.view_event",
        "core.add_note",
        "routing.view_queue",
        "routing.view_skill",
        "agents.view_team",
        "responses.view_responsetemplate",
        "responses.view_knowledgearticle",
    ],
    SUPERVISOR: [
        "core.view_contactmerge",
        "core.change_contact",
        "agents.view_agentprofile",
        "agents.change_agentprofile",
        "agents.add_team",
        "agents.change_team",
        "routing.add_queue",
        "routing.change_queue",
        "routing.view_slapolicy",
        "routing.add_slapolicy",
        "routing.change_slapolicy",
        "routing.add_skill",
        "routing.change_skill",
        "auth.view_user",
        "responses.add_responsetemplate",
        "responses.change_responsetemplate",
        "responses.delete_responsetemplate",
        "responses.add_knowledgearticle",
        "responses.change_knowledgearticle",
        "responses.delete_knowledgearticle",
        "responses.view_reviewrule",
        "responses.add_reviewrule",
        "responses.change_reviewrule",
        "responses.delete_reviewrule",
        "core.view_note",
        "core.view_worksession",
        "quality.view_qaform",
        "quality.add_qaform",
        "quality.change_qaform",
        "quality.view_qacriterion",
        "quality.add_qacriterion",
        "quality.change_qacriterion",
        "quality.delete_qacriterion",
        "quality.view_qareview",
        "quality.view_qasample",
        "quality.view_trainingrecord",
        "quality.add_trainingrecord",
        "quality.change_trainingrecord",
    ],
}


def permissions_for(role: str) -> list[Permission]:
    """The permissions a role's group holds (each role includes the ones before it)."""
    if role == ADMIN:
        return list(
            Permission.objects.filter(
                Q(content_type__app_label__in=SWITCHBOARD_APPS)
                | Q(content_type__app_label__in=("auth", "django_celery_beat"))
            )
        )
    codes = list(ROLE_PERMISSIONS[AGENT])
    if role == SUPERVISOR:
        codes += ROLE_PERMISSIONS[SUPERVISOR]
    query = Q()
    for code in codes:
        app_label, codename = code.split(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(query))


def sync_roles() -> dict[str, int]:
    """Create the role groups and set exactly their permissions; safe to run any number of times."""
    counts = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        permissions = permissions_for(role)
        group.permissions.set(permissions)
        counts[role] = len(permissions)
    return counts


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    # post_migrate fires once per app, in INSTALLED_APPS order, after that
    # app's permissions are created; only after the last one do all exist.
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if sender is with_models[-1]:
        sync_roles()


def has_any_role(user: Any, roles: tuple[str, ...]) -> bool:
    """Whether ``user`` holds one of ``roles`` (superusers hold all). Cached on the user object."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_switchboard_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._switchboard_roles = cached
    return bool(cached & set(roles))


def is_supervisor(user: Any) -> bool:
    """Supervisors and admins see every conversation and the whole floor."""
    return has_any_role(user, (SUPERVISOR, ADMIN))


def agent_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The console's doors: signed in (else the login page) and in a role (else 403), as the API's ``IsAgent``."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not has_any_role(request.user, ROLES):
            raise PermissionDenied("Your account has no role in the contact center; ask an admin for one.")
        return view(request, *args, **kwargs)

    return login_required(checked)
