"""The widget's HTTP side: its script for any site, a channel's configuration for its allowed origins only, and
the demo page, which loads the widget by its one tag under the site's strict Content-Security-Policy."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chat.models import ChatChannel
from tests.chat.conftest import SITE, save_channel

pytestmark = pytest.mark.django_db


def test_the_widget_script_is_served_to_any_site_and_cacheable(client: Any) -> None:
    response = client.get("/chat/widget.js", HTTP_ORIGIN="https://elsewhere.example")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "max-age=" in response["Cache-Control"]
    css = client.get("/chat/widget.css")
    assert css.status_code == 200 and css["Content-Type"].startswith("text/css")


def test_the_widget_script_builds_no_html_from_strings_and_evaluates_nothing(client: Any) -> None:
    source = client.get("/chat/widget.js").content
    code = re.sub(r"/\*.*?\*/", "", source.decode(), flags=re.S)  # the header comment names what it avoids
    for banned in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setAttribute("style"',
    ):
        assert banned not in code, banned
    assert "textContent" in code


def test_a_channel_config_goes_to_its_allowed_origin_with_cors(client: Any, queue: Any) -> None:
    save_channel({"queue": str(queue.pk), "greeting": "Hi there", "primary_colour": "#123d2b"})
    response = client.get("/chat/help/config/", HTTP_ORIGIN=SITE)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    body = response.json()
    assert body["greeting"] == "Hi there"
    assert body["colours"]["primary"] == "#123d2b"
    assert body["online"] is False, "no agent is available"


def test_a_channel_config_is_refused_to_another_site_saying_why(client: Any, queue: Any) -> None:
    save_channel({"queue": str(queue.pk)})
    response = client.get("/chat/help/config/", HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    assert "https://evil.example" in response.json()["error"]
    assert "greeting" not in response.json()


def test_no_config_for_an_unknown_or_disabled_channel(client: Any, queue: Any) -> None:
    channel = save_channel({"queue": str(queue.pk)})
    ChatChannel.objects.filter(pk=channel.pk).update(enabled=False)
    assert client.get("/chat/help/config/", HTTP_ORIGIN=SITE).status_code == 404
    assert client.get("/chat/nope/config/", HTTP_ORIGIN=SITE).status_code == 404


def test_the_demo_page_loads_the_widget_by_its_tag_with_no_inline_script(client: Any) -> None:
    response = client.get("/chat/demo/")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert len(scripts) == 1
    attributes, body = scripts[0]
    assert body.strip() == "", "no inline script"
    assert 'src="/chat/widget.js"' in attributes and 'data-channel="demo"' in attributes and "async" in attributes
    assert " style=" not in html and "<style" not in html
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "seed_demo" in html, "without the demo channel the page says how to make it"
