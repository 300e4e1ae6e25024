"""CSAT: an invitation after a console resolution, the public survey page, the ledger row and the KPI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from console.queries import journey
from core.actions import do_resolve_conversation
from core.models import Conversation, Delivery, Direction, Event, EventKind, Message
from core.models import ConversationState as S
from core.roles import is_supervisor
from monitoring.models import SocialAccount
from reporting.kpis import KpiFilter, csat
from responses.actions import do_send_reply
from responses.models import SurveyInvitation
from responses.surveys import do_answer_survey, do_invite_to_survey
from routing.models import Queue
from tests.states import conversation_in_state

CaptureCallbacks = Callable[..., Any]


@pytest.fixture
def sandbox(db: None) -> SocialAccount:
    return SocialAccount.objects.create(platform="sandbox", external_id="sandbox", name="Sandbox")


@pytest.fixture
def assigned(make_post: Any, queue: Queue, agent: Any) -> Callable[..., Conversation]:
    """A conversation on ``channel`` assigned to Ana; ``post`` options go to the customer's post."""

    def make(channel: str, *, account: SocialAccount | None = None, **post: Any) -> Conversation:
        inbound = make_post(channel=channel, **post)
        if account is not None:
            inbound = replace(inbound, account_id=account.pk)
        return conversation_in_state(S.ASSIGNED, inbound, queue=queue, agent=agent)

    return make


def resolve_in_console(client: Client, user: Any, conversation: Conversation, disposition: str = "answered") -> None:
    client.force_login(user)
    response = client.post(f"/conversations/{conversation.pk}/resolve/", {"disposition": disposition})
    assert response.status_code == 302, response.content
    conversation.refresh_from_db()
    assert conversation.state == S.RESOLVED


def survey_messages(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.filter(direction=Direction.OUTBOUND, text__contains="/csat/"))


def answered(conversation: Conversation, agent: Any, score: int) -> SurveyInvitation:
    """Resolved by ``agent`` (which invites) and rated ``score``: the actions the console and the survey page call."""
    do_resolve_conversation(conversation, actor=agent, disposition="answered")
    return do_answer_survey(SurveyInvitation.objects.get(conversation=conversation), score)


# --- The invitation -------------------------------------------------------------------------------


def test_it_invites_by_private_message_when_resolved_in_the_console_and_posts_it_through_the_sandbox(
    client: Client,
    agent: Any,
    assigned: Callable[..., Conversation],
    sandbox: SocialAccount,
    eager_tasks: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    conversation = assigned("sandbox_private", account=sandbox)

    with django_capture_on_commit_callbacks(execute=True):
        resolve_in_console(client, agent, conversation)

    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert invitation.agent == agent
    assert invitation.sent_at is not None
    assert invitation.answered_at is None and invitation.score is None
    assert len(invitation.token) >= 32
    (message,) = survey_messages(conversation)
    assert f"http://127.0.0.1:8000/csat/{invitation.token}/" in message.text
    assert not message.is_public
    assert message.delivery == Delivery.SENT
    assert message.external_id == f"sbx-reply-{message.idempotency_key}"


@pytest.mark.parametrize("channel", ["x_dm", "facebook_messenger"])
def test_it_queues_the_survey_on_private_channels_with_the_site_url(
    channel: str,
    settings: Any,
    client: Client,
    agent: Any,
    assigned: Callable[..., Conversation],
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    settings.SITE_URL = "https://support.example.com"
    conversation = assigned(channel)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resolve_in_console(client, agent, conversation)

    invitation = SurveyInvitation.objects.get(conversation=conversation)
    (message,) = survey_messages(conversation)
    assert f"https://support.example.com/csat/{invitation.token}/" in message.text
    assert (message.delivery, message.is_public) == (Delivery.QUEUED, False)
    assert message.idempotency_key is not None
    assert callbacks, "the survey is posted after commit"


def test_it_sends_no_message_once_messengers_24_hour_window_has_closed(
    client: Client, agent: Any, assigned: Callable[..., Conversation]
) -> None:
    conversation = assigned("facebook_messenger", sent_at=timezone.now() - timedelta(hours=25))

    resolve_in_console(client, agent, conversation)

    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert invitation.sent_at is None
    assert survey_messages(conversation) == []


@pytest.mark.parametrize("channel", ["x_public", "facebook_public", "sandbox_public"])
def test_it_posts_nothing_on_public_channels_but_keeps_a_link_to_share(
    channel: str, client: Client, agent: Any, assigned: Callable[..., Conversation]
) -> None:
    conversation = assigned(channel)

    resolve_in_console(client, agent, conversation)

    invitation = SurveyInvitation.objects.get(conversation=conversation)
    assert (invitation.agent, invitation.sent_at) == (agent, None)
    assert survey_messages(conversation) == []
    assert not Message.objects.filter(conversation=conversation, direction=Direction.OUTBOUND).exists()


@pytest.mark.parametrize("disposition", ["spam", "no_action"])
def test_it_does_not_survey_spam_or_no_action(
    disposition: str, client: Client, agent: Any, assigned: Callable[..., Conversation]
) -> None:
    conversation = assigned("x_dm")

    resolve_in_console(client, agent, conversation, disposition)

    assert not SurveyInvitation.objects.exists()
    assert survey_messages(conversation) == []


def test_reply_and_resolve_invites_after_the_reply(
    agent: Any, assigned: Callable[..., Conversation], django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    conversation = assigned("x_dm")

    with django_capture_on_commit_callbacks(execute=False):
        do_send_reply(conversation, agent, "All fixed, Dana.", resolve_with="answered")

    invitation = SurveyInvitation.objects.get(conversation=conversation)
    texts = list(
        conversation.messages.filter(direction=Direction.OUTBOUND).order_by("pk").values_list("text", flat=True)
    )
    assert texts == ["All fixed, Dana.", survey_messages(conversation)[0].text]
    assert invitation.agent == agent and invitation.sent_at is not None


def test_a_conversation_is_surveyed_once(agent: Any, assigned: Callable[..., Conversation]) -> None:
    conversation = assigned("x_dm")
    do_resolve_conversation(conversation, actor=agent, disposition="answered")  # invites

    again = do_invite_to_survey(conversation)

    assert again is None
    assert SurveyInvitation.objects.count() == 1
    assert len(survey_messages(conversation)) == 1


# --- The survey page ------------------------------------------------------------------------------


@pytest.fixture
def invitation(agent: Any, assigned: Callable[..., Conversation]) -> SurveyInvitation:
    conversation = assigned("x_public", name="Dana <script>alert('x')</script> White")
    do_resolve_conversation(conversation, actor=agent, disposition="answered")
    return SurveyInvitation.objects.get(conversation=conversation)


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def answer(client: Client, token: str, **data: Any) -> Any:
    client.get(f"/csat/{token}/")  # the form sets the CSRF cookie, as in a browser
    return client.post(f"/csat/{token}/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value, **data})


def test_the_survey_page_needs_no_login_and_escapes_the_customers_name(invitation: SurveyInvitation) -> None:
    response = csrf_client().get(f"/csat/{invitation.token}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "How did we do?" in html
    assert all(f'name="score" value="{n}"' in html for n in range(1, 6))
    assert "csrfmiddlewaretoken" in html
    assert "Dana &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; White" in html
    assert "<script>alert" not in html


def test_an_answer_is_recorded_with_its_ledger_row_for_the_resolving_agent(
    invitation: SurveyInvitation, agent: Any
) -> None:
    response = answer(csrf_client(), invitation.token, score="4", comment="  Quick and kind.  ")

    assert response.status_code == 200
    assert "Thank you" in response.content.decode()
    invitation.refresh_from_db()
    assert (invitation.score, invitation.comment) == (4, "Quick and kind.")
    assert invitation.answered_at is not None
    (row,) = Event.objects.filter(kind=EventKind.CSAT)
    assert (row.value, row.agent, row.conversation_id, row.channel) == (
        4.0,
        agent,
        invitation.conversation_id,
        "x_public",
    )
    assert row.data == {"invitation_id": invitation.pk, "commented": True}


def test_a_second_answer_is_refused_kindly(invitation: SurveyInvitation) -> None:
    client = csrf_client()
    answer(client, invitation.token, score="5")

    again = answer(client, invitation.token, score="1")

    assert again.status_code == 200
    assert "answered already" in again.content.decode()
    invitation.refresh_from_db()
    assert invitation.score == 5
    assert Event.objects.filter(kind=EventKind.CSAT).count() == 1


def test_a_post_without_the_csrf_token_is_refused(invitation: SurveyInvitation) -> None:
    response = csrf_client().post(f"/csat/{invitation.token}/", {"score": "5"})

    assert response.status_code == 403
    assert not Event.objects.filter(kind=EventKind.CSAT).exists()


@pytest.mark.parametrize("score", ["0", "6", "five", ""])
def test_a_score_outside_1_to_5_is_refused(invitation: SurveyInvitation, score: str) -> None:
    response = answer(csrf_client(), invitation.token, score=score)

    assert response.status_code == 400
    assert "Choose a score from 1 to 5." in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.answered_at is None


def test_an_unknown_token_is_a_404_page(db: None) -> None:
    response = Client().get("/csat/not-a-real-token/")

    assert response.status_code == 404
    assert "Survey not found" in response.content.decode()


# --- The KPI and the journey ----------------------------------------------------------------------


def test_csat_counts_responses_mean_and_share_of_4_and_5(
    agent: Any, other_agent: Any, assigned: Callable[..., Conversation]
) -> None:
    for number, score in enumerate((4, 5, 2, 5)):
        answered(assigned("x_dm", author_id=f"customer-{number}"), agent, score)
    answered(assigned("x_public", author_id="cust-ben"), other_agent, 1)
    now = timezone.now()
    period = KpiFilter(start=now - timedelta(days=1), end=now + timedelta(days=1))

    (everyone,) = csat(period)
    (ana,) = csat(replace(period, agent_id=agent.pk))
    by_channel = {row["channel"]: row for row in csat(period, "channel")}
    (before,) = csat(KpiFilter(start=now - timedelta(days=3), end=now - timedelta(days=2)))

    assert everyone == {"responses": 5, "mean_score": 3.4, "satisfied": 3, "csat_rate": 0.6}
    assert ana == {"responses": 4, "mean_score": 4.0, "satisfied": 3, "csat_rate": 0.75}
    assert by_channel["x_public"] == {
        "channel": "x_public",
        "responses": 1,
        "mean_score": 1.0,
        "satisfied": 0,
        "csat_rate": 0.0,
    }
    assert before == {"responses": 0, "mean_score": None, "satisfied": 0, "csat_rate": None}


def test_the_journey_shows_each_conversations_score_in_one_query(
    client: Client,
    supervisor: Any,
    agent: Any,
    assigned: Callable[..., Conversation],
    django_assert_num_queries: Callable[..., Any],
) -> None:
    rated = assigned("x_dm", text="Router down")
    answered(rated, agent, 5)
    unrated = assigned("x_public", text="Still down?")
    do_resolve_conversation(unrated, actor=agent, disposition="answered")
    current = assigned("x_dm", text="Thanks again")

    contact = current.contact
    is_supervisor(supervisor)  # the role is read once per request, not per query
    with django_assert_num_queries(1):
        scores = {c.pk: c.csat_score for c in journey(supervisor, contact)}
    assert scores == {rated.pk: 5, unrated.pk: None, current.pk: None}

    client.force_login(supervisor)
    html = client.get(f"/conversations/{current.pk}/").content.decode()
    assert html.count("data-csat=") == 1
    assert "CSAT 5/5" in html
