"""Escalation emails per notification rules: who gets one, what it says, and that mail never hurts the action."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.actions import do_create_user
from agents.models import Team
from contactcenter.celery import app as celery_app
from core.actions import do_escalate_conversation
from core.models import Conversation
from core.roles import SUPERVISOR
from routing.models import NotificationEvent, NotificationRule, Queue
from routing.sla_watch import do_watch_sla
from tests.states import conversation_in_state

pytestmark = pytest.mark.usefixtures("eager_tasks")

SECRET_TEXT = "my card number is 4242"


@pytest.fixture(autouse=True)
def _site(settings: Any) -> None:
    settings.SITE_URL = "https://support.example.com"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def mine(agent: Any, queue: Queue, make_post: Any) -> Conversation:
    return conversation_in_state("assigned", make_post(text=SECRET_TEXT), queue=queue, agent=agent)


def rule(*events: str, **fields: Any) -> NotificationRule:
    users = fields.pop("users", [])
    groups = fields.pop("groups", [])
    made = NotificationRule.objects.create(name="Rule", events=list(events), **fields)
    made.users.set(users)
    made.groups.set(groups)
    return made


def escalate(
    conversation: Conversation, agent: Any, capture: Any, reason: str = "Threatens to go to the press"
) -> None:
    with capture(execute=True):
        do_escalate_conversation(conversation, actor=agent, reason=reason)


def test_an_escalation_emails_each_recipient_once_with_ids_queue_priority_reason_and_link(
    mine: Conversation, agent: Any, supervisor: Any, care_team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    supervisor.email = "sofia@example.com"
    supervisor.save()
    boss = do_create_user("boss", "pw-boss-12345", role=SUPERVISOR, email="boss@example.com")
    # Named three ways (user, group, team supervisors) and twice by address: still one email each.
    rule(NotificationEvent.ESCALATED, users=[supervisor], extra_emails="Oncall@example.com, sofia@example.com")
    rule(NotificationEvent.ESCALATED, groups=[Group.objects.get(name=SUPERVISOR)], supervisors_of=care_team)
    rule(NotificationEvent.SLA_BREACHED, extra_emails="breaches-only@example.com")

    escalate(mine, agent, django_capture_on_commit_callbacks)

    to = sorted((m.to[0] for m in mail.outbox), key=str.lower)
    assert to == ["boss@example.com", "Oncall@example.com", "sofia@example.com"]
    assert all(len(m.to) == 1 for m in mail.outbox)
    message = mail.outbox[0]
    assert (
        message.subject
        == f"[Switchboard] Conversation escalated: conversation #{mine.pk} (General, priority {mine.priority})"
    )
    assert "Reason: Threatens to go to the press" in message.body
    assert f"Priority: {mine.priority}" in message.body and "Queue: General" in message.body
    assert f"https://support.example.com/conversations/{mine.pk}/" in message.body
    assert SECRET_TEXT not in message.subject + message.body
    assert boss.email in [m.to[0] for m in mail.outbox]


@pytest.mark.parametrize(
    ("filters", "emailed"),
    [
        ({}, True),
        ({"min_priority": 100}, False),
        ({"min_priority": 1}, True),
        ({"queue": "other"}, False),
        ({"queue": "general"}, True),
        ({"team": "billing"}, False),
        ({"team": "care"}, True),
    ],
)
def test_filters_narrow_which_conversations_a_rule_hears_about(
    mine: Conversation,
    agent: Any,
    queue: Queue,
    care_team: Team,
    django_capture_on_commit_callbacks: Any,
    filters: dict[str, Any],
    emailed: bool,
) -> None:
    values = {
        "other": Queue.objects.create(name="Other"),
        "general": queue,
        "billing": Team.objects.create(name="Billing"),
        "care": care_team,
    }
    rule(
        NotificationEvent.ESCALATED,
        extra_emails="lead@example.com",
        **{k: values.get(v, v) for k, v in filters.items()},
    )

    escalate(mine, agent, django_capture_on_commit_callbacks)

    assert len(mail.outbox) == (1 if emailed else 0)


def test_a_disabled_rule_sends_nothing(mine: Conversation, agent: Any, django_capture_on_commit_callbacks: Any) -> None:
    rule(NotificationEvent.ESCALATED, extra_emails="lead@example.com", enabled=False)

    escalate(mine, agent, django_capture_on_commit_callbacks)

    assert mail.outbox == []


def test_nothing_is_sent_before_the_transaction_commits(mine: Conversation, agent: Any) -> None:
    rule(NotificationEvent.ESCALATED, extra_emails="lead@example.com")

    do_escalate_conversation(mine, actor=agent, reason="Urgent")  # the test's transaction never commits

    assert mail.outbox == []


def test_sla_at_risk_and_breach_email_their_rules(
    queue: Queue, agent: Any, make_post: Any, django_capture_on_commit_callbacks: Any
) -> None:
    now = timezone.now()
    conversation = conversation_in_state("queued", make_post(sent_at=now), queue=queue, agent=agent)
    rule(NotificationEvent.SLA_AT_RISK, extra_emails="risk@example.com")
    rule(NotificationEvent.SLA_BREACHED, extra_emails="breach@example.com")
    due = conversation.first_response_due
    assert due is not None

    with django_capture_on_commit_callbacks(execute=True):
        do_watch_sla(now=due - timedelta(seconds=60))
    with django_capture_on_commit_callbacks(execute=True):
        do_watch_sla(now=due + timedelta(seconds=1))

    assert [(m.to[0], m.subject.split(":")[0]) for m in mail.outbox] == [
        ("risk@example.com", "[Switchboard] SLA at risk"),
        ("breach@example.com", "[Switchboard] SLA breached"),
    ]
    assert f"response due {due.isoformat()}" in mail.outbox[1].body


@pytest.fixture
def worker_retries(eager_tasks: None) -> Iterator[None]:
    """Run retries as a worker would (at once here): eager tasks that do not propagate are re-applied on retry."""
    saved = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = saved


class FailingOnceBackend(EmailBackend):
    """The mail server is down for the first message, then back."""

    failures = 0

    def send_messages(self, messages: Any) -> int:
        if FailingOnceBackend.failures == 0:
            FailingOnceBackend.failures += 1
            raise ConnectionRefusedError("SMTP down")
        return super().send_messages(messages)


class AlwaysFailingBackend(EmailBackend):
    def send_messages(self, messages: Any) -> int:
        raise ConnectionRefusedError("SMTP down")


@pytest.mark.usefixtures("worker_retries")
def test_a_failing_mail_server_is_retried_and_never_breaks_the_action(
    mine: Conversation, agent: Any, settings: Any, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.FailingOnceBackend"
    FailingOnceBackend.failures = 0
    rule(NotificationEvent.ESCALATED, extra_emails="lead@example.com")

    escalate(mine, agent, django_capture_on_commit_callbacks)

    mine.refresh_from_db()
    assert mine.escalated
    assert [m.to for m in mail.outbox] == [["lead@example.com"]]
    assert "notification email to lead@example.com failed" in caplog.text


@pytest.mark.usefixtures("worker_retries")
def test_a_mail_server_that_stays_down_is_given_up_and_logged(
    mine: Conversation, agent: Any, settings: Any, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.AlwaysFailingBackend"
    rule(NotificationEvent.ESCALATED, extra_emails="lead@example.com")

    escalate(mine, agent, django_capture_on_commit_callbacks)

    mine.refresh_from_db()
    assert mine.escalated
    assert mail.outbox == []
    assert "given up after 5 retries" in caplog.text


def test_without_a_worker_a_failed_email_is_logged_and_the_action_stands(
    mine: Conversation, agent: Any, settings: Any, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.AlwaysFailingBackend"
    rule(NotificationEvent.ESCALATED, extra_emails="lead@example.com")

    escalate(mine, agent, django_capture_on_commit_callbacks)  # eager tasks that propagate: the embedded default

    mine.refresh_from_db()
    assert mine.escalated
    assert "notification email to lead@example.com failed" in caplog.text


# --- The admin ------------------------------------------------------------------------------------------


@pytest.fixture
def as_admin(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def rule_form(**fields: Any) -> dict[str, Any]:
    return {"name": "Leads", "enabled": "on", "events": ["escalated"], "extra_emails": "", "min_priority": ""} | fields


def test_the_admin_saves_a_rule(as_admin: Client) -> None:
    response = as_admin.post(
        reverse("admin:routing_notificationrule_add"), rule_form(extra_emails="lead@example.com\nboss@example.com")
    )

    assert response.status_code == 302, response.content
    saved = NotificationRule.objects.get()
    assert saved.events == ["escalated"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Choose who is emailed"),
        ({"extra_emails": "not-an-address"}, "Not an email address: not-an-address."),
        ({"extra_emails": "a@example.com", "events": []}, "This field is required."),
        ({"extra_emails": "a@example.com", "events": ["spike"], "min_priority": "50"}, "A spike is about a category"),
    ],
)
def test_the_admin_refuses_a_rule_that_cannot_work(as_admin: Client, fields: dict[str, Any], message: str) -> None:
    response = as_admin.post(reverse("admin:routing_notificationrule_add"), rule_form(**fields))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not NotificationRule.objects.exists()
