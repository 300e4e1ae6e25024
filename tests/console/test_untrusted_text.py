"""Customer text is untrusted: every page shows it as text, never as markup or script.

Each page is parsed as a browser would read it; the checks are structural (no
element, attribute or script came from the customer) and positive (the
customer's words are there, character for character, as text).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from agents.models import AgentProfile
from core.actions import do_escalate_conversation
from core.handling import check_add_note
from core.models import Conversation, Delivery, Message
from core.models import ConversationState as S
from monitoring.models import SocialAccount
from responses.actions import do_send_reply
from responses.models import ResponseTemplate
from routing.models import Queue
from tests.states import conversation_in_state

LINK = "https://status.example.com/outage?a=1&b=2"
TEXT = (
    "<script>alert(1)</script> Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; "
    '<img src=x onerror=alert(2)> <a href="javascript:alert(3)">prize</a> '
    f"javascript:alert(4) <b onmouseover=alert(5)>hover</b> see {LINK}"
)
NAME = '<script>alert("name")</script><img src=x onerror=alert(6)> Eve &amp; co'
# What must appear on every page that shows the post: a list shows only its opening words.
OPENING = "<script>alert(1)</script> Tom &amp; Jerry"
WHOLE = [
    "<script>alert(1)</script>",
    "Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt;",
    "<img src=x onerror=alert(2)>",
    '<a href="javascript:alert(3)">prize</a>',
    "javascript:alert(4)",
    "<b onmouseover=alert(5)>hover</b>",
]
QUOTE = 'You wrote "<script>alert(1)</script>"; we never open javascript:alert(7) links. &amp;'


class Page(HTMLParser):
    """A page as the browser builds it: its elements and its text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self._texts: list[str] = []
        self._in_script = False
        self.feed(markup)
        self.close()
        self.text = "".join(self._texts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self._texts).append(data)


def assert_shown_as_text(markup: str, *pieces: str, where: str) -> Page:
    page = Page(markup)
    for tag, attrs in page.elements:
        handlers = [name for name in attrs if name.startswith("on")]
        assert not handlers, f"{where}: <{tag}> carries event handlers {handlers}"
        for name in ("href", "src", "action", "formaction", "xlink:href"):
            value = re.sub(r"[\x00-\x20]", "", attrs.get(name, "")).lower()
            assert not value.startswith(("javascript:", "vbscript:", "data:")), f"{where}: <{tag} {name}={value!r}>"
        if tag == "script":
            assert attrs.get("src", "").startswith(("/static/", "/admin/jsi18n/")), f"{where}: a script not ours"
        assert not (tag == "img" and attrs.get("src") == "x"), f"{where}: an image from the customer"
    assert not "".join(page.scripts).strip(), f"{where}: an inline script"
    for piece in pieces:
        assert piece in page.text, f"{where}: {piece!r} is not shown as text"
    return page


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def hostile(make_post: Any, queue: Queue, agent: Any, supervisor: Any) -> Conversation:
    """A hostile post, assigned to Ana (a trainee), with her held reply quoting it, a note and an escalation."""
    account = SocialAccount.objects.create(platform="x", external_id="4400100", name="Northwind Help")
    post = replace(make_post(text=TEXT, name=NAME, handle="eve_<b>"), account_id=account.pk)
    conversation = conversation_in_state(S.ASSIGNED, post, queue=queue, agent=agent)
    AgentProfile.objects.filter(user=agent).update(is_trainee=True)
    held = do_send_reply(conversation, agent, QUOTE)
    assert held.delivery == Delivery.PENDING_APPROVAL
    check_add_note(agent, conversation, "They pasted <script>alert(8)</script> again")
    do_escalate_conversation(conversation, actor=agent, reason="<img src=x onerror=alert(9)>")
    return conversation


def test_the_agents_inbox_shows_customer_text_as_text(hostile: Conversation, agent: Any) -> None:
    client = client_for(agent)
    for url in ("/inbox/", "/inbox/live/"):
        response = client.get(url)
        assert response.status_code == 200
        assert_shown_as_text(response.content.decode(), NAME, OPENING, where=url)


def test_the_conversation_page_and_its_live_fragment_show_customer_text_as_text(
    hostile: Conversation, agent: Any, supervisor: Any
) -> None:
    for user in (agent, supervisor):
        for url in (f"/conversations/{hostile.pk}/", f"/conversations/{hostile.pk}/live/"):
            response = client_for(user).get(url)
            assert response.status_code == 200
            page = assert_shown_as_text(response.content.decode(), NAME, *WHOLE, QUOTE, where=url)
            assert "<img src=x onerror=alert(9)>" in page.text, "the escalation reason, as text"
            links = [attrs for tag, attrs in page.elements if tag == "a" and "example.com" in attrs.get("href", "")]
            assert links == [{"href": LINK, "rel": "nofollow"}], "the customer's link is a plain nofollow link"
    page = Page(client_for(agent).get(f"/conversations/{hostile.pk}/").content.decode())
    assert "They pasted <script>alert(8)</script> again" in page.text
    assert "eve_<b>" in page.text


def test_the_approvals_page_shows_a_held_reply_quoting_the_customer_as_text(
    hostile: Conversation, supervisor: Any
) -> None:
    response = client_for(supervisor).get("/approvals/")
    assert response.status_code == 200
    assert_shown_as_text(response.content.decode(), NAME, QUOTE, where="/approvals/")


def test_the_live_overview_shows_customer_text_as_text(hostile: Conversation, supervisor: Any) -> None:
    client = client_for(supervisor)
    for url in ("/", "/live/"):
        response = client.get(url)
        assert response.status_code == 200
        assert_shown_as_text(response.content.decode(), NAME, OPENING, where=url)


def test_template_search_returns_template_and_customer_text_as_data(hostile: Conversation, agent: Any) -> None:
    ResponseTemplate.objects.create(
        name="<i>Sorry</i>", shortcut="sorry", body="<b>Sorry {customer_name}</b><script>alert(10)</script>"
    )

    response = client_for(agent).get(f"/conversations/{hostile.pk}/templates/", {"q": "/sorry"})

    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff", "never sniffed into HTML"
    assert response.json() == {
        "templates": [
            {"shortcut": "sorry", "name": "<i>Sorry</i>", "text": f"<b>Sorry {NAME}</b><script>alert(10)</script>"}
        ]
    }, "the exact characters: not escaped twice, not interpreted"


def test_the_console_script_never_inserts_server_text_as_html() -> None:
    found = finders.find("switchboard/console.js")
    assert found is not None
    script = Path(found).read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert "textContent = t.text" in script and "preview.textContent" in script


def test_admin_change_pages_show_customer_text_as_text(hostile: Conversation, admin_user: Any) -> None:
    template = ResponseTemplate.objects.create(name="<i>x</i>", shortcut="x", body="<script>alert(11)</script>")
    inbound = hostile.messages.get(direction="in")
    held = Message.objects.get(conversation=hostile, direction="out")
    identity = hostile.contact.identities.get()
    pages = [
        (reverse("admin:core_conversation_change", args=[hostile.pk]), [NAME, *WHOLE]),
        (reverse("admin:core_contact_change", args=[hostile.contact_id]), [NAME]),
        (reverse("admin:core_identity_change", args=[identity.pk]), [NAME, "eve_<b>"]),
        (reverse("admin:core_message_change", args=[inbound.pk]), [*WHOLE, json.dumps(TEXT)[1:40]]),
        (reverse("admin:core_message_change", args=[held.pk]), [QUOTE]),
        (reverse("admin:responses_responsetemplate_change", args=[template.pk]), ["<script>alert(11)</script>"]),
        (reverse("admin:core_conversation_changelist"), [NAME, OPENING]),
        (reverse("admin:core_message_changelist"), []),
    ]
    for url, pieces in pages:
        response = client_for(admin_user).get(url)
        assert response.status_code == 200, url
        assert_shown_as_text(response.content.decode(), *pieces, where=url)


def test_attachments_link_only_to_web_addresses() -> None:
    from console.templatetags.console import attachments, web_url

    raw = {
        "message": {
            "attachments": [
                {"type": "image", "payload": {"url": "https://cdn.example/pic.jpg"}},
                {"type": "file", "payload": {"url": "javascript:alert(1)"}},
                {"type": "file", "payload": {"url": "data:text/html;base64,PHNjcmlwdD4="}},
                "not a dict",
            ]
        }
    }
    assert attachments(raw) == [{"type": "image", "url": "https://cdn.example/pic.jpg"}]
    assert web_url("JAVASCRIPT:alert(1)") == "" and web_url(None) == ""
