"""Who may call what: every API view picks one of these; the roles themselves are defined in agents.roles.

* ``IsAgent``: any Switchboard role (agent, supervisor or admin) — an agent's work;
* ``IsSupervisor``: supervisors and admins — reports, staffing, the whole floor;
* ``IsAdmin``: admins only — configuration.

Unauthenticated requests fail every one of them and get 401 (DRF turns a
failed permission into NotAuthenticated when no one is logged in).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from agents.roles import ADMIN, ROLES, has_any_role, is_supervisor


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
