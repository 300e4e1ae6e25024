"""Attachments of any shape: checked at the webhook, and never able to break a conversation page.

Facebook documents Messenger's ``message.attachments`` as a list of attachment objects: a delivery whose
attachments are anything else is refused with 400 and nothing stored, as any other field of the wrong shape.
X's v1.1 objects carry no ``attachments`` at all: a malformed one is left out of the stored payload and the post
is kept. And whatever a stored message's payload holds (rows stored before these checks exist), the conversation
page and its live fragment render.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db.models import JSONField, Value
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import Message
from monitoring.models import SocialAccount
from routing.models import Queue
from tests.capture.test_webhooks import _webhook_secrets as _webhook_secrets  # autouse: the webhook secrets
from tests.capture.test_webhooks import deliver_facebook, deliver_x, fixture, nothing_stored
from tests.states import conversation_in_state

MALFORMED_ATTACHMENTS = [
    pytest.param(5, id="number"),
    pytest.param(True, id="true"),
    pytest.param("image.jpg", id="string"),
    pytest.param({"type": "image"}, id="object"),
    pytest.param([5], id="list-of-numbers"),
    pytest.param([None], id="list-with-null"),
    pytest.param([{"type": 7, "payload": {"url": "https://example.com/a.jpg"}}], id="numeric-type"),
    pytest.param([{"type": "image", "payload": 5}], id="payload-number"),
    pytest.param([{"type": "image", "payload": {"url": ["https://example.com/a.jpg"]}}], id="url-list"),
    pytest.param([{"type": "file", "url": {"href": "https://example.com"}}], id="url-object"),
]


@pytest.fixture
def page(db: None) -> SocialAccount:
    return SocialAccount.objects.create(platform="facebook", external_id="501234567890123", name="Northwind")


@pytest.fixture
def x_account(db: None) -> SocialAccount:
    return SocialAccount.objects.create(platform="x", external_id="4400100", name="Northwind Help")


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_pages_render(user: Any, conversation_id: int) -> None:
    client = client_for(user)
    for url in (f"/conversations/{conversation_id}/", f"/conversations/{conversation_id}/live/"):
        response = client.get(url)
        assert response.status_code == 200, url


def messenger_with(attachments: Any, *, text: str | None = "Hi, is there an outage?") -> bytes:
    payload = fixture("facebook/webhook_messenger_text.json")
    message = payload["entry"][0]["messaging"][0]["message"]
    message["attachments"] = attachments
    if text is None:
        del message["text"]
    return json.dumps(payload).encode()


# --- At the edge -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Hi, is there an outage?", None], ids=["with-text", "without-text"])
@pytest.mark.parametrize("attachments", MALFORMED_ATTACHMENTS)
def test_a_messenger_message_with_malformed_attachments_is_refused_and_nothing_stored(
    page: SocialAccount, queue: Queue, attachments: Any, text: str | None
) -> None:
    response = deliver_facebook(messenger_with(attachments, text=text))

    assert response.status_code == 400
    assert response.json()["code"] == "malformed"
    assert "attachments" in response.json()["message"]
    assert nothing_stored()


@pytest.mark.parametrize("attachments", MALFORMED_ATTACHMENTS)
def test_a_facebook_feed_comment_with_malformed_attachments_is_refused_and_nothing_stored(
    page: SocialAccount, queue: Queue, attachments: Any
) -> None:
    payload = fixture("facebook/webhook_feed_comment.json")
    payload["entry"][0]["changes"][0]["value"]["attachments"] = attachments

    response = deliver_facebook(json.dumps(payload).encode())

    assert response.status_code == 400
    assert nothing_stored()


def test_a_messenger_photo_is_stored_and_its_link_shown(page: SocialAccount, queue: Queue, supervisor: Any) -> None:
    photo = [{"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/e17.jpg"}}]

    response = deliver_facebook(messenger_with(photo, text=None))

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.text == "[image attachment]"
    assert message.conversation_id is not None
    page_html = client_for(supervisor).get(f"/conversations/{message.conversation_id}/").content.decode()
    assert 'href="https://scontent.xx.fbcdn.net/v/e17.jpg"' in page_html
    assert "image attachment" in page_html


@pytest.mark.parametrize("attachments", MALFORMED_ATTACHMENTS)
def test_a_tweet_with_malformed_attachments_is_stored_without_them_and_its_pages_render(
    x_account: SocialAccount, queue: Queue, supervisor: Any, attachments: Any
) -> None:
    payload = fixture("x/account_activity_tweet_create.json")
    payload["tweet_create_events"][0]["attachments"] = attachments

    response = deliver_x(json.dumps(payload).encode())

    assert response.status_code == 200
    assert response.json()["stored"] == 1
    message = Message.objects.get()
    assert "attachments" not in message.raw
    assert message.raw["id_str"] == "1861000000000000201"  # the rest of the payload is kept
    assert message.conversation_id is not None
    assert_pages_render(supervisor, message.conversation_id)


def test_an_x_direct_message_with_malformed_attachments_is_stored_without_them(
    x_account: SocialAccount, queue: Queue, supervisor: Any
) -> None:
    payload = fixture("x/account_activity_dm.json")
    payload["direct_message_events"][0]["attachments"] = 5

    response = deliver_x(json.dumps(payload).encode())

    assert response.status_code == 200
    message = Message.objects.get()
    assert "attachments" not in message.raw
    assert message.conversation_id is not None
    assert_pages_render(supervisor, message.conversation_id)


# --- Already stored ------------------------------------------------------------------------------------------

STORED_JUNK = [
    pytest.param({"attachments": 5}, id="attachments-number"),
    pytest.param({"attachments": True}, id="attachments-true"),
    pytest.param({"attachments": "https://example.com/a.jpg"}, id="attachments-string"),
    pytest.param({"attachments": {"url": "https://example.com/a.jpg"}}, id="attachments-object"),
    pytest.param({"message": {"attachments": 5}}, id="message-attachments-number"),
    pytest.param({"message": 5, "attachments": [5]}, id="message-number"),
    pytest.param({"attachments": [None, 5, "x", [], {}]}, id="items-not-objects"),
    pytest.param({"attachments": [{"payload": 5, "url": 5, "type": {"a": 1}}]}, id="item-fields-wrong"),
    pytest.param({"attachments": [{"type": "image", "url": "http://[::1"}]}, id="unparseable-url"),
    pytest.param({"attachments": [{"type": "x" * 5000, "url": "https://example.com/a"}]}, id="huge-type"),
    pytest.param({"context": {"a": [1, 2]}, "attachments": [{"payload": {"url": "javascript:alert(1)"}}]}, id="js"),
    pytest.param({"context": 10**30}, id="context-huge-number"),
    pytest.param([1, 2, 3], id="a-list"),
    pytest.param("a string", id="a-string"),
    pytest.param(12, id="a-number"),
    pytest.param(None, id="null"),
    pytest.param(True, id="true"),
]


def store_raw(conversation: Any, raw: Any) -> None:
    # Value(None, JSONField()) is JSON null; a plain None would be SQL NULL, which the column refuses.
    Message.objects.filter(conversation=conversation).update(raw=Value(None, JSONField()) if raw is None else raw)


@pytest.fixture
def stored_conversation(make_post: Any, queue: Queue, agent: Any) -> Any:
    return conversation_in_state("assigned", make_post(text="My router is down"), queue=queue, agent=agent)


@pytest.mark.parametrize("raw", STORED_JUNK)
def test_a_stored_message_with_any_payload_leaves_its_pages_rendering(
    stored_conversation: Any, supervisor: Any, raw: Any
) -> None:
    store_raw(stored_conversation, raw)

    assert_pages_render(supervisor, stored_conversation.pk)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
    | st.sampled_from(["https://example.com/a.jpg", "http://[::1", "javascript:alert(1)", "image"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["attachments", "message", "payload", "url", "type", "context"]), children)
    ),
    max_leaves=12,
)


def test_a_stored_message_with_arbitrary_json_leaves_its_pages_rendering(
    stored_conversation: Any, supervisor: Any
) -> None:
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(raw=json_values)
    def run(raw: Any) -> None:
        store_raw(stored_conversation, raw)
        assert_pages_render(supervisor, stored_conversation.pk)

    run()
