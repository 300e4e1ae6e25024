"""Answering an offer is the same through every door (the inbox's buttons, the REST API), against one expectation.

The house pattern of tests/domain/test_use_case_doors.py: each use case is
driven through each door, after-commit work included, and what happened (the
ledger rows, the offer, the conversation, the realtime events) is compared
with the same expectation, written from the requirement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from agents.actions import do_create_user, do_set_presence
from agents.models import Presence
from core import realtime
from core.capture import do_capture_post
from core.models import Conversation, Event
from core.models import ConversationState as S
from core.posts import InboundPost, Triage
from core.roles import AGENT
from routing.actions import do_route_queued
from routing.models import Offer, OfferOutcome, Queue, RouteMode
from tests.domain.test_use_case_doors import Floor

pytestmark = pytest.mark.django_db


@dataclass
class Effects:
    ledger: list[str]
    outcome: str
    state: str
    holder: str | None
    realtime: set[tuple[str, str, str]] = field(default_factory=set)
    next_offer_to: str | None = None


@pytest.fixture
def team(queue: Queue, eager_tasks: None) -> dict[str, Any]:
    """Ana and Ben available for an offer-mode queue, and a conversation ringing for Ana."""
    Queue.objects.filter(pk=queue.pk).update(route_mode=RouteMode.OFFER, offer_seconds=20)
    people = {}
    for name in ("ana", "ben"):
        user = do_create_user(name, f"pw-{name}-12345", role=AGENT, first_name=name.title())
        do_set_presence(user.agent_profile, Presence.AVAILABLE)
        people[name] = user
    return people


@pytest.fixture
def ringing(team: dict[str, Any], queue: Queue, make_post: Callable[..., InboundPost]) -> Offer:
    conversation = do_capture_post(make_post(), Triage(priority=50, queue_id=queue.pk)).conversation
    assert conversation is not None
    do_route_queued()
    offer = Offer.objects.get(conversation=conversation, outcome=OfferOutcome.PENDING)
    assert offer.agent_id == team["ana"].pk, "equal agents: the lowest id first"
    return offer


@pytest.fixture
def run(
    django_capture_on_commit_callbacks: Callable[..., Any], team: dict[str, Any]
) -> Iterator[Callable[[Offer, Callable[[], Any]], Effects]]:
    floors: list[Floor] = []
    names = {user.pk: name for name, user in team.items()}

    def measure(offer: Offer, door: Callable[[], Any]) -> Effects:
        floor = Floor(
            {
                realtime.user_group(team["ana"].pk): "ana",
                realtime.user_group(team["ben"].pk): "ben",
                realtime.SUPERVISORS_GROUP: "supervisors",
            }
        )
        floors.append(floor)
        before = Event.objects.filter(conversation_id=offer.conversation_id).count()
        with django_capture_on_commit_callbacks(execute=True):
            response = door()
        assert response.status_code < 400, response.content
        offer.refresh_from_db()
        conversation = Conversation.objects.get(pk=offer.conversation_id)
        after = Offer.objects.filter(conversation=conversation, outcome=OfferOutcome.PENDING).first()
        return Effects(
            ledger=sorted(Event.objects.filter(conversation=conversation).values_list("kind", flat=True)[before:]),
            outcome=offer.outcome,
            state=conversation.state,
            holder=names.get(conversation.assigned_agent_id or 0),
            realtime=floor.heard(),
            next_offer_to=names[after.agent_id] if after else None,
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


ACCEPT_DOORS: dict[str, Callable[[Any, Offer], Any]] = {
    "html": lambda user, offer: html(user).post(f"/offers/{offer.pk}/accept/"),
    "api": lambda user, offer: api(user).post(f"/api/v1/offers/{offer.pk}/accept/"),
}
DECLINE_DOORS: dict[str, Callable[[Any, Offer], Any]] = {
    "html": lambda user, offer: html(user).post(f"/offers/{offer.pk}/decline/"),
    "api": lambda user, offer: api(user).post(f"/api/v1/offers/{offer.pk}/decline/"),
}


@pytest.mark.parametrize("door", sorted(ACCEPT_DOORS))
def test_accepting_assigns_it_through_every_door(door: str, run: Any, ringing: Offer, team: dict[str, Any]) -> None:
    effects = run(ringing, lambda: ACCEPT_DOORS[door](team["ana"], ringing))

    assert effects == Effects(
        ledger=["assigned", "offer_accepted"],
        outcome=OfferOutcome.ACCEPTED,
        state=S.ASSIGNED,
        holder="ana",
        realtime={
            ("ana", "offers", "closed"),
            ("ana", "conversations", "changed"),
            ("supervisors", "conversations", "changed"),
        },
    )


@pytest.mark.parametrize("door", sorted(DECLINE_DOORS))
def test_declining_rings_the_next_agent_through_every_door(
    door: str, run: Any, ringing: Offer, team: dict[str, Any]
) -> None:
    effects = run(ringing, lambda: DECLINE_DOORS[door](team["ana"], ringing))

    assert effects == Effects(
        ledger=["offer_declined", "offered"],
        outcome=OfferOutcome.DECLINED,
        state=S.QUEUED,
        holder=None,
        realtime={("ana", "offers", "closed"), ("ben", "offers", "offered")},
        next_offer_to="ben",
    )


@pytest.mark.parametrize("door", sorted(ACCEPT_DOORS))
def test_another_agents_offer_is_not_found_and_stays_ringing(door: str, ringing: Offer, team: dict[str, Any]) -> None:
    response = ACCEPT_DOORS[door](team["ben"], ringing)

    assert response.status_code == 404
    ringing.refresh_from_db()
    assert ringing.outcome == OfferOutcome.PENDING


def test_a_late_accept_over_the_api_is_a_409_that_says_so(ringing: Offer, team: dict[str, Any]) -> None:
    with time_machine.travel(timezone.now() + timedelta(seconds=21), tick=False):
        response = api(team["ana"]).post(f"/api/v1/offers/{ringing.pk}/accept/")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict" and "rang out" in response.json()["message"]
    ringing.refresh_from_db()
    assert ringing.outcome == OfferOutcome.TIMED_OUT


def test_a_late_accept_in_the_inbox_says_so_and_stays_in_the_inbox(ringing: Offer, team: dict[str, Any]) -> None:
    with time_machine.travel(timezone.now() + timedelta(seconds=21), tick=False):
        response = html(team["ana"]).post(f"/offers/{ringing.pk}/accept/", follow=True)

    assert response.redirect_chain[-1][0] == "/inbox/"
    assert "rang out" in response.content.decode()


def test_the_api_lists_the_callers_ringing_offers_only(ringing: Offer, team: dict[str, Any]) -> None:
    mine = api(team["ana"]).get("/api/v1/offers/").json()
    theirs = api(team["ben"]).get("/api/v1/offers/").json()

    assert [(row["id"], row["conversation"], row["outcome"]) for row in mine] == [
        (ringing.pk, ringing.conversation_id, "pending")
    ]
    assert mine[0]["expires_at"] and mine[0]["queue"] == ringing.conversation.queue_id
    assert theirs == []


def test_the_inbox_shows_the_ringing_offer_with_its_buttons_and_countdown(ringing: Offer, team: dict[str, Any]) -> None:
    page = html(team["ana"]).get("/inbox/").content.decode()
    fragment = html(team["ana"]).get("/inbox/offers/").content.decode()
    bens = html(team["ben"]).get("/inbox/offers/").content.decode()

    for shown in (page, fragment):
        assert f'data-offer="{ringing.pk}"' in shown
        assert f'action="/offers/{ringing.pk}/accept/"' in shown and f'action="/offers/{ringing.pk}/decline/"' in shown
        assert "data-offer-expires=" in shown and "Dana White" in shown
    assert "data-enable-notifications" in page and "switchboard/offers.js" in page
    assert "data-offer=" not in bens


def test_the_admin_shows_offers_and_cannot_change_them(ringing: Offer, admin_user: Any) -> None:
    client = html(admin_user)

    listing = client.get("/admin/routing/offer/")
    detail = client.get(f"/admin/routing/offer/{ringing.pk}/change/")
    add = client.get("/admin/routing/offer/add/")

    assert listing.status_code == 200 and "Ringing" in listing.content.decode()
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert add.status_code == 403
