"""Each use case behaves the same through every door that offers it: HTML console, REST API, admin.

For every use case, one parametrized test drives it through each of its doors
and compares what happened with the same expectation, written out from the
requirement: the ledger rows written, the work sessions ended, the CSAT
invitation, the realtime events and the outbound webhooks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from rest_framework.test import APIClient

from agents.models import AgentProfile, PresenceChange
from core import realtime
from core.handling import do_open_work
from core.models import (
    Contact,
    ContactMerge,
    Conversation,
    Delivery,
    Direction,
    Event,
    Message,
    WebhookDelivery,
    WebhookEndpoint,
    WorkSession,
)
from core.models import ConversationState as S
from monitoring.models import SocialAccount
from responses.models import SurveyInvitation
from routing.models import Queue
from tests.states import conversation_in_state

pytestmark = pytest.mark.django_db


@dataclass
class Effects:
    """What one use case did, in terms a requirement can state."""

    ledger: list[str]
    open_work_sessions: int
    invited: bool
    webhooks: list[str]
    realtime: set[tuple[str, str, str]] = field(default_factory=set)


class Floor:
    """The realtime groups a use case may speak to, listened to as browsers' sockets would."""

    def __init__(self, groups: dict[str, str]) -> None:
        self.layer = get_channel_layer()
        assert self.layer is not None
        self.groups = groups  # channel-layer group → the name the expectation uses
        self.channels = {name: async_to_sync(self.layer.new_channel)() for name in groups.values()}
        for group, name in groups.items():
            async_to_sync(self.layer.group_add)(group, self.channels[name])

    def heard(self) -> set[tuple[str, str, str]]:
        async def drain(name: str, channel: str) -> set[tuple[str, str, str]]:
            heard = set()
            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(channel), timeout=0.3)  # type: ignore[union-attr]
                except TimeoutError:
                    return heard
                event = message["event"]
                heard.add((name, event["type"], event.get("op", "")))

        found: set[tuple[str, str, str]] = set()
        for name, channel in self.channels.items():
            found |= async_to_sync(drain)(name, channel)
        return found

    def close(self) -> None:
        for group, name in self.groups.items():
            async_to_sync(self.layer.group_discard)(group, self.channels[name])  # type: ignore[union-attr]


@pytest.fixture
def subscriber(db: None) -> WebhookEndpoint:
    """An integration subscribed to every event, so the webhooks a use case sends show as deliveries."""
    from core.models import WEBHOOK_EVENT_CHOICES

    return WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/hooks", events=[value for value, _ in WEBHOOK_EVENT_CHOICES]
    )


@pytest.fixture
def run(
    django_capture_on_commit_callbacks: Callable[..., Any], subscriber: WebhookEndpoint, agent: Any, eager_tasks: None
) -> Iterator[Callable[[Conversation, Callable[[], Any]], Effects]]:
    """Run a door's request as production does (after-commit work included, the tasks it hands a worker too)
    and say what it did."""
    floors: list[Floor] = []

    def measure(conversation: Conversation, door: Callable[[], Any]) -> Effects:
        floor = Floor({realtime.user_group(agent.pk): "agent", realtime.SUPERVISORS_GROUP: "supervisors"})
        floors.append(floor)
        events_before = Event.objects.filter(conversation=conversation).count()
        webhooks_before = WebhookDelivery.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            response = door()
        if response is not None:
            assert response.status_code < 400, getattr(response, "content", response)
        return Effects(
            ledger=list(Event.objects.filter(conversation=conversation).order_by("id").values_list("kind", flat=True))[
                events_before:
            ],
            open_work_sessions=WorkSession.objects.filter(conversation=conversation, closed_at__isnull=True).count(),
            invited=SurveyInvitation.objects.filter(conversation=conversation).exists(),
            webhooks=list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True))[webhooks_before:],
            realtime=floor.heard(),
        )

    yield measure
    for floor in floors:
        floor.close()


def html(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def sandbox_account(db: None) -> SocialAccount:
    """The account replies are posted from (the sandbox posts them without leaving the machine)."""
    return SocialAccount.objects.create(platform="sandbox", external_id="sandbox", name="Sandbox", handle="help")


@pytest.fixture
def working(make_post: Any, queue: Queue, agent: Any, sandbox_account: SocialAccount) -> Callable[..., Conversation]:
    """A sandbox conversation assigned to Ana, who has it open in front of her (a work session runs)."""

    def make(state: str = S.ASSIGNED) -> Conversation:
        conversation = conversation_in_state(state, make_post(channel="sandbox_public"), queue=queue, agent=agent)
        if state in (S.ASSIGNED, S.WAITING):
            do_open_work(conversation, agent)
        return conversation

    return make


CONVERSATION_CHANGED = {("agent", "conversations", "changed"), ("supervisors", "conversations", "changed")}


# --- Resolve --------------------------------------------------------------------------------------

RESOLVE_DOORS: dict[str, Callable[[Any, Conversation, str], Any]] = {
    "html": lambda user, c, disposition: html(user).post(
        f"/conversations/{c.pk}/resolve/", {"disposition": disposition}
    ),
    "api": lambda user, c, disposition: api(user).post(
        f"/api/v1/conversations/{c.pk}/resolve/", {"disposition": disposition}, format="json"
    ),
}


@pytest.mark.parametrize("door", sorted(RESOLVE_DOORS))
def test_resolve_ends_the_work_and_invites_to_the_survey_through_every_door(
    door: str, run: Any, working: Any, agent: Any
) -> None:
    conversation = working()

    effects = run(conversation, lambda: RESOLVE_DOORS[door](agent, conversation, "answered"))

    assert effects == Effects(
        ledger=["resolved", "work"],
        open_work_sessions=0,
        invited=True,
        webhooks=["conversation.resolved"],
        realtime=CONVERSATION_CHANGED,
    )


def _admin_resolve(user: Any, conversation: Conversation, disposition: str) -> Any:
    assert disposition == "no_action"  # the admin's action resolves as "no action needed"
    return html(user).post(
        "/admin/core/conversation/", {"action": "resolve_no_action", "_selected_action": [conversation.pk]}
    )


@pytest.mark.parametrize("door", [*sorted(RESOLVE_DOORS), "admin"])
def test_resolve_as_no_action_is_the_same_through_html_api_and_admin(
    door: str, run: Any, working: Any, admin_user: Any
) -> None:
    conversation = working()
    resolve = _admin_resolve if door == "admin" else RESOLVE_DOORS[door]

    effects = run(conversation, lambda: resolve(admin_user, conversation, "no_action"))

    # "No action needed" is not surveyed; the agent's open session still ends with the work.
    assert effects == Effects(
        ledger=["resolved", "work"],
        open_work_sessions=0,
        invited=False,
        webhooks=["conversation.resolved"],
        realtime=CONVERSATION_CHANGED,
    )


@pytest.mark.parametrize("door", sorted(RESOLVE_DOORS))
def test_an_unknown_disposition_is_refused_the_same_way_and_changes_nothing(
    door: str, working: Any, agent: Any
) -> None:
    conversation = working()

    response = RESOLVE_DOORS[door](agent, conversation, "fixed-it-myself")

    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.state == S.ASSIGNED
    assert not Event.objects.filter(conversation=conversation, kind="resolved").exists()


# --- Replies: send, hold, approve, reject --------------------------------------------------------

REPLY_DOORS: dict[str, Callable[[Any, Conversation, dict[str, Any]], Any]] = {
    "html": lambda user, c, data: html(user).post(f"/conversations/{c.pk}/reply/", data),
    "api": lambda user, c, data: api(user).post(f"/api/v1/conversations/{c.pk}/replies/", data, format="json"),
}


@pytest.mark.parametrize("door", sorted(REPLY_DOORS))
def test_a_reply_goes_to_the_outbox_through_every_door(door: str, run: Any, working: Any, agent: Any) -> None:
    conversation = working()

    effects = run(conversation, lambda: REPLY_DOORS[door](agent, conversation, {"text": "We're on it, Dana."}))

    assert effects.ledger == ["reply", "first_response"]
    assert effects.open_work_sessions == 1, "replying is not the end of the work"
    assert effects.webhooks == []
    assert CONVERSATION_CHANGED <= effects.realtime
    reply = Message.objects.get(conversation=conversation, direction=Direction.OUTBOUND)
    assert reply.text == "We're on it, Dana." and reply.is_public and reply.idempotency_key is not None


@pytest.mark.parametrize("door", sorted(REPLY_DOORS))
def test_reply_and_resolve_is_the_whole_resolve_through_every_door(
    door: str, run: Any, working: Any, agent: Any
) -> None:
    conversation = working()

    effects = run(
        conversation,
        lambda: REPLY_DOORS[door](agent, conversation, {"text": "Fixed now.", "resolve_with": "answered"}),
    )

    assert effects.ledger == ["reply", "first_response", "resolved", "work"]
    assert (effects.open_work_sessions, effects.invited) == (0, True)
    assert effects.webhooks == ["conversation.resolved"]


@pytest.fixture
def trainee(agent: Any) -> Any:
    AgentProfile.objects.filter(user=agent).update(is_trainee=True)
    return agent


@pytest.mark.parametrize("door", sorted(REPLY_DOORS))
def test_a_trainees_reply_is_held_by_the_same_code_through_every_door(
    door: str, run: Any, working: Any, trainee: Any
) -> None:
    conversation = working()

    effects = run(
        conversation, lambda: REPLY_DOORS[door](trainee, conversation, {"text": "Sorry, Dana!", "private": "0"})
    )

    assert effects == Effects(
        ledger=["reply_held"],
        open_work_sessions=1,
        invited=False,
        webhooks=[],
        realtime={("supervisors", "approvals", "changed")},
    )
    held = Message.objects.get(conversation=conversation, direction=Direction.OUTBOUND)
    # Held replies are made like sent ones: public on a public channel, no idempotency key until released.
    assert (held.delivery, held.text, held.is_public, held.idempotency_key) == (
        Delivery.PENDING_APPROVAL,
        "Sorry, Dana!",
        True,
        None,
    )


@pytest.fixture
def held_reply(working: Any, trainee: Any) -> Message:
    from responses.actions import do_send_reply

    conversation = working()
    message = do_send_reply(conversation, trainee, "Sorry, Dana!", resolve_with="answered")
    assert message.delivery == Delivery.PENDING_APPROVAL
    return message


APPROVE_DOORS: dict[str, Callable[[Any, Message, str], Any]] = {
    "html": lambda user, m, text: html(user).post(f"/approvals/{m.pk}/approve/", {"text": text}),
    "api": lambda user, m, text: api(user).post(f"/api/v1/replies/{m.pk}/approve/", {"text": text}, format="json"),
}


@pytest.mark.parametrize("door", sorted(APPROVE_DOORS))
def test_approving_releases_the_reply_and_resolves_as_the_agent_asked_through_every_door(
    door: str, run: Any, held_reply: Message, supervisor: Any
) -> None:
    conversation = held_reply.conversation
    assert conversation is not None

    effects = run(conversation, lambda: APPROVE_DOORS[door](supervisor, held_reply, "Sorry, Dana! Fixed."))

    assert effects.ledger == ["reply", "first_response", "resolved", "work"]
    assert (effects.open_work_sessions, effects.invited) == (0, True)
    assert effects.webhooks == ["conversation.resolved"]
    held_reply.refresh_from_db()
    assert (held_reply.delivery, held_reply.text, held_reply.reviewed_by) == (
        Delivery.SENT,  # released into the outbox, which posted it
        "Sorry, Dana! Fixed.",
        supervisor,
    )


REJECT_DOORS: dict[str, Callable[[Any, Message, str], Any]] = {
    "html": lambda user, m, reason: html(user).post(f"/approvals/{m.pk}/reject/", {"reason": reason}),
    "api": lambda user, m, reason: api(user).post(f"/api/v1/replies/{m.pk}/reject/", {"reason": reason}, format="json"),
}


@pytest.mark.parametrize("door", sorted(REJECT_DOORS))
def test_rejecting_keeps_the_reply_from_the_customer_and_tells_its_agent_through_every_door(
    door: str, run: Any, held_reply: Message, supervisor: Any
) -> None:
    conversation = held_reply.conversation
    assert conversation is not None

    effects = run(conversation, lambda: REJECT_DOORS[door](supervisor, held_reply, "Too casual for a complaint."))

    assert effects == Effects(
        ledger=[], open_work_sessions=1, invited=False, webhooks=[], realtime={("agent", "conversations", "changed")}
    )
    held_reply.refresh_from_db()
    assert (held_reply.delivery, held_reply.delivery_error) == (Delivery.REJECTED, "Too casual for a complaint.")


@pytest.mark.parametrize("door", sorted(REJECT_DOORS))
def test_a_rejection_needs_a_reason_through_every_door(door: str, held_reply: Message, supervisor: Any) -> None:
    REJECT_DOORS[door](supervisor, held_reply, "   ")

    held_reply.refresh_from_db()
    assert held_reply.delivery == Delivery.PENDING_APPROVAL


def test_only_supervisors_see_and_handle_held_replies_in_the_api(held_reply: Message, agent: Any) -> None:
    assert api(agent).get("/api/v1/replies/held/").status_code == 403
    assert api(agent).post(f"/api/v1/replies/{held_reply.pk}/approve/", {}, format="json").status_code == 403


def test_the_api_lists_held_replies_oldest_first(held_reply: Message, supervisor: Any) -> None:
    listed = api(supervisor).get("/api/v1/replies/held/").json()

    assert [(r["id"], r["delivery"], r["text"]) for r in listed] == [
        (held_reply.pk, "pending_approval", "Sorry, Dana!")
    ]


# --- Transfer -------------------------------------------------------------------------------------

TRANSFER_DOORS: dict[str, Callable[[Any, Conversation, dict[str, Any]], Any]] = {
    "html": lambda user, c, data: html(user).post(f"/conversations/{c.pk}/transfer/", data),
    "api": lambda user, c, data: api(user).post(f"/api/v1/conversations/{c.pk}/transfer/", data, format="json"),
}


@pytest.mark.parametrize("door", sorted(TRANSFER_DOORS))
def test_a_transfer_to_a_queue_ends_the_callers_work_through_every_door(
    door: str, run: Any, working: Any, agent: Any
) -> None:
    conversation = working()
    billing = Queue.objects.create(name="Billing")

    effects = run(conversation, lambda: TRANSFER_DOORS[door](agent, conversation, {"queue": billing.pk}))

    assert effects.ledger == ["work", "transferred"]
    assert effects.open_work_sessions == 0
    assert CONVERSATION_CHANGED <= effects.realtime
    conversation.refresh_from_db()
    assert (conversation.state, conversation.queue, conversation.preferred_agent) == (S.QUEUED, billing, None)


@pytest.mark.parametrize("door", sorted(TRANSFER_DOORS))
def test_a_transfer_to_an_agent_through_every_door(
    door: str, run: Any, working: Any, agent: Any, other_agent: Any
) -> None:
    conversation = working()

    effects = run(conversation, lambda: TRANSFER_DOORS[door](agent, conversation, {"agent": other_agent.pk}))

    assert effects.ledger == ["work", "transferred"]
    assert effects.open_work_sessions == 0
    conversation.refresh_from_db()
    assert (conversation.state, conversation.assigned_agent) == (S.ASSIGNED, other_agent)


@pytest.mark.parametrize("door", sorted(TRANSFER_DOORS))
@pytest.mark.parametrize("target", ["admin", "no role", "inactive"])
def test_only_active_agents_can_be_transfer_targets_through_every_door(
    door: str, target: str, working: Any, agent: Any, admin_user: Any, other_agent: Any
) -> None:
    conversation = working()
    if target == "admin":
        user = admin_user
    elif target == "no role":
        other_agent.groups.clear()
        user = other_agent
    else:
        other_agent.is_active = False
        other_agent.save()
        user = other_agent

    response = TRANSFER_DOORS[door](agent, conversation, {"agent": user.pk})

    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent


# --- Escalate, reopen ----------------------------------------------------------------------------

ESCALATE_DOORS: dict[str, Callable[[Any, Conversation, str], Any]] = {
    "html": lambda user, c, reason: html(user).post(f"/conversations/{c.pk}/escalate/", {"reason": reason}),
    "api": lambda user, c, reason: api(user).post(
        f"/api/v1/conversations/{c.pk}/escalate/", {"reason": reason}, format="json"
    ),
}


@pytest.mark.parametrize("door", sorted(ESCALATE_DOORS))
def test_escalating_alerts_supervisors_and_integrations_through_every_door(
    door: str, run: Any, working: Any, agent: Any
) -> None:
    conversation = working()

    effects = run(conversation, lambda: ESCALATE_DOORS[door](agent, conversation, "Threatens to go to the press"))

    assert effects == Effects(
        ledger=["escalated"],
        open_work_sessions=1,
        invited=False,
        webhooks=["conversation.escalated"],
        realtime=CONVERSATION_CHANGED | {("supervisors", "alert", "escalated")},
    )


@pytest.mark.parametrize("door", sorted(ESCALATE_DOORS))
@pytest.mark.parametrize("reason", ["", "x" * 501, "Call me\x00 back"], ids=["blank", "too-long", "nul"])
def test_an_escalation_reason_is_checked_the_same_way_through_every_door(
    door: str, reason: str, working: Any, agent: Any
) -> None:
    conversation = working()

    response = ESCALATE_DOORS[door](agent, conversation, reason)

    assert response.status_code == 400
    assert not Event.objects.filter(conversation=conversation, kind="escalated").exists()


REOPEN_DOORS: dict[str, Callable[[Any, Conversation], Any]] = {
    "html": lambda user, c: html(user).post(f"/conversations/{c.pk}/reopen/", {"reason": "Customer called"}),
    "api": lambda user, c: api(user).post(
        f"/api/v1/conversations/{c.pk}/reopen/", {"reason": "Customer called"}, format="json"
    ),
}


@pytest.mark.parametrize("door", sorted(REOPEN_DOORS))
def test_reopening_by_hand_puts_it_back_in_its_queue_for_its_agent_through_every_door(
    door: str, run: Any, working: Any, agent: Any
) -> None:
    conversation = working(S.RESOLVED)

    effects = run(conversation, lambda: REOPEN_DOORS[door](agent, conversation))

    assert effects.ledger == ["reopened"]
    conversation.refresh_from_db()
    assert (conversation.state, conversation.preferred_agent, conversation.resolved_at) == (S.QUEUED, agent, None)
    assert Event.objects.get(conversation=conversation, kind="reopened").data == {"reason": "Customer called"}


@pytest.mark.parametrize("door", sorted(REOPEN_DOORS))
def test_another_agent_cannot_reopen_a_conversation_through_any_door(door: str, working: Any, other_agent: Any) -> None:
    conversation = working(S.RESOLVED)

    response = REOPEN_DOORS[door](other_agent, conversation)

    assert response.status_code in (403, 404)
    conversation.refresh_from_db()
    assert conversation.state == S.RESOLVED


# --- Notes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "n" * 5001, "a\x00b"], ids=["blank", "too-long", "nul"])
def test_a_note_is_checked_not_cut_or_stored_dirty(text: str, working: Any, agent: Any) -> None:
    conversation = working()

    response = html(agent).post(f"/conversations/{conversation.pk}/notes/", {"note": text})

    assert response.status_code == 400
    assert not conversation.notes.exists()


# --- Presence, merge ------------------------------------------------------------------------------

PRESENCE_DOORS: dict[str, Callable[[Any, dict[str, str]], Any]] = {
    "html": lambda user, data: html(user).post("/presence/", data),
    "api": lambda user, data: api(user).post("/api/v1/agents/me/presence/", data, format="json"),
}


@pytest.mark.parametrize("door", sorted(PRESENCE_DOORS))
def test_presence_changes_are_logged_and_shown_to_supervisors_through_every_door(
    door: str, agent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    floor = Floor({realtime.SUPERVISORS_GROUP: "supervisors"})
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = PRESENCE_DOORS[door](agent, {"presence": "away", "reason": "lunch"})
        heard = floor.heard()
    finally:
        floor.close()

    assert response.status_code < 400
    change = PresenceChange.objects.get(agent__user=agent)
    assert (change.presence, change.reason, change.cause) == ("away", "lunch", "agent")
    assert heard == {("supervisors", "agents", "changed")}


@pytest.mark.parametrize("door", ["admin", "api"])
def test_merging_contacts_moves_everything_and_keeps_an_audit_row_through_every_door(
    door: str, working: Any, make_post: Any, queue: Queue, agent: Any, supervisor: Any, admin_user: Any
) -> None:
    first = working()
    second = conversation_in_state(S.ASSIGNED, make_post(author_id="77", handle="dana_alt"), queue=queue, agent=agent)
    into, other = first.contact, second.contact  # the admin keeps the oldest
    Contact.objects.filter(pk=into.pk).update(created_at=other.created_at.replace(year=2020))
    moving_identities = list(other.identities.values_list("pk", flat=True))

    if door == "admin":
        response = html(admin_user).post(
            "/admin/core/contact/", {"action": "merge_contacts", "_selected_action": [into.pk, other.pk]}
        )
    else:
        response = api(supervisor).post(f"/api/v1/contacts/{other.pk}/merge/", {"into": into.pk}, format="json")

    assert response.status_code < 400
    assert not Contact.objects.filter(pk=other.pk).exists()
    assert set(into.identities.values_list("handle", flat=True)) == {"danaw", "dana_alt"}
    assert set(into.conversations.values_list("pk", flat=True)) == {first.pk, second.pk}
    audit = ContactMerge.objects.get()
    assert (audit.into, audit.merged_contact_id) == (into, other.pk)
    assert audit.moved == {"identities": moving_identities, "conversations": [second.pk]}
