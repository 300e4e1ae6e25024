"""The composer in a real browser sends its draft to the live check in a POST body, never in a URL.

Probe finding: each keystroke's draft went into ``GET .../reply/check/?text=<draft>``, and so into the
access log. The in-process server and browser are test_browser.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest

from core.models import ConversationState as S
from routing.models import Queue
from tests.browser.test_browser import (  # noqa: F401 - test_browser.py's new_context fixture and those it uses
    CHROMIUM,
    django_thread,
    expect,
    live_settings,
    live_url,
    log_in,
    new_context,
)
from tests.states import conversation_in_state

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]


def _open_composer(request: Any, agent: Any, queue: Queue, make_post: Any) -> tuple[Any, list[Any]]:
    conversation = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)
    contexts: Callable[[], Any] = request.getfixturevalue("new_context")
    page = log_in(contexts(), "ana", "pw-ana-12345")
    checks: list[Any] = []
    page.on("request", lambda sent: checks.append(sent) if "/reply/check/" in sent.url else None)
    page.goto(f"/conversations/{conversation.pk}/")
    return page, checks


def test_the_composer_checks_a_draft_by_post_with_the_draft_in_the_body(
    request: Any, agent: Any, queue: Queue, make_post: Any
) -> None:
    page, checks = _open_composer(request, agent, queue, make_post)

    page.locator("[data-reply]").fill("Hello Dana, checking now")

    expect(page.locator("[data-counter]")).to_have_text("24 / 280")
    assert checks
    assert all(request.method == "POST" and "?" not in request.url for request in checks)
    assert parse_qs(checks[-1].post_data)["text"] == ["Hello Dana, checking now"]


def test_a_draft_too_large_to_check_says_so_in_the_composer(
    request: Any, agent: Any, queue: Queue, make_post: Any
) -> None:
    page, _ = _open_composer(request, agent, queue, make_post)

    page.locator("[data-reply]").fill("x" * 300_000)  # over the 256 KiB forms limit

    expect(page.locator("[data-problems]")).to_have_text("Request body over 262144 bytes (the limit for forms).")
    expect(page.locator("[data-counter]")).to_have_text("")
