"""The email composer in a real browser: a template fills in the text above the signature, never over it, and
files over the limit are refused before they are uploaded. The in-process server and browser are
test_browser.py's; the mail comes through the pipe command (tests/email_threads.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from responses.models import ResponseTemplate
from tests.browser.test_browser import (  # noqa: F401 - test_browser.py's new_context fixture and those it uses
    CHROMIUM,
    django_thread,
    expect,
    live_settings,
    live_url,
    log_in,
    new_context,
)
from tests.email_threads import email_conversation, mailbox  # noqa: F401 - fixtures, used by name

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]


def _open_composer(request: Any, agent: Any) -> Any:
    agent.agent_profile.email_signature = "Ana\nBenefits team"
    agent.agent_profile.save()
    conversation = request.getfixturevalue("email_conversation")()
    contexts: Callable[[], Any] = request.getfixturevalue("new_context")
    page = log_in(contexts(), "ana", "pw-ana-12345")
    page.goto(f"/conversations/{conversation.pk}/")
    return page, conversation


def test_a_template_fills_in_the_text_and_keeps_the_signature(request: Any, agent: Any) -> None:
    ResponseTemplate.objects.create(name="Payment", shortcut="payment", body="Dear {customer_name}, it is paid.")
    page, _ = _open_composer(request, agent)
    reply = page.locator("[data-reply]")
    expect(reply).to_have_value("\n\n-- \nAna\nBenefits team")
    assert page.locator("[data-counter]").count() == 0, "no character counter for email"

    reply.press("Control+Home")
    reply.press_sequentially("/pay")
    expect(page.locator("[data-suggestions] li").first).to_contain_text("/payment")
    reply.press("Enter")

    expect(reply).to_have_value("Dear Dana White, it is paid.\n\n-- \nAna\nBenefits team")


def test_files_over_the_limit_are_refused_before_the_upload(request: Any, agent: Any, settings: Any) -> None:
    settings.EMAIL_REPLY_ATTACHMENT_MAX_BYTES = 1024
    page, _ = _open_composer(request, agent)
    posted: list[Any] = []
    page.on("request", lambda sent: posted.append(sent) if sent.url.endswith("/reply/") else None)
    page.locator("[data-reply]").fill("The scans.")
    page.locator("[data-attachments]").set_input_files(
        [{"name": "scan.pdf", "mimeType": "application/pdf", "buffer": b"x" * 2048}]
    )

    page.locator("[data-send]").click()

    expect(page.locator("[data-problems]")).to_have_text(
        "The files come to 2.0 KB; at most 1.0 KB may be attached to one reply."
    )
    expect(page.locator("[data-reply]")).to_have_value("The scans.")
    assert posted == [], "nothing was uploaded"
