"""Roles are groups with permissions; who may open the admin follows from them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from core.roles import sync_roles


@pytest.mark.django_db
def test_migrate_creates_the_three_roles_with_growing_permissions() -> None:
    groups = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    assert set(groups) == {"agent", "supervisor", "admin"}
    assert "view_conversation" in groups["agent"] and "change_queue" not in groups["agent"]
    assert groups["agent"] < groups["supervisor"] < groups["admin"]
    assert "delete_event" in groups["admin"]


@pytest.mark.django_db
def test_syncing_roles_again_changes_nothing() -> None:
    before = {g.name: g.permissions.count() for g in Group.objects.all()}
    sync_roles()
    assert {g.name: g.permissions.count() for g in Group.objects.all()} == before


@pytest.mark.django_db
@pytest.mark.parametrize(("persona", "status"), [("agent", 302), ("supervisor", 200), ("admin_user", 200)])
def test_only_supervisors_and_admins_open_the_admin(persona: str, status: int, request: Any) -> None:
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/admin/").status_code == status


@pytest.mark.django_db
def test_supervisors_manage_queues_but_not_users(supervisor: Any) -> None:
    client = Client()
    client.force_login(supervisor)
    assert client.get("/admin/routing/queue/add/").status_code == 200
    assert client.get("/admin/auth/user/add/").status_code == 403
