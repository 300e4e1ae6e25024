"""A ringing offer in a real browser: it arrives live, counts down, rings, and Accept opens the conversation.

Served and driven like tests/browser/test_browser.py (whose fixtures these are): a tweet arrives as a
signed webhook, capture queues it in an offer-mode queue, the router offers it to Ana, and the
``offers`` event reaches her inbox over the websocket.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from requests_mock import Mocker

from core.models import Conversation
from core.models import ConversationState as S
from monitoring.models import SocialAccount
from routing.models import Offer, OfferOutcome, Queue, RouteMode
from tests.browser import test_browser
from tests.browser.test_browser import available, deliver_tweet, expect, log_in, open_live

pytestmark = test_browser.pytestmark

live_settings = test_browser.live_settings
django_thread = test_browser.django_thread
live_url = test_browser.live_url
x_api = test_browser.x_api
new_context = test_browser.new_context
read_db = test_browser.read_db
x_account = test_browser.x_account

# Counts the tones offers.js plays (the Web Audio API itself is real; this only watches it start oscillators).
COUNT_TONES = """
window.__tones = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) { window.__tones += 1; return start.apply(this, args); };
"""


@pytest.fixture
def offering(queue: Queue) -> Queue:
    Queue.objects.filter(pk=queue.pk).update(route_mode=RouteMode.OFFER, offer_seconds=60)
    return queue


def test_an_offer_rings_live_in_the_inbox_and_accept_opens_the_conversation(
    new_context: Callable[[], Any],
    live_url: str,
    read_db: Callable[[Callable[[], Any]], Any],
    x_api: Mocker,
    x_account: SocialAccount,
    offering: Queue,
    agent: Any,
) -> None:
    available(agent)
    context = new_context()
    context.grant_permissions(["notifications"])
    context.add_init_script(COUNT_TONES)
    page = log_in(context, "ana", "pw-ana-12345")
    open_live(page, "/inbox/")
    expect(page.locator("[data-offer]")).to_have_count(0)

    deliver_tweet(live_url, "@northwind_help my parcel never came")

    card = page.locator("[data-offer]")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Priya K")
    expect(card).to_contain_text("my parcel never came")
    expect(card.locator("[data-offer-countdown]")).to_have_text(re.compile(r"^(5\d|60) s$"))
    assert page.evaluate("window.__tones") >= 1, "the offer rang"
    offer = read_db(lambda: Offer.objects.get())
    assert offer.outcome == OfferOutcome.PENDING and offer.agent_id == agent.pk

    card.get_by_role("button", name="Accept").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Priya K"))
    conversation = read_db(lambda: Conversation.objects.get())
    assert conversation.state == S.ASSIGNED and conversation.assigned_agent_id == agent.pk
    assert read_db(lambda: Offer.objects.get().outcome) == OfferOutcome.ACCEPTED


def test_declining_takes_the_offer_away_and_notifications_are_asked_for_on_a_click(
    new_context: Callable[[], Any],
    live_url: str,
    read_db: Callable[[Callable[[], Any]], Any],
    x_api: Mocker,
    x_account: SocialAccount,
    offering: Queue,
    agent: Any,
    other_agent: Any,
) -> None:
    available(agent)
    context = new_context()
    page = log_in(context, "ana", "pw-ana-12345")
    open_live(page, "/inbox/")
    ask = page.locator("[data-notify-offers]")
    expect(ask).to_be_visible()  # permission not yet given or refused: offered on a button
    context.grant_permissions(["notifications"])
    ask.get_by_role("button", name="Enable notifications").click()
    expect(ask).to_be_hidden()

    deliver_tweet(live_url, "@northwind_help wrong size delivered")  # Ana is the only agent available
    available_now = read_db(lambda: available(other_agent))  # then Ben comes in
    assert available_now.pk == other_agent.pk
    card = page.locator("[data-offer]")
    expect(card).to_have_count(1)
    card.get_by_role("button", name="Decline").click()

    expect(page.locator("[data-offer]")).to_have_count(0)
    offers = read_db(lambda: list(Offer.objects.order_by("id").values_list("agent_id", "outcome")))
    assert offers == [(agent.pk, OfferOutcome.DECLINED), (other_agent.pk, OfferOutcome.PENDING)], "on to Ben"
