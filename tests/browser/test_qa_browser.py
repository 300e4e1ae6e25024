"""A supervisor scores a QA review in a real browser: the queue, the thread beside the form, the result.

Uses the live server, browser and database helpers of tests/browser/test_browser.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from quality.models import QaReview, ReviewStatus
from routing.models import Queue
from tests.browser import test_browser as browser
from tests.browser.test_browser import CHROMIUM, expect, log_in
from tests.qa_data import pending_review, resolved, standard_form

# The live server, browser and database fixtures of tests/browser/test_browser.py.
django_thread = browser.django_thread
live_settings = browser.live_settings
live_url = browser.live_url
new_context = browser.new_context
read_db = browser.read_db

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]


def test_a_supervisor_scores_a_review_beside_the_thread(
    new_context: Callable[[], Any],
    read_db: Callable[[Callable[[], Any]], Any],
    make_post: Any,
    queue: Queue,
    agent: Any,
    supervisor: Any,
) -> None:
    conversation = resolved(make_post(text="Third outage this week, I want a refund"), queue=queue, agent=agent)
    review = pending_review(supervisor, standard_form(), conversation)

    page = log_in(new_context(), "sofia", "pw-sofia-12345")
    page.get_by_role("link", name="QA", exact=True).click()
    page.get_by_role("link", name=f"Score #{review.pk}").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Review #{review.pk} · conversation #{conversation.pk}")
    expect(page.locator(".thread .message.in")).to_contain_text("Third outage this week, I want a refund")
    page.get_by_label("Greeting").select_option(label="4 / 5")
    page.get_by_label("Resolution").select_option(label="7 / 10")
    page.get_by_label("Compliance").select_option(label="Pass")
    page.get_by_label("Upsell").select_option(label="N/A")
    page.get_by_label("Comment for the agent").fill("Apologised and fixed it; offer the outage credit next time.")
    page.get_by_role("button", name="Submit score").click()

    expect(page.locator(".flash")).to_contain_text(f"Review #{review.pk} scored: 81.7 (passed).")
    expect(page.locator("[data-score]")).to_have_text("81.7")
    scored = read_db(lambda: QaReview.objects.get(pk=review.pk))
    assert scored.status == ReviewStatus.SUBMITTED
    assert scored.score == pytest.approx(490 / 6) and scored.passed
    assert scored.comment == "Apologised and fixed it; offer the outage credit next time."

    # The score feeds the agent's scorecard.
    page.get_by_role("link", name="Ana").first.click()
    expect(page.locator('[data-figure="qa-mean"]')).to_have_text("81.7")
