"""Shared fixtures: named personas, a configured queue, and a post factory."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from agents.actions import do_create_user
from agents.models import Team
from core.models import Channel
from core.posts import Author, InboundPost
from core.roles import ADMIN, AGENT, SUPERVISOR
from routing.models import Queue, SLAPolicy
from tests.eager import tasks_run_eagerly

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _test_settings(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path
    # Hashing demo passwords properly costs ~0.3 s a user; tests need no secrecy.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def eager_tasks(settings: Any) -> Iterator[None]:
    """Tasks run in the caller once the transaction commits, also when a Redis broker is configured."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with tasks_run_eagerly():
        yield


@pytest.fixture
def care_team(db: None) -> Team:
    return Team.objects.create(name="Care")


@pytest.fixture
def agent(care_team: Team) -> Any:
    return do_create_user("ana", "pw-ana-12345", role=AGENT, first_name="Ana", team=care_team)


@pytest.fixture
def other_agent(db: None) -> Any:
    billing = Team.objects.create(name="Billing")
    return do_create_user("ben", "pw-ben-12345", role=AGENT, first_name="Ben", team=billing)


@pytest.fixture
def supervisor(care_team: Team) -> Any:
    return do_create_user("sofia", "pw-sofia-12345", role=SUPERVISOR, first_name="Sofia", team=care_team)


@pytest.fixture
def admin_user(db: None) -> Any:
    return do_create_user("ada", "pw-ada-12345", role=ADMIN, first_name="Ada")


@pytest.fixture
def sla(db: None) -> SLAPolicy:
    return SLAPolicy.objects.create(name="Standard", first_response_seconds=3600, next_response_seconds=1800)


@pytest.fixture
def queue(sla: SLAPolicy) -> Queue:
    return Queue.objects.create(name="General", is_default=True, sla_policy=sla)


@pytest.fixture
def make_post() -> Callable[..., InboundPost]:
    """An inbound X mention; every call a new post unless ``external_id`` is given."""

    def make(
        *,
        text: str = "My router is down again",
        external_id: str | None = None,
        thread_key: str | None = None,
        author_id: str = "3301001",
        handle: str = "danaw",
        name: str = "Dana White",
        channel: str = Channel.X_PUBLIC,
        sent_at: datetime | None = None,
        followers: int = 120,
    ) -> InboundPost:
        external_id = external_id or f"18610000000{next(_ids):08d}"
        return InboundPost(
            platform=Channel.platform_of(channel),
            channel=channel,
            external_id=external_id,
            thread_key=thread_key or external_id,
            author=Author(
                platform=Channel.platform_of(channel),
                external_id=author_id,
                handle=handle,
                display_name=name,
                followers_count=followers,
            ),
            text=text,
            sent_at=sent_at or timezone.now() - timedelta(seconds=30),
            raw={"id": external_id, "text": text},
        )

    return make


ROLLED_UP_REPORTS = ("volumes", "handle", "abandonment", "service_level", "resolution", "csat", "trends", "cost")
"""The KPI functions that read the hourly rollup (reporting.rollup) for whole rolled hours."""


@pytest.fixture(params=["ledger", "rollup"])
def ledger_source(request: Any, monkeypatch: Any) -> str:
    """Run the test twice: reports reading the ledger, then reading the rollup summed just before each call.

    The same hand-computed answers must come out of both.
    """
    if request.param == "rollup":
        from reporting import kpis, rollup

        for name in ROLLED_UP_REPORTS:
            report = getattr(kpis, name)

            def rolled_first(*args: Any, _report: Any = report, **kwargs: Any) -> Any:
                reach = rollup.do_roll_up(rebuild=True)
                assert reach is None or rollup.state() is not None
                return _report(*args, **kwargs)

            monkeypatch.setattr(kpis, name, rolled_first)
    return str(request.param)
