"""Management commands an operator runs: seeding the demo."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from core.models import Conversation, Message
from quality.models import QaCriterion, QaForm
from routing.models import Queue


@pytest.mark.django_db
def test_seed_demo_creates_users_configuration_and_posts_once(settings: Any) -> None:
    settings.DATABASE_URL = None
    out = StringIO()
    call_command("seed_demo", posts=5, emails=3, stdout=out)
    assert "supervisor  switchboard-supervisor" in out.getvalue()
    users = get_user_model().objects.count()
    assert users == 6 and Queue.objects.get(is_default=True).name == "General"
    assert Message.objects.filter(platform="sandbox").count() == 5 and Conversation.objects.exists()
    assert Message.objects.filter(platform="email").count() == 3
    conversations = Conversation.objects.count()
    form = QaForm.objects.get(active=True)
    assert form.criteria.count() == 4 and form.criteria.filter(critical=True).count() == 1
    form.full_clean()  # what the admin would accept

    call_command("seed_demo", posts=5, emails=3, stdout=StringIO())
    assert get_user_model().objects.count() == users and Conversation.objects.count() == conversations
    assert QaCriterion.objects.count() == 4

    agent = get_user_model().objects.get(username="ana")
    assert agent.check_password("switchboard-agent") and not agent.is_staff
    assert agent.groups.get().name == "agent" and agent.agent_profile.presence == "available"  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_seed_demo_refuses_a_production_database_without_force(settings: Any) -> None:
    settings.DATABASE_URL = "postgres://db/switchboard"
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_demo", stdout=StringIO())
    assert get_user_model().objects.count() == 0
