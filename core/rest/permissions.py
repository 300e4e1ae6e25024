"""Who may call what: every API view picks one of these; the roles themselves are defined in core.roles.

* ``IsAgent``: any Switchboard role (agent, supervisor or admin) — an agent's work;
* ``IsSupervisor``: supervisors and admins — reports, staffing, the whole floor;
* ``IsAdmin``: admins only — configuration;
* ``AgentReadsAdminWrites``: any role reads, admins write — queues and skills;
* ``AgentReadsSupervisorWrites``: any role reads, supervisors and admins write — templates, knowledge.

Which rows of a list a role sees (an agent's own conversations...) is decided
by the queries the views call (``core.queries``), not here.

Unauthenticated requests fail every one of them and get 401 (DRF turns a
failed permission into NotAuthenticated when no one is logged in).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from core.roles import ADMIN, ROLES, has_any_role, is_supervisor


class IsAgent(BasePermission):
    message = "You need a Switchboard role (agent, supervisor or admin)."
    code = "permission_denied"

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_any_role(request.user, ROLES)


class IsSupervisor(BasePermission):
    message = "Only supervisors and admins may do this."
    code = "permission_denied"

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_supervisor(request.user)


class IsAdmin(BasePermission):
    message = "Only admins may do this."
    code = "permission_denied"

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_any_role(request.user, (ADMIN,))


class _ReadsAndWrites(BasePermission):
    """Reading (GET, HEAD, OPTIONS) needs one role, writing another; subclasses name the two."""

    code = "permission_denied"
    read: type[BasePermission] = IsAgent
    write: type[BasePermission] = IsAdmin

    def has_permission(self, request: Request, view: Any) -> bool:
        needed = (self.read if request.method in SAFE_METHODS else self.write)()
        self.message = getattr(needed, "message", "You may not do this.")
        return needed.has_permission(request, view)


class AgentReadsAdminWrites(_ReadsAndWrites):
    """Queues and skills: every role reads them (agents transfer to queues), only admins configure them."""

    read, write = IsAgent, IsAdmin


class AgentReadsSupervisorWrites(_ReadsAndWrites):
    """Templates and knowledge: agents use them, supervisors and admins manage them."""

    read, write = IsAgent, IsSupervisor
