"""The console's conversation endpoints, driven over HTTP as agents and supervisors use them.

Replies on X go through the real X connector against mocked X API HTTP; on-commit
callbacks run, so the outbox task really posts.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from requests_mock import Mocker

from agents.models import AgentProfile, PresenceChange
from core import realtime
from core.actions import do_assign_conversation, do_queue_conversation, do_transfer_to_agent
from core.capture import do_capture_post
from core.models import Conversation, Event, EventKind, Message, Note, WorkSession
from core.models import ConversationState as S
from core.posts import Triage
from monitoring.credentials import encrypt
from monitoring.models import SocialAccount
from responses.models import KnowledgeArticle, ResponseTemplate, ReviewRule
from routing.models import Queue
from tests.states import conversation_in_state

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
API = "https://api.twitter.com"
X_ACCOUNT_ID = "4400100"
CREATE_TWEET_URL = f"{API}/2/tweets"
REPLY = "Sorry Dana, an engineer is on the way. ^Ana"
X_CREDENTIALS = {
    "bearer_token": "bearer-abc",
    "consumer_key": "ck-def",
    "consumer_secret": "cs-ghi",
    "access_token": "at-jkl",
    "access_token_secret": "ats-mno",
}


class XTweets:
    """X's tweet endpoint: accepts every reply with a fresh id, and remembers what it was sent."""

    def __init__(self, requests_mock: Mocker) -> None:
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        requests_mock.post(CREATE_TWEET_URL, json=self._create)

    def _create(self, request: Any, context: Any) -> dict[str, Any]:
        self.bodies.append(request.json())
        self.texts.append(request.json()["text"])
        self.ids.append(str(1861000000000009000 + len(self.ids)))
        context.status_code = 201
        context.headers["Content-Type"] = "application/json"
        return {"data": {"id": self.ids[-1], "text": self.texts[-1], "edit_history_tweet_ids": [self.ids[-1]]}}


pytestmark = pytest.mark.usefixtures("eager_tasks")  # tasks run after commit, as in production


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[[], Any]:
    """Run what actions defer to after the commit (tasks, realtime events), as production does."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def x_posts(requests_mock: Mocker) -> XTweets:
    return XTweets(requests_mock)


@pytest.fixture
def x_account(db: None) -> SocialAccount:
    return SocialAccount.objects.create(
        platform="x",
        external_id=X_ACCOUNT_ID,
        name="Northwind Help",
        handle="northwind_help",
        credentials_encrypted=encrypt(X_CREDENTIALS),
    )


@pytest.fixture
def conversation(
    clock: time_machine.Traveller, x_account: SocialAccount, make_post: Any, queue: Queue, agent: Any
) -> Conversation:
    """Dana's tweet, captured by the X account and assigned to Ana."""
    post = replace(make_post(text="My router is down again"), account_id=x_account.pk)
    return conversation_in_state(S.ASSIGNED, post, queue=queue, agent=agent)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(conversation: Conversation, action: str = "") -> str:
    return f"/conversations/{conversation.pk}/" + (f"{action}/" if action else "")


def page_text(response: Any) -> str:
    return html.unescape(response.content.decode())


def outbound(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.filter(direction="out").order_by("pk"))


def ledger(conversation: Conversation, kind: str) -> list[Event]:
    return list(Event.objects.filter(conversation=conversation, kind=kind).order_by("pk"))


def reloaded(conversation: Conversation) -> Conversation:
    conversation.refresh_from_db()
    return conversation


def make_trainee(user: Any) -> None:
    AgentProfile.objects.filter(user=user).update(is_trainee=True)


# --- Replying ---------------------------------------------------------------------------------------


def test_the_assigned_agent_replies_and_the_reply_is_posted(
    x_posts: XTweets, on_commit: Callable[[], Any], conversation: Conversation, agent: Any
) -> None:
    client = client_for(agent)

    with on_commit():
        response = client.post(url(conversation, "reply"), {"text": f"  {REPLY}  "})

    assert response.status_code == 302 and response["Location"] == url(conversation)
    (reply,) = outbound(conversation)
    assert (reply.text, reply.delivery, reply.author_agent) == (REPLY, "sent", agent)
    assert reply.external_id == x_posts.ids[0]
    assert reloaded(conversation).state == S.WAITING
    (first,) = ledger(conversation, EventKind.FIRST_RESPONSE)
    assert first.agent == agent and first.at == NOW
    assert x_posts.bodies[0]["reply"] == {"in_reply_to_tweet_id": conversation.thread_key}

    second = "One more thing: it's the green light."
    with on_commit():
        assert client.post(url(conversation, "reply"), {"text": second}).status_code == 302
    assert len(ledger(conversation, EventKind.FIRST_RESPONSE)) == 1, "only the first reply is the first response"
    assert len(ledger(conversation, EventKind.REPLY)) == 2
    assert x_posts.texts == [REPLY, second]
    assert "Reply sent." in page_text(client.get(url(conversation)))


def test_a_reply_can_resolve_the_conversation_with_a_disposition(
    x_posts: XTweets, on_commit: Callable[[], Any], conversation: Conversation, agent: Any
) -> None:
    with on_commit():
        response = client_for(agent).post(url(conversation, "reply"), {"text": REPLY, "resolve_with": "answered"})

    assert response.status_code == 302
    conversation = reloaded(conversation)
    assert (conversation.state, conversation.disposition) == (S.RESOLVED, "answered")
    (resolved,) = ledger(conversation, EventKind.RESOLVED)
    assert resolved.data == {"disposition": "answered"}
    assert [m.delivery for m in outbound(conversation)] == ["sent"]


def test_a_reply_with_an_unknown_disposition_is_refused(
    x_posts: XTweets, on_commit: Callable[[], Any], conversation: Conversation, agent: Any
) -> None:
    with on_commit():
        response = client_for(agent).post(url(conversation, "reply"), {"text": REPLY, "resolve_with": "vanished"})

    assert response.status_code == 400
    assert outbound(conversation) == [] and x_posts.texts == []


def test_an_x_reply_over_280_weighted_characters_is_refused_and_the_draft_kept(
    x_posts: XTweets, on_commit: Callable[[], Any], conversation: Conversation, agent: Any
) -> None:
    draft = "あ" * 140 + " & <ok>"  # 147 characters, but X counts each kana as two: 287

    with on_commit():
        response = client_for(agent).post(url(conversation, "reply"), {"text": draft})

    assert response.status_code == 400
    page = page_text(response)
    assert "X allows 280 characters (counted X's way); this reply has 287." in page
    textarea = re.search(r'<textarea name="text"[^>]*>(.*?)</textarea>', response.content.decode(), re.S)
    assert textarea is not None and html.unescape(textarea.group(1)) == draft
    assert outbound(conversation) == []
    assert reloaded(conversation).state == S.ASSIGNED
    assert not ledger(conversation, EventKind.FIRST_RESPONSE)
    assert x_posts.texts == []


def test_a_messenger_reply_after_24_hours_is_refused(
    requests_mock: Mocker,
    on_commit: Callable[[], Any],
    clock: time_machine.Traveller,
    make_post: Any,
    queue: Queue,
    agent: Any,
) -> None:
    post = make_post(channel="facebook_messenger", author_id="6543210987654321", sent_at=NOW - timedelta(hours=25))
    conversation = conversation_in_state(S.ASSIGNED, post, queue=queue, agent=agent)

    with on_commit():
        response = client_for(agent).post(url(conversation, "reply"), {"text": "Sorry for the wait!"})

    assert response.status_code == 400
    page = page_text(response)
    assert "Messenger only allows replies within 24 hours of the customer's last message" in page
    assert "Sorry for the wait!</textarea>" in page
    assert outbound(conversation) == [] and requests_mock.call_count == 0


def test_another_agent_cannot_reply(
    x_posts: XTweets,
    on_commit: Callable[[], Any],
    conversation: Conversation,
    agent: Any,
    other_agent: Any,
    make_post: Any,
    queue: Queue,
) -> None:
    with on_commit():
        response = client_for(other_agent).post(url(conversation, "reply"), {"text": "Hi from Ben"})
    assert response.status_code == 404, "not even told the conversation exists"

    # Ana handed it to Ben: she still sees it, but it is no longer hers to answer.
    do_transfer_to_agent(conversation, other_agent, actor=agent)
    with on_commit():
        response = client_for(agent).post(url(conversation, "reply"), {"text": "Hi again from Ana"})
    assert response.status_code == 403
    assert "Only the agent working this conversation (or a supervisor) can do that." in page_text(response)

    assert outbound(conversation) == [] and x_posts.texts == []


# --- Replies held for approval ----------------------------------------------------------------------


def test_a_trainees_reply_waits_for_a_supervisor_and_the_clock_keeps_running(
    x_posts: XTweets, on_commit: Callable[[], Any], conversation: Conversation, agent: Any, supervisor: Any
) -> None:
    make_trainee(agent)
    client = client_for(agent)

    with on_commit():
        response = client.post(url(conversation, "reply"), {"text": REPLY})

    assert response.status_code == 302
    (held,) = outbound(conversation)
    assert (held.delivery, held.text, held.external_id) == ("pending_approval", REPLY, None)
    (row,) = ledger(conversation, EventKind.REPLY_HELD)
    assert row.data["message_id"] == held.pk and row.data["reason"] == "trainee" and row.agent == agent
    conversation = reloaded(conversation)
    assert conversation.state == S.ASSIGNED and conversation.first_response_at is None
    assert conversation.waiting_since is not None
    assert not ledger(conversation, EventKind.FIRST_RESPONSE)
    assert x_posts.texts == []
    assert "waits for a supervisor" in page_text(client.get(url(conversation)))
    assert REPLY in page_text(client_for(supervisor).get("/approvals/"))


def test_a_reply_on_a_category_under_a_review_rule_is_held(
    x_posts: XTweets,
    on_commit: Callable[[], Any],
    clock: time_machine.Traveller,
    x_account: SocialAccount,
    make_post: Any,
    queue: Queue,
    agent: Any,
) -> None:
    ReviewRule.objects.create(name="Legal threats", category="legal")
    conversations = {}
    for category in ("legal", "outage"):
        post = replace(make_post(text=f"About {category}"), account_id=x_account.pk)
        captured = do_capture_post(post, Triage(category=category)).conversation
        do_queue_conversation(captured, queue)
        conversations[category] = do_assign_conversation(captured, agent)

    with on_commit():
        for conversation in conversations.values():
            client_for(agent).post(url(conversation, "reply"), {"text": REPLY})

    (held,) = outbound(conversations["legal"])
    assert held.delivery == "pending_approval"
    assert ledger(conversations["legal"], EventKind.REPLY_HELD)[0].data["reason"] == "review rule: Legal threats"
    assert reloaded(conversations["legal"]).first_response_at is None
    (posted,) = outbound(conversations["outage"])
    assert posted.delivery == "sent", "other categories are not held"
    assert len(x_posts.texts) == 1


@pytest.mark.parametrize("edited", [None, "Sorry Dana, an engineer will call you today. ^Sofia"])
def test_a_supervisor_releases_a_held_reply_as_written_or_edited_and_it_is_posted_once(
    x_posts: XTweets,
    on_commit: Callable[[], Any],
    clock: time_machine.Traveller,
    conversation: Conversation,
    agent: Any,
    supervisor: Any,
    edited: str | None,
) -> None:
    make_trainee(agent)
    with on_commit():
        client_for(agent).post(url(conversation, "reply"), {"text": REPLY})
    (held,) = outbound(conversation)
    clock.shift(timedelta(minutes=5))
    approvals = client_for(supervisor)

    with on_commit():
        response = approvals.post(f"/approvals/{held.pk}/approve/", {"text": edited or REPLY})

    assert response.status_code == 302 and response["Location"] == "/approvals/"
    held.refresh_from_db()
    final = edited or REPLY
    assert (held.delivery, held.text, held.reviewed_by) == ("sent", final, supervisor)
    assert held.external_id == x_posts.ids[0]
    assert x_posts.texts == [final]
    conversation = reloaded(conversation)
    assert conversation.state == S.WAITING
    (first,) = ledger(conversation, EventKind.FIRST_RESPONSE)
    assert first.at == NOW + timedelta(minutes=5) and first.agent == agent, "the customer waited until approval"
    assert conversation.first_response_at == NOW + timedelta(minutes=5)

    with on_commit():
        again = approvals.post(f"/approvals/{held.pk}/approve/", {"text": final})
    assert again.status_code == 409
    assert len(x_posts.texts) == 1
    assert "Nothing waiting" in page_text(approvals.get("/approvals/"))


def test_a_held_reply_sent_with_resolve_resolves_the_conversation_only_once_approved(
    x_posts: XTweets, on_commit: Callable[[], Any], conversation: Conversation, agent: Any, supervisor: Any
) -> None:
    make_trainee(agent)
    with on_commit():
        client_for(agent).post(url(conversation, "reply"), {"text": REPLY, "resolve_with": "answered"})
    (held,) = outbound(conversation)
    assert reloaded(conversation).state == S.ASSIGNED, "nothing was said to the customer yet"

    with on_commit():
        client_for(supervisor).post(f"/approvals/{held.pk}/approve/", {"text": REPLY})

    conversation = reloaded(conversation)
    assert (conversation.state, conversation.disposition) == (S.RESOLVED, "answered")
    assert x_posts.texts == [REPLY]


def test_a_rejected_reply_is_not_posted_and_the_agent_sees_why(
    x_posts: XTweets, on_commit: Callable[[], Any], conversation: Conversation, agent: Any, supervisor: Any
) -> None:
    make_trainee(agent)
    with on_commit():
        client_for(agent).post(url(conversation, "reply"), {"text": REPLY})
    (held,) = outbound(conversation)
    approvals = client_for(supervisor)

    with on_commit():
        blank = approvals.post(f"/approvals/{held.pk}/reject/", {"reason": "  "}, follow=True)
    assert "Say why, so the agent can learn." in page_text(blank)
    held.refresh_from_db()
    assert held.delivery == "pending_approval"

    with on_commit():
        response = approvals.post(f"/approvals/{held.pk}/reject/", {"reason": "Don't promise a visit before we check."})

    assert response.status_code == 302
    held.refresh_from_db()
    assert (held.delivery, held.delivery_error, held.reviewed_by) == (
        "rejected",
        "Don't promise a visit before we check.",
        supervisor,
    )
    page = page_text(client_for(agent).get(url(conversation)))
    assert "Rejected by a supervisor: Don't promise a visit before we check." in page
    assert x_posts.texts == []
    assert reloaded(conversation).first_response_at is None


def test_only_supervisors_approve_or_reject(
    x_posts: XTweets, on_commit: Callable[[], Any], conversation: Conversation, agent: Any, other_agent: Any
) -> None:
    make_trainee(agent)
    with on_commit():
        client_for(agent).post(url(conversation, "reply"), {"text": REPLY})
    (held,) = outbound(conversation)

    for user in (agent, other_agent):
        client = client_for(user)
        assert client.get("/approvals/").status_code == 403
        with on_commit():
            assert client.post(f"/approvals/{held.pk}/approve/", {"text": "Sent anyway"}).status_code == 403
            assert client.post(f"/approvals/{held.pk}/reject/", {"reason": "no"}).status_code == 403

    held.refresh_from_db()
    assert (held.delivery, held.text) == ("pending_approval", REPLY)
    assert x_posts.texts == []


# --- Templates and knowledge ------------------------------------------------------------------------


def test_templates_are_rendered_for_the_conversation_from_its_queue_and_global_ones(
    conversation: Conversation, agent: Any, queue: Queue
) -> None:
    billing = Queue.objects.create(name="Billing")
    body = "Hi {customer_first_name} ({customer_name}), {agent_name} here: refund for {case_reference} is on its way."
    ResponseTemplate.objects.create(name="Refund", shortcut="refund", body=body)
    ResponseTemplate.objects.create(name="Refund, general", shortcut="refund-general", body="{queue}", queue=queue)
    ResponseTemplate.objects.create(name="Refund, billing", shortcut="refund-billing", body="x", queue=billing)
    ResponseTemplate.objects.create(name="Old refund", shortcut="refund-old", body="x", is_active=False)
    ResponseTemplate.objects.create(name="Outage", shortcut="outage", body="x")

    response = client_for(agent).get(url(conversation, "templates"), {"q": "/refund"})

    assert response.status_code == 200
    assert response.json() == {
        "templates": [
            {
                "shortcut": "refund",
                "name": "Refund",
                "text": f"Hi Dana (Dana White), Ana here: refund for #{conversation.pk} is on its way.",
            },
            {"shortcut": "refund-general", "name": "Refund, general", "text": "General"},
        ]
    }
    words = client_for(agent).get(url(conversation, "templates"), {"q": "outage"}).json()
    assert [t["shortcut"] for t in words["templates"]] == ["outage"]


def test_templates_of_a_conversation_the_agent_cannot_see_are_not_served(
    conversation: Conversation, other_agent: Any
) -> None:
    ResponseTemplate.objects.create(name="Refund", shortcut="refund", body="Hi {customer_name}")
    assert client_for(other_agent).get(url(conversation, "templates"), {"q": "/refund"}).status_code == 404


def test_knowledge_search_finds_published_articles_only(agent: Any) -> None:
    KnowledgeArticle.objects.create(title="Resetting a router", body="Hold the reset button for 10 seconds.")
    KnowledgeArticle.objects.create(title="Router recall (draft)", body="Not yet announced.", is_published=False)
    KnowledgeArticle.objects.create(title="Billing cycles", body="Bills go out on the 1st.")

    response = client_for(agent).get("/knowledge/", {"q": "router"})

    assert response.json() == {
        "articles": [{"title": "Resetting a router", "body": "Hold the reset button for 10 seconds."}]
    }
    assert client_for(agent).get("/knowledge/", {"q": "router reset"}).json()["articles"][0]["title"] == (
        "Resetting a router"
    )


# --- Notes, escalation, transfer, resolution --------------------------------------------------------


def test_an_agent_adds_an_internal_note(conversation: Conversation, agent: Any, supervisor: Any) -> None:
    client = client_for(agent)

    assert client.post(url(conversation, "notes"), {"note": "Customer is on the priority list."}).status_code == 302
    assert client.post(url(conversation, "notes"), {"note": "   "}).status_code == 400

    (note,) = Note.objects.filter(conversation=conversation)
    assert (note.text, note.author) == ("Customer is on the priority list.", agent)
    assert "Customer is on the priority list." in page_text(client_for(supervisor).get(url(conversation)))
    assert not outbound(conversation), "a note never reaches the customer"


def test_escalating_needs_a_reason_and_tells_supervisors(
    on_commit: Callable[[], Any], conversation: Conversation, agent: Any
) -> None:
    client = client_for(agent)
    supervisors = listen_to(realtime.SUPERVISORS_GROUP)

    with on_commit():
        refused = client.post(url(conversation, "escalate"), {"reason": " "})
    assert refused.status_code == 400 and "Say why it is escalated." in page_text(refused)
    assert not reloaded(conversation).escalated

    with on_commit():
        response = client.post(url(conversation, "escalate"), {"reason": "Threatens to go to the press"})

    assert response.status_code == 302
    conversation = reloaded(conversation)
    assert conversation.escalated and conversation.state == S.ASSIGNED and conversation.assigned_agent == agent
    (row,) = ledger(conversation, EventKind.ESCALATED)
    assert (row.agent, row.data) == (agent, {"reason": "Threatens to go to the press"})
    assert {"type": "conversations", "op": "changed", "ids": [conversation.pk]} in supervisors()


def test_transferring_to_a_queue_takes_the_conversation_away_from_the_agent(
    on_commit: Callable[[], Any], conversation: Conversation, agent: Any, queue: Queue
) -> None:
    billing = Queue.objects.create(name="Billing")
    client = client_for(agent)
    client.get(url(conversation))  # opens a work session

    with on_commit():
        response = client.post(url(conversation, "transfer"), {"queue": billing.pk, "reason": "Refund question"})

    assert response.status_code == 302 and response["Location"] == "/inbox/"
    conversation = reloaded(conversation)
    assert (conversation.state, conversation.queue, conversation.assigned_agent) == (S.QUEUED, billing, None)
    (row,) = ledger(conversation, EventKind.TRANSFERRED)
    assert row.data["from_queue_id"] == queue.pk and row.data["to_queue_id"] == billing.pk
    assert row.data["reason"] == "Refund question" and row.data["actor_id"] == agent.pk
    assert len(ledger(conversation, EventKind.WORK)) == 1, "handing it on ends the agent's work on it"


def test_transferring_to_an_agent_gives_them_the_conversation(
    on_commit: Callable[[], Any], conversation: Conversation, agent: Any, other_agent: Any
) -> None:
    with on_commit():
        response = client_for(agent).post(url(conversation, "transfer"), {"agent": other_agent.pk})

    assert response.status_code == 302 and response["Location"] == "/inbox/"
    conversation = reloaded(conversation)
    assert (conversation.state, conversation.assigned_agent) == (S.ASSIGNED, other_agent)
    (row,) = ledger(conversation, EventKind.TRANSFERRED)
    assert (row.data["from_agent_id"], row.data["to_agent_id"]) == (agent.pk, other_agent.pk)
    assert client_for(other_agent).get(url(conversation)).status_code == 200


def test_a_transfer_needs_a_destination(conversation: Conversation, agent: Any) -> None:
    response = client_for(agent).post(url(conversation, "transfer"), {"reason": "somewhere"})

    assert response.status_code == 400 and "Choose a queue or an agent to transfer to." in page_text(response)
    assert reloaded(conversation).assigned_agent == agent


def test_resolving_needs_a_disposition(on_commit: Callable[[], Any], conversation: Conversation, agent: Any) -> None:
    client = client_for(agent)

    with on_commit():
        assert client.post(url(conversation, "resolve"), {"disposition": "whatever"}).status_code == 400
    assert reloaded(conversation).state == S.ASSIGNED

    with on_commit():
        response = client.post(url(conversation, "resolve"), {"disposition": "no_action"})

    assert response.status_code == 302
    conversation = reloaded(conversation)
    assert (conversation.state, conversation.disposition) == (S.RESOLVED, "no_action")
    (row,) = ledger(conversation, EventKind.RESOLVED)
    assert (row.agent, row.data) == (agent, {"disposition": "no_action"})


def test_handle_time_is_work_until_wrap_up_then_wrap_up_until_resolved(
    on_commit: Callable[[], Any],
    clock: time_machine.Traveller,
    conversation: Conversation,
    agent: Any,
    supervisor: Any,
) -> None:
    client = client_for(agent)
    assert client.get(url(conversation)).status_code == 200
    client_for(supervisor).get(url(conversation))  # looking over a shoulder is not handling
    (session,) = WorkSession.objects.filter(conversation=conversation)
    assert (session.agent, session.opened_at, session.closed_at) == (agent, NOW, None)

    clock.shift(timedelta(seconds=100))
    client.get(url(conversation))  # a reload keeps the same session
    clock.shift(timedelta(seconds=20))
    assert client.post(url(conversation, "wrap-up")).status_code == 204
    clock.shift(timedelta(seconds=35))
    with on_commit():
        assert client.post(url(conversation, "resolve"), {"disposition": "answered"}).status_code == 302

    (work,) = ledger(conversation, EventKind.WORK)
    (wrap_up,) = ledger(conversation, EventKind.WRAP_UP)
    assert (work.agent, work.value_seconds) == (agent, 120.0)
    assert (wrap_up.agent, wrap_up.value_seconds) == (agent, 35.0)
    assert WorkSession.objects.get().closed_at == NOW + timedelta(seconds=155)


# --- Presence and pull queues -----------------------------------------------------------------------


def test_going_away_needs_a_reason(agent: Any) -> None:
    client = client_for(agent)
    profile = AgentProfile.objects.get(user=agent)

    refused = client.post("/presence/", {"presence": "away"}, follow=True)
    assert "Away needs a reason" in page_text(refused)
    profile.refresh_from_db()
    assert profile.presence == "offline"

    assert client.post("/presence/", {"presence": "away", "reason": "lunch"}).status_code == 302
    profile.refresh_from_db()
    assert (profile.presence, profile.presence_reason) == ("away", "lunch")

    client.post("/presence/", {"presence": "available", "reason": "lunch"})
    profile.refresh_from_db()
    assert (profile.presence, profile.presence_reason) == ("available", "")
    changes = list(PresenceChange.objects.filter(agent=profile).values_list("previous", "presence", "reason"))
    assert changes == [("offline", "away", "lunch"), ("away", "available", "")]


def test_get_next_hands_the_agent_the_most_urgent_item_of_a_pull_queue(make_post: Any, agent: Any) -> None:
    pull = Queue.objects.create(name="Social pull", mode="pull")
    calm = do_capture_post(make_post(text="When is my bill due?"), Triage(priority=20)).conversation
    urgent = do_capture_post(make_post(text="No internet for 3 days!"), Triage(priority=90)).conversation
    for conversation in (calm, urgent):
        do_queue_conversation(conversation, pull)
    client = client_for(agent)
    client.post("/presence/", {"presence": "available"})

    response = client.post("/inbox/next/")

    assert response.status_code == 302 and response["Location"] == url(urgent)
    assert (reloaded(urgent).state, urgent.assigned_agent) == (S.ASSIGNED, agent)
    assert reloaded(calm).state == S.QUEUED
    assert client.post("/inbox/next/")["Location"] == url(calm)
    nothing = client.post("/inbox/next/", follow=True)
    assert nothing.redirect_chain[-1][0] == "/inbox/"
    assert "Nothing you can take is waiting" in page_text(nothing)


# --- Realtime --------------------------------------------------------------------------------------


def listen_to(group: str) -> Callable[[], list[dict[str, Any]]]:
    """Join ``group`` on the channel layer as a browser's socket would; returns what it heard so far."""
    layer = get_channel_layer()
    assert layer is not None
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)

    async def drain() -> list[dict[str, Any]]:
        heard = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
            except TimeoutError:
                break
            heard.append(message["event"])
        await layer.group_discard(group, channel)
        return heard

    return lambda: async_to_sync(drain)()
