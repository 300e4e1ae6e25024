"""The live overview and conversation pages: who sees what, and customer text shown as text."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import Client

from core.capture import do_capture_post
from core.models import ConversationState as S
from core.models import Message
from routing.models import Queue
from tests.states import conversation_in_state


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_pages_need_a_login(make_post: Any) -> None:
    conversation = do_capture_post(make_post()).conversation
    for url in ("/", "/live/", "/inbox/", f"/conversations/{conversation.pk}/"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_the_login_page_logs_a_user_in(agent: Any) -> None:
    client = Client()
    response = client.post("/login/", {"username": "ana", "password": "pw-ana-12345"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/")["Location"] == "/inbox/", "agents work from their inbox"
    assert client.get("/inbox/").status_code == 200


@pytest.mark.django_db
def test_supervisors_see_every_open_conversation(make_post: Any, supervisor: Any, queue: Queue) -> None:
    do_capture_post(make_post(text="Router down in Leeds"))
    do_capture_post(make_post(text="How do I change my plan?"))
    page = client_for(supervisor).get("/").content.decode()
    assert "Router down in Leeds" in page and "How do I change my plan?" in page
    assert "The floor, live" in page


@pytest.mark.django_db
def test_an_agent_sees_only_their_own_work(make_post: Any, agent: Any, other_agent: Any, queue: Queue) -> None:
    mine = conversation_in_state(S.ASSIGNED, make_post(text="mine"), queue=queue, agent=agent)
    theirs = conversation_in_state(S.ASSIGNED, make_post(text="theirs"), queue=queue, agent=other_agent)
    client = client_for(agent)
    page = client.get("/inbox/").content.decode()
    assert "mine" in page and "theirs" not in page
    assert client.get(f"/conversations/{mine.pk}/").status_code == 200
    response = client.get(f"/conversations/{theirs.pk}/")
    assert response.status_code == 404, "another agent's conversation is not even confirmed to exist"
    assert client.get("/conversations/999999/").status_code == 404


@pytest.mark.django_db
def test_the_conversation_page_shows_the_thread_and_timeline(
    make_post: Any, supervisor: Any, queue: Queue, agent: Any
) -> None:
    conversation = conversation_in_state(S.WAITING, make_post(text="Down since 6am"), queue=queue, agent=agent)
    page = client_for(supervisor).get(f"/conversations/{conversation.pk}/").content.decode()
    assert "Down since 6am" in page and "We&#x27;re on it." in page
    for step in ("Captured", "Queued", "Assigned", "First response"):
        assert step in page


@pytest.mark.django_db
def test_customer_text_is_never_rendered_as_html(
    make_post: Any, supervisor: Any, admin_user: Any, queue: Queue
) -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    conversation = do_capture_post(make_post(text=attack, name=attack)).conversation
    for client, url in [
        (client_for(supervisor), "/"),
        (client_for(supervisor), "/live/"),
        (client_for(supervisor), f"/conversations/{conversation.pk}/"),
        (client_for(admin_user), f"/admin/core/conversation/{conversation.pk}/change/"),
        (client_for(admin_user), "/admin/core/contact/"),
        (client_for(admin_user), "/admin/core/message/"),
    ]:
        page = client.get(url).content.decode()
        assert "<script>alert" not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;" in page, url


@pytest.mark.django_db
def test_health_check_reports_the_database() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_a_reply_to_our_own_post_shows_that_post_in_context(make_post: Any, supervisor: Any, queue: Queue) -> None:
    from dataclasses import replace

    from monitoring.models import SocialAccount
    from monitoring.pipeline import ingest

    SocialAccount.objects.create(platform="x", external_id="4400100", name="Northwind Help")
    ours = make_post(external_id="5000", author_id="4400100", text="Winter price plans are live!")
    comment = replace(make_post(external_id="5001", text="Too expensive"), in_reply_to_external_id="5000")
    ingest([ours, comment])
    conversation = Message.objects.get(external_id="5001").conversation
    assert conversation is not None
    page = client_for(supervisor).get(f"/conversations/{conversation.pk}/").content.decode()
    assert "In reply to our post: Winter price plans are live!" in page


@pytest.mark.django_db
def test_supervisors_are_alerted_at_once_when_a_conversation_is_escalated(
    make_post: Any, agent: Any, queue: Queue, django_capture_on_commit_callbacks: Any
) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from core.actions import do_escalate_conversation

    conversation = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("supervisors", channel)
    with django_capture_on_commit_callbacks(execute=True):
        do_escalate_conversation(conversation, actor=agent, reason="Threatens legal action")

    async def drain() -> list[dict[str, Any]]:
        events = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=1)
            except TimeoutError:
                return events
            events.append(message["event"])

    assert {"type": "alert", "op": "escalated", "id": conversation.pk} in async_to_sync(drain)()
