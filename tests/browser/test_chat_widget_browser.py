# ruff: noqa: F811 - the tests take the fixtures imported from test_browser.py by name
"""The chat widget in a real browser: a customer on the demo page and an agent in the console, in two Chromium
contexts, chat both ways, see each other typing, and the customer's chat survives a reload. The demo page is
served with the site's strict Content-Security-Policy, so any inline script, eval or style attribute in the
widget would be refused and reported. The in-process server and browser are test_browser.py's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from chat.demo import seed_demo_chat_channel
from chat.models import ChatChannel
from core.models import Conversation, Message
from routing.models import Queue
from tests.browser.test_browser import (  # noqa: F401 - test_browser.py's new_context fixture and those it uses
    CHROMIUM,
    available,
    django_thread,
    expect,
    live_settings,
    live_url,
    log_in,
    new_context,
    open_live,
    read_db,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def demo_chat(live_url: str, queue: Queue) -> ChatChannel:
    channel = seed_demo_chat_channel(queue, None)
    ChatChannel.objects.filter(pk=channel.pk).update(allowed_origins=live_url)  # the test server's own origin
    return channel


def watch_csp(page: Any) -> list[str]:
    """Every CSP violation ("Refused to ...") and script error the page reports (not the missing favicon)."""
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and ("Refused" in message.text or "Security Policy" in message.text):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def customer_opens_the_chat(context: Any) -> tuple[Any, list[str]]:
    page = context.new_page()
    problems = watch_csp(page)
    page.goto("/chat/demo/")
    launcher = page.get_by_role("button", name="Chat with us")
    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    return page, problems


def test_customer_and_agent_chat_both_ways_with_typing_and_a_reload(
    new_context: Callable[[], Any],
    read_db: Callable[[Callable[[], Any]], Any],
    demo_chat: ChatChannel,
    agent: Any,
) -> None:
    available(agent)
    customer, problems = customer_opens_the_chat(new_context())
    name = customer.get_by_role("textbox", name="Name (optional)")
    expect(name).to_be_focused()  # focus moves into the panel (here the pre-chat form)
    name.fill("Priya")
    customer.get_by_role("button", name="Start chat").click()
    expect(customer.get_by_role("status").filter(has_text="We are online.")).to_be_visible()
    box = customer.get_by_role("textbox", name="Your message")
    box.fill("My meter reads zero since Tuesday")
    box.press("Enter")
    log = customer.get_by_role("log")
    expect(log).to_contain_text("My meter reads zero since Tuesday")
    expect(log.locator(".sb-msg").last).to_contain_text("Sent")  # acknowledged, no longer "Sending…"

    agent_page = log_in(new_context(), "ana", "pw-ana-12345")
    conversation = read_db(lambda: Conversation.objects.get(channel="chat"))
    open_live(agent_page, f"/conversations/{conversation.pk}/")
    expect(agent_page.locator(".thread")).to_contain_text("My meter reads zero since Tuesday")

    box.press_sequentially("Also")
    expect(agent_page.locator("[data-chat-typing-shown]")).to_be_visible()
    box.fill("")

    reply = agent_page.locator("[data-reply]")
    reply.click()
    reply.press_sequentially("Sorry Priya, ")
    expect(customer.locator(".sb-typing")).to_contain_text("is typing")
    reply.press_sequentially("we are sending someone to read it.")
    reply.press("Control+Enter")
    expect(log).to_contain_text("Sorry Priya, we are sending someone to read it.")
    expect(customer.locator(".sb-typing")).to_have_text("")

    customer.reload()  # the panel reopens with the same conversation: the token is in localStorage
    log = customer.get_by_role("log")
    expect(log).to_contain_text("My meter reads zero since Tuesday")
    expect(log).to_contain_text("Sorry Priya, we are sending someone to read it.")
    expect(customer.get_by_role("textbox", name="Your message")).to_be_visible()
    assert read_db(lambda: Conversation.objects.filter(channel="chat").count()) == 1
    assert problems == [], problems


def test_escape_closes_the_panel_and_focus_returns_to_the_launcher(
    new_context: Callable[[], Any],
    demo_chat: ChatChannel,
) -> None:
    customer, problems = customer_opens_the_chat(new_context())
    panel = customer.get_by_role("dialog", name="Northwind chat")
    expect(panel).to_be_visible()
    customer.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    launcher = customer.get_by_role("button", name="Chat with us")
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert problems == [], problems


def test_the_widget_speaks_the_browsers_language(live_url: str, demo_chat: ChatChannel, new_context: Any) -> None:
    context = new_context()
    page = context.browser.new_context(base_url=live_url, locale="de-DE").new_page()
    page.goto("/chat/demo/")
    page.get_by_role("button", name="Chatten Sie mit uns").click()
    expect(page.get_by_role("button", name="Chat schließen")).to_be_visible()
    page.context.close()


def test_with_nobody_available_the_widget_says_so_with_the_channels_texts(
    new_context: Callable[[], Any], demo_chat: ChatChannel
) -> None:
    customer, problems = customer_opens_the_chat(new_context())  # no agent is available
    customer.get_by_role("button", name="Start chat").click()
    expect(customer.get_by_role("status").filter(has_text=demo_chat.offline_text)).to_contain_text(
        demo_chat.business_hours_text
    )
    expect(customer.get_by_text("Please come back later.")).to_be_visible()  # no mailbox: no leave-a-message form
    assert problems == [], problems


def test_a_message_whose_ack_was_lost_is_sending_until_the_reconnect_and_stored_once(
    new_context: Callable[[], Any], read_db: Callable[[Callable[[], Any]], Any], demo_chat: ChatChannel, agent: Any
) -> None:
    available(agent)
    customer = new_context().new_page()
    routes: list[Any] = []

    def route(socket: Any) -> None:
        server = socket.connect_to_server()
        routes.append(socket)
        if len(routes) > 1:
            return  # later connections pass through

        def from_server(frame: Any) -> None:
            if '"ack"' in str(frame) or '"message"' in str(frame):
                if '"ack"' in str(frame):
                    socket.close(code=4000)  # the connection drops before the ack reaches the widget
                return
            socket.send(frame)

        server.on_message(from_server)

    customer.route_web_socket(re.compile(r"/ws/chat/demo/"), route)
    customer.goto("/chat/demo/")
    customer.get_by_role("button", name="Chat with us").click()
    customer.get_by_role("button", name="Start chat").click()
    box = customer.get_by_role("textbox", name="Your message")
    box.fill("Is the outage over?")
    box.press("Enter")
    message = customer.get_by_role("log").locator(".sb-msg")
    expect(message).to_contain_text("Sending…")

    expect(message).to_contain_text("Sent")  # after the reconnect: found in the history, or resent and acked
    expect(message).to_have_count(1)
    assert len(routes) == 2
    assert read_db(lambda: Message.objects.filter(text="Is the outage over?").count()) == 1
