"""The conversation, contact-merge and presence endpoints of /api/v1/, per role.

Data is made through the actions (capture, queue, assign); on-commit callbacks
are not run, so a reply stays in the outbox as queued.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import yaml
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from agents.models import AgentProfile, PresenceChange
from core.actions import do_transfer_to_agent
from core.handling import do_open_work
from core.models import Contact, ContactMerge, Conversation, Event, EventKind, Message
from core.models import ConversationState as S
from routing.models import Queue
from tests.states import conversation_in_state

LIST = "/api/v1/conversations/"
ACTIONS: dict[str, dict[str, Any]] = {
    "replies": {"text": "Sorry Dana, an engineer is on the way."},
    "transfer": {"queue": "billing"},  # the billing queue's id, filled in by action_body
    "escalate": {"reason": "Threatens to go to the press."},
    "resolve": {"disposition": "answered"},
}
ACTION_STATUS = {"replies": 201, "transfer": 200, "escalate": 200, "resolve": 200}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["fields"], dict)
    return body


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def detail(conversation: Conversation, action: str = "") -> str:
    return f"{LIST}{conversation.pk}/" + (f"{action}/" if action else "")


@pytest.fixture
def converse(make_post: Any, queue: Queue) -> Callable[..., Conversation]:
    """A captured post from its own customer, brought to ``state`` with ``agent``."""
    customers = iter(range(5000, 6000))

    def make(agent: Any, state: str = S.ASSIGNED, **post: Any) -> Conversation:
        author = str(next(customers))
        post.setdefault("handle", f"customer{author}")
        return conversation_in_state(state, make_post(author_id=author, **post), queue=queue, agent=agent)

    return make


@pytest.fixture
def mine(converse: Callable[..., Conversation], agent: Any) -> Conversation:
    return converse(agent, text="My router is down again")


@pytest.fixture
def theirs(converse: Callable[..., Conversation], other_agent: Any) -> Conversation:
    return converse(other_agent, text="Billing charged me twice")


@pytest.fixture
def billing(db: None) -> Queue:
    return Queue.objects.create(name="Billing")


def action_body(action: str, billing: Queue) -> dict[str, Any]:
    return {key: billing.pk if value == "billing" else value for key, value in ACTIONS[action].items()}


# --- Authentication and the error shape ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", LIST),
        ("get", "{c}"),
        ("post", "{c}replies/"),
        ("post", "{c}transfer/"),
        ("post", "{c}escalate/"),
        ("post", "{c}resolve/"),
        ("post", "/api/v1/contacts/{contact}/merge/"),
        ("post", "/api/v1/agents/me/presence/"),
    ],
)
def test_anonymous_callers_get_401(mine: Conversation, method: str, path: str) -> None:
    url = path.format(c=detail(mine), contact=mine.contact_id)

    response = getattr(APIClient(), method)(url, {}, format="json")

    assert_error(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"] == "Token"


def test_a_token_acts_as_its_user(mine: Conversation, theirs: Conversation, agent: Any) -> None:
    token = Token.objects.create(user=agent)

    response = Client().get(LIST, HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


def test_a_bad_token_is_401(db: None) -> None:
    assert_error(Client().get(LIST, HTTP_AUTHORIZATION="Token nope"), 401, "authentication_failed")


# --- List and detail ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "sees"),
    [
        ("agent", {"mine"}),
        ("other_agent", {"theirs"}),
        ("supervisor", {"mine", "theirs"}),
        ("admin_user", {"mine", "theirs"}),
    ],
)
def test_each_role_lists_only_what_it_may_see(
    request: pytest.FixtureRequest, mine: Conversation, theirs: Conversation, persona: str, sees: set[str]
) -> None:
    response = api(request.getfixturevalue(persona)).get(LIST)

    assert response.status_code == 200
    by_name = {"mine": mine.pk, "theirs": theirs.pk}
    assert {row["id"] for row in response.json()["results"]} == {by_name[name] for name in sees}


def test_a_listed_conversation_has_its_fields(mine: Conversation, agent: Any, queue: Queue) -> None:
    row = api(agent).get(LIST).json()["results"][0]

    assert row["id"] == mine.pk
    assert row["state"] == "assigned"
    assert row["channel"] == "x_public"
    assert row["queue"] == {"id": queue.pk, "name": "General"}
    assert row["contact"] == {"id": mine.contact_id, "name": mine.contact.display_name}
    assert row["assigned_agent"] == {"id": agent.pk, "username": "ana"}
    assert row["escalated"] is False
    assert row["first_response_due"] is not None
    assert row["first_response_at"] is None
    assert row["subject"]
    assert set(row) == {
        "id",
        "state",
        "channel",
        "queue",
        "priority",
        "category",
        "sentiment",
        "language",
        "contact",
        "assigned_agent",
        "waiting_since",
        "first_response_due",
        "first_response_at",
        "sla_status",
        "escalated",
        "created_at",
        "subject",
    }


def test_cursor_pagination_returns_next_and_a_second_page(
    converse: Callable[..., Conversation], supervisor: Any, agent: Any
) -> None:
    made = [converse(agent).pk for _ in range(3)]

    first = api(supervisor).get(LIST, {"page_size": 2}).json()
    second = api(supervisor).get(first["next"]).json()

    assert [row["id"] for row in first["results"]] == sorted(made, reverse=True)[:2]
    assert [row["id"] for row in second["results"]] == [min(made)]
    assert second["next"] is None
    assert second["previous"]


def test_filters_narrow_the_list(
    converse: Callable[..., Conversation], supervisor: Any, agent: Any, other_agent: Any, billing: Queue
) -> None:
    waiting = converse(agent, S.WAITING)
    assigned = converse(agent)
    dm = converse(other_agent, channel="x_dm")
    api(supervisor).post(detail(assigned, "escalate"), {"reason": "Angry"}, format="json")
    api(supervisor).post(detail(dm, "transfer"), {"queue": billing.pk}, format="json")

    def ids(**params: Any) -> set[int]:
        response = api(supervisor).get(LIST, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(state="waiting") == {waiting.pk}
    assert ids(escalated="true") == {assigned.pk}
    assert ids(escalated="false") == {waiting.pk, dm.pk}
    assert ids(assigned_agent=agent.pk) == {waiting.pk, assigned.pk}
    assert ids(queue=billing.pk) == {dm.pk}
    assert ids(channel="x_dm") == {dm.pk}
    hour = timedelta(hours=1)
    assert ids(created_after=(timezone.now() + hour).isoformat().replace("+00:00", "Z")) == set()
    assert ids(created_before=(timezone.now() + hour).isoformat().replace("+00:00", "Z")) == {
        waiting.pk,
        assigned.pk,
        dm.pk,
    }


def test_a_bad_filter_is_400_with_its_field(supervisor: Any) -> None:
    body = assert_error(api(supervisor).get(LIST, {"state": "lost", "queue": "x"}), 400, "invalid")

    assert set(body["fields"]) == {"state", "queue"}


@pytest.mark.parametrize(("persona", "status"), [("agent", 200), ("other_agent", 404), ("supervisor", 200)])
def test_detail_is_404_for_conversations_the_caller_may_not_see(
    request: pytest.FixtureRequest, mine: Conversation, persona: str, status: int
) -> None:
    response = api(request.getfixturevalue(persona)).get(detail(mine))

    if status == 404:
        assert_error(response, 404, "not_found")
    else:
        assert response.status_code == 200
        assert response.json()["id"] == mine.pk


def test_an_invisible_id_and_a_missing_one_look_the_same(theirs: Conversation, agent: Any) -> None:
    invisible = assert_error(api(agent).get(detail(theirs)), 404, "not_found")
    missing = assert_error(api(agent).get(f"{LIST}999999/"), 404, "not_found")

    assert invisible["message"].replace(str(theirs.pk), "N") == missing["message"].replace("999999", "N")


def test_detail_has_the_thread_and_the_timeline(converse: Callable[..., Conversation], agent: Any) -> None:
    conversation = converse(agent, S.WAITING, text="My router is down again")

    body = api(agent).get(detail(conversation)).json()

    inbound, outbound = body["messages"]
    assert inbound["direction"] == "in"
    assert inbound["text"] == "My router is down again"
    assert inbound["author"]["kind"] == "customer"
    assert inbound["external_id"]
    assert outbound == {
        "id": outbound["id"],
        "direction": "out",
        "text": "We're on it.",
        "sent_at": outbound["sent_at"],
        "author": {"kind": "agent", "id": agent.pk, "name": "ana"},
        "delivery": "queued",
        "delivery_error": "",
        "external_id": None,  # until the outbox posts it
        "email": None,  # not an email conversation
        "files": [],
    }
    kinds = [row["kind"] for row in body["timeline"]]
    assert kinds[-4:] == ["queued", "assigned", "reply", "first_response"]
    assigned = body["timeline"][kinds.index("assigned")]
    assert assigned["agent"] == {"id": agent.pk, "username": "ana"}
    assert set(assigned) == {"kind", "at", "agent", "value_seconds"}


# --- Actions, per role ---------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize(
    ("persona", "whose", "status"),
    [
        ("agent", "mine", None),
        ("agent", "theirs", 404),
        ("other_agent", "mine", 404),
        ("supervisor", "mine", None),
        ("supervisor", "theirs", None),
        ("admin_user", "theirs", None),
    ],
)
def test_only_the_conversations_agent_or_a_supervisor_acts(
    request: pytest.FixtureRequest,
    mine: Conversation,
    theirs: Conversation,
    billing: Queue,
    action: str,
    persona: str,
    whose: str,
    status: int | None,
) -> None:
    conversation = {"mine": mine, "theirs": theirs}[whose]
    before = Event.objects.filter(conversation=conversation).count()

    response = api(request.getfixturevalue(persona)).post(
        detail(conversation, action), action_body(action, billing), format="json"
    )

    if status is None:
        assert response.status_code == ACTION_STATUS[action], response.content
        assert Event.objects.filter(conversation=conversation).count() > before
    else:
        assert_error(response, status, "not_found")
        assert Event.objects.filter(conversation=conversation).count() == before


@pytest.mark.parametrize("action", list(ACTIONS))
def test_an_agent_who_lost_the_conversation_sees_it_but_may_not_act(
    mine: Conversation, agent: Any, other_agent: Any, billing: Queue, action: str
) -> None:
    do_transfer_to_agent(mine, other_agent, actor=agent)

    assert api(agent).get(detail(mine)).status_code == 200
    response = api(agent).post(detail(mine, action), action_body(action, billing), format="json")

    assert_error(response, 403, "permission_denied")


# --- Replies -------------------------------------------------------------------------------------------


def test_a_reply_is_queued_in_the_outbox(mine: Conversation, agent: Any) -> None:
    response = api(agent).post(detail(mine, "replies"), {"text": "  On our way, Dana. "}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["delivery"] == "queued"
    assert body["direction"] == "out"
    assert body["text"] == "On our way, Dana."
    message = Message.objects.get(pk=body["id"])
    assert message.delivery == "queued" and message.idempotency_key is not None
    assert Conversation.objects.get(pk=mine.pk).state == S.WAITING
    assert Event.objects.filter(conversation=mine, kind=EventKind.REPLY).count() == 1


def test_a_reply_too_long_for_x_is_400_on_text(mine: Conversation, agent: Any) -> None:
    body = assert_error(api(agent).post(detail(mine, "replies"), {"text": "a" * 281}, format="json"), 400, "invalid")

    assert list(body["fields"]) == ["text"]
    assert not mine.messages.filter(direction="out").exists()


def test_a_blank_reply_is_400_on_text(mine: Conversation, agent: Any) -> None:
    body = assert_error(api(agent).post(detail(mine, "replies"), {"text": "  "}, format="json"), 400, "invalid")

    assert list(body["fields"]) == ["text"]


def test_a_trainees_reply_waits_for_approval(mine: Conversation, agent: Any) -> None:
    AgentProfile.objects.filter(user=agent).update(is_trainee=True)

    response = api(agent).post(detail(mine, "replies"), {"text": "On our way."}, format="json")

    assert response.status_code == 201
    assert response.json()["delivery"] == "pending_approval"


def test_a_reply_can_resolve(mine: Conversation, agent: Any) -> None:
    do_open_work(mine, agent)

    response = api(agent).post(
        detail(mine, "replies"), {"text": "Fixed now.", "resolve_with": "answered"}, format="json"
    )

    assert response.status_code == 201
    assert Conversation.objects.get(pk=mine.pk).state == S.RESOLVED
    assert Event.objects.filter(conversation=mine, kind=EventKind.WORK, agent=agent).count() == 1


def test_replying_to_a_resolved_conversation_is_409(converse: Callable[..., Conversation], agent: Any) -> None:
    resolved = converse(agent, S.RESOLVED)

    assert_error(api(agent).post(detail(resolved, "replies"), {"text": "Hi"}, format="json"), 409, "conflict")


# --- Transfer, escalate, resolve --------------------------------------------------------------------


def test_transfer_to_a_queue_writes_the_ledger_and_ends_handle_time(
    mine: Conversation, agent: Any, billing: Queue
) -> None:
    do_open_work(mine, agent)

    response = api(agent).post(detail(mine, "transfer"), {"queue": billing.pk, "reason": "Billing"}, format="json")

    assert response.status_code == 200
    assert response.json()["state"] == "queued"
    assert response.json()["queue"] == {"id": billing.pk, "name": "Billing"}
    (event,) = Event.objects.filter(conversation=mine, kind=EventKind.TRANSFERRED)
    assert event.data["to_queue_id"] == billing.pk and event.data["actor_id"] == agent.pk
    assert event.data["reason"] == "Billing"
    assert Event.objects.filter(conversation=mine, kind=EventKind.WORK, agent=agent).count() == 1


def test_transfer_to_an_agent(mine: Conversation, supervisor: Any, other_agent: Any) -> None:
    response = api(supervisor).post(detail(mine, "transfer"), {"agent": other_agent.pk}, format="json")

    assert response.status_code == 200
    assert response.json()["assigned_agent"] == {"id": other_agent.pk, "username": "ben"}
    (event,) = Event.objects.filter(conversation=mine, kind=EventKind.TRANSFERRED)
    assert event.data["to_agent_id"] == other_agent.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, None),
        ({"queue": "billing", "agent": "other_agent"}, None),
        ({"queue": 999999}, "queue"),
        ({"agent": 999999}, "agent"),
    ],
)
def test_transfer_needs_one_existing_target(
    mine: Conversation, agent: Any, other_agent: Any, billing: Queue, body: dict[str, Any], field: str | None
) -> None:
    ids = {"billing": billing.pk, "other_agent": other_agent.pk}
    payload = {key: ids.get(value, value) for key, value in body.items()}

    error = assert_error(api(agent).post(detail(mine, "transfer"), payload, format="json"), 400, "invalid")

    assert list(error["fields"]) == ([field] if field else [])


def test_transfer_to_the_same_agent_is_400(mine: Conversation, agent: Any) -> None:
    assert_error(api(agent).post(detail(mine, "transfer"), {"agent": agent.pk}, format="json"), 400, "invalid")


def test_escalate_flags_it_and_writes_the_ledger(mine: Conversation, agent: Any) -> None:
    response = api(agent).post(detail(mine, "escalate"), {"reason": "Legal threat"}, format="json")

    assert response.status_code == 200
    assert response.json()["escalated"] is True
    (event,) = Event.objects.filter(conversation=mine, kind=EventKind.ESCALATED)
    assert event.data == {"reason": "Legal threat"} and event.agent == agent


def test_escalate_needs_a_reason(mine: Conversation, agent: Any) -> None:
    body = assert_error(api(agent).post(detail(mine, "escalate"), {}, format="json"), 400, "invalid")

    assert list(body["fields"]) == ["reason"]


def test_escalating_a_resolved_conversation_is_409(converse: Callable[..., Conversation], agent: Any) -> None:
    resolved = converse(agent, S.RESOLVED)

    assert_error(api(agent).post(detail(resolved, "escalate"), {"reason": "x"}, format="json"), 409, "conflict")


def test_resolve_writes_the_ledger_and_ends_handle_time(mine: Conversation, agent: Any) -> None:
    do_open_work(mine, agent)

    response = api(agent).post(detail(mine, "resolve"), {"disposition": "dispatched"}, format="json")

    assert response.status_code == 200
    assert response.json()["state"] == "resolved"
    (event,) = Event.objects.filter(conversation=mine, kind=EventKind.RESOLVED)
    assert event.data == {"disposition": "dispatched"}
    assert Event.objects.filter(conversation=mine, kind=EventKind.WORK, agent=agent).count() == 1


def test_resolving_twice_is_409(mine: Conversation, agent: Any) -> None:
    api(agent).post(detail(mine, "resolve"), {"disposition": "answered"}, format="json")

    response = api(agent).post(detail(mine, "resolve"), {"disposition": "answered"}, format="json")

    assert_error(response, 409, "conflict")
    assert Event.objects.filter(conversation=mine, kind=EventKind.RESOLVED).count() == 1


def test_resolve_needs_a_known_disposition(mine: Conversation, agent: Any) -> None:
    body = assert_error(api(agent).post(detail(mine, "resolve"), {"disposition": "meh"}, format="json"), 400, "invalid")

    assert list(body["fields"]) == ["disposition"]


# --- Contacts ---------------------------------------------------------------------------------------------


def merge_url(contact_id: int) -> str:
    return f"/api/v1/contacts/{contact_id}/merge/"


@pytest.mark.parametrize(
    ("persona", "status"), [("agent", 403), ("other_agent", 403), ("supervisor", 200), ("admin_user", 200)]
)
def test_only_supervisors_merge_contacts(
    request: pytest.FixtureRequest, mine: Conversation, theirs: Conversation, persona: str, status: int
) -> None:
    user = request.getfixturevalue(persona)

    response = api(user).post(merge_url(theirs.contact_id), {"into": mine.contact_id}, format="json")

    if status == 403:
        assert_error(response, 403, "permission_denied")
        assert Contact.objects.filter(pk=theirs.contact_id).exists()
        return
    assert response.status_code == 200, response.content
    body = response.json()
    audit = ContactMerge.objects.get()
    assert body["id"] == audit.pk
    assert body["into"] == mine.contact_id
    assert body["merged_contact_id"] == theirs.contact_id
    assert body["moved"]["conversations"] == [theirs.pk]
    assert len(body["moved"]["identities"]) == 1
    assert body["actor"] == {"id": user.pk, "username": user.username}
    assert not Contact.objects.filter(pk=theirs.contact_id).exists()
    assert Conversation.objects.get(pk=theirs.pk).contact_id == mine.contact_id


@pytest.mark.parametrize(
    ("target", "body", "status", "field"),
    [
        ("missing", {"into": "mine"}, 404, None),
        ("theirs", {"into": 999999}, 400, "into"),
        ("theirs", {}, 400, "into"),
        ("mine", {"into": "mine"}, 400, None),
    ],
)
def test_merge_errors(
    mine: Conversation,
    theirs: Conversation,
    supervisor: Any,
    target: str,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    ids = {"mine": mine.contact_id, "theirs": theirs.contact_id, "missing": 999999}
    payload = {key: ids.get(value, value) for key, value in body.items()}

    response = api(supervisor).post(merge_url(ids[target]), payload, format="json")

    error = assert_error(response, status, "not_found" if status == 404 else "invalid")
    assert list(error["fields"]) == ([field] if field else [])


# --- Presence ---------------------------------------------------------------------------------------------


PRESENCE = "/api/v1/agents/me/presence/"


@pytest.mark.parametrize("persona", ["agent", "supervisor", "admin_user"])
def test_every_role_sets_its_own_presence(request: pytest.FixtureRequest, persona: str) -> None:
    user = request.getfixturevalue(persona)

    response = api(user).post(PRESENCE, {"presence": "away", "reason": "lunch"}, format="json")

    assert response.status_code == 200
    assert response.json()["presence"] == "away" and response.json()["reason"] == "lunch"
    profile = AgentProfile.objects.get(user=user)
    assert (profile.presence, profile.presence_reason) == ("away", "lunch")
    assert PresenceChange.objects.filter(agent=profile, presence="away").count() == 1


def test_available_presence_drops_the_reason(agent: Any) -> None:
    response = api(agent).post(PRESENCE, {"presence": "available", "reason": "lunch"}, format="json")

    assert response.status_code == 200
    assert response.json()["reason"] == ""


@pytest.mark.parametrize(
    ("body", "field"), [({"presence": "asleep"}, "presence"), ({"presence": "away"}, "reason"), ({}, "presence")]
)
def test_bad_presence_is_400(agent: Any, body: dict[str, Any], field: str) -> None:
    error = assert_error(api(agent).post(PRESENCE, body, format="json"), 400, "invalid")

    assert list(error["fields"]) == [field]


def test_a_user_without_a_role_is_403(django_user_model: Any) -> None:
    nobody = django_user_model.objects.create_user("nobody", password="pw-nobody-123")

    for response in (api(nobody).get(LIST), api(nobody).post(PRESENCE, {"presence": "available"}, format="json")):
        assert_error(response, 403, "permission_denied")


# --- Schema ---------------------------------------------------------------------------------------------


def test_the_schema_documents_the_endpoints(client: Client, db: None) -> None:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    paths = schema["paths"]

    assert set(paths[LIST]["get"]["responses"]) >= {"200", "400", "401", "403"}
    assert paths["/api/v1/conversations/{conversation_id}/"]["get"]["operationId"] == "conversations_retrieve"
    for action in ("replies", "transfer", "escalate", "resolve"):
        operation = paths[f"/api/v1/conversations/{{conversation_id}}/{action}/"]["post"]
        assert set(operation["responses"]) == {
            "200" if action != "replies" else "201",
            "400",
            "401",
            "403",
            "404",
            "409",
        }
        assert "requestBody" in operation
    assert "/api/v1/contacts/{contact_id}/merge/" in paths
    assert "/api/v1/agents/me/presence/" in paths
    parameters = {p["name"] for p in paths[LIST]["get"]["parameters"]}
    assert parameters >= {"state", "queue", "channel", "assigned_agent", "escalated", "created_after", "created_before"}
    assert {"cursor", "page_size"} <= parameters
