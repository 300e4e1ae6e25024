"""The composer's live check takes the draft in a POST body, never in the URL.

Probe finding: every keystroke's draft went to ``GET /conversations/<id>/reply/check/?text=<draft>``,
and so into the access log. The check is now a POST (with the CSRF token, as every form here), and a
GET is refused with 405. X counts 280 weighted characters in public; its DMs allow 10,000.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core.models import Conversation
from core.models import ConversationState as S
from routing.models import Queue
from tests.states import conversation_in_state


@pytest.fixture
def conversation(agent: Any, queue: Queue, make_post: Any) -> Conversation:
    return conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)


def _url(conversation: Conversation) -> str:
    return f"/conversations/{conversation.pk}/reply/check/"


@pytest.mark.django_db
def test_the_reply_check_reads_the_draft_from_a_post_body(agent: Any, conversation: Conversation) -> None:
    client = Client()
    client.force_login(agent)

    public = client.post(_url(conversation), {"text": "Hello Dana"})
    private = client.post(_url(conversation), {"text": "Hello Dana", "private": "1"})

    assert public.status_code == 200 and public.json() == {"length": 10, "limit": 280, "problems": []}
    assert private.status_code == 200 and private.json()["limit"] == 10_000


@pytest.mark.django_db
def test_the_reply_check_refuses_a_get_with_405(agent: Any, conversation: Conversation) -> None:
    client = Client()
    client.force_login(agent)

    response = client.get(_url(conversation), {"text": "Hello Dana"})

    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.django_db
def test_the_reply_check_needs_the_csrf_token(agent: Any, conversation: Conversation) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    client.get(f"/conversations/{conversation.pk}/")  # the page sets the CSRF cookie, as in the browser
    token = client.cookies["csrftoken"].value

    without = client.post(_url(conversation), {"text": "Hello Dana"})
    with_token = client.post(_url(conversation), {"text": "Hello Dana"}, headers={"X-CSRFToken": token})

    assert without.status_code == 403
    assert with_token.status_code == 200
