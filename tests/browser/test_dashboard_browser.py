"""The supervisor's live dashboard in a real browser: new figures arrive without a reload.

A post is captured (a signed X webhook to the live server) and an agent changes
presence (through the API, so the action runs in the server and its realtime
event reaches the supervisor's socket); each time the dashboard shows the new
figure within ``LIVE`` seconds. The dashboard also refreshes itself every 15 s,
so anything slower than ``LIVE`` would mean the event did not arrive.
Uses the live server, browser and webhook helpers of tests/browser/test_browser.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from rest_framework.authtoken.models import Token

from monitoring.models import SocialAccount
from routing.models import Queue
from tests.browser import test_browser as browser
from tests.browser.test_browser import CHROMIUM, deliver_tweet, expect, log_in, open_live

# The live server, browser and database fixtures of tests/browser/test_browser.py.
django_thread = browser.django_thread
live_settings = browser.live_settings
live_url = browser.live_url
new_context = browser.new_context
x_account = browser.x_account

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]

LIVE = 2.0  # seconds from the change to the figure on the dashboard


def set_presence(url: str, token: str, presence: str) -> None:
    response = requests.post(
        f"{url}/api/v1/agents/me/presence/",
        json={"presence": presence},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def within_live(started: float) -> None:
    assert time.monotonic() - started <= LIVE + 0.5  # expect() waited at most LIVE; allow for its polling


def test_the_dashboard_shows_a_captured_post_and_a_presence_change_without_reload(
    new_context: Callable[[], Any],
    live_url: str,
    x_account: SocialAccount,
    queue: Queue,
    agent: Any,
    supervisor: Any,
) -> None:
    token = Token.objects.create(user=agent).key
    page = log_in(new_context(), "sofia", "pw-sofia-12345")
    open_live(page, "/")
    # The socket's opening refreshes the page once (100 ms later): let that pass, or it could
    # pick up a change below by itself and hide a lost event.
    page.wait_for_load_state("networkidle")
    volume = page.locator('[data-figure="volume"]')
    ana = page.locator(f'[data-dashboard] tr[data-agent="{agent.pk}"]')
    expect(volume).to_have_text("0")
    expect(ana.locator(".pill")).to_have_text("Offline")
    page.evaluate("window.notReloaded = true")

    # Ana is busy: no routing follows, so only the presence event can refresh the page.
    started = time.monotonic()
    set_presence(live_url, token, "busy")
    expect(ana.locator(".pill")).to_have_text("Busy", timeout=LIVE * 1000)
    within_live(started)

    # A post arrives; nobody is available, so it waits in the queue.
    started = time.monotonic()
    deliver_tweet(live_url, "@northwind_help my order never arrived")
    expect(volume).to_have_text("1", timeout=LIVE * 1000)
    expect(page.locator(f'[data-dashboard] tr[data-queue="{queue.pk}"] td').nth(1)).to_have_text(
        "1", timeout=LIVE * 1000
    )
    within_live(started)

    # Ana becomes available: the router gives her the post; her row shows it.
    started = time.monotonic()
    set_presence(live_url, token, "available")
    expect(ana.locator(".pill")).to_have_text("Available", timeout=LIVE * 1000)
    expect(ana.locator(".load")).to_have_text("1 / 10", timeout=LIVE * 1000)
    within_live(started)

    assert page.evaluate("window.notReloaded") is True
