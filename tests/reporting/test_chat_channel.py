"""Web chat in the reports, the dashboard, the staffing plan and the API, like every channel (issue 20).

The chats come in through the use case the customer websocket calls (``do_visitor_hello`` and
``do_receive_chat_message``) and are worked through the actions the console uses, on a frozen clock. The queue
is a pull queue, so nothing is assigned behind the test's back while Ana is available (a chat channel is online
only while an agent is). The story, and what it must show (worked out by hand):

- Monday 2 March 2026, 09:00 UTC: Dana and Carla chat on the agency's site; Dana White also posts on X.
  Captured: 2 on ``chat``, 1 on ``x_public``.
- 09:01 Ana takes Dana's chat (ASA 60 s), opens it at 09:05, replies at 09:30 (first response 1,800 s after
  Dana's message), starts wrapping up at 09:35 and resolves it at 09:40: work 1,800 s + wrap-up 300 s = 2,100 s
  handle time, 17.50 at 30 an hour.
- Carla's chat and the X post are still waiting: backlog 1 on each channel.

Staffing: the plan's Erlang C takes one ``concurrency`` for the whole plan (a request parameter); it has no
per-channel concurrency, so chat counts in the forecast volume and the AHT like any channel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from agents.actions import do_set_presence
from chat.actions import do_receive_chat_message, do_visitor_hello
from core.actions import do_assign_conversation, do_resolve_conversation
from core.handling import do_open_work, do_start_wrap_up
from core.models import Channel, Conversation, EventKind
from core.posts import InboundPost
from monitoring.pipeline import ingest
from reporting.dashboard import dashboard
from reporting.models import LedgerHour
from reporting.rollup import do_roll_up
from responses.actions import do_send_reply
from routing.models import Queue, RoutingMode
from tests.chat.conftest import new_id, save_channel

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = {"start": "2026-03-02", "end": "2026-03-02"}
CHAT, X = Channel.CHAT.value, Channel.X_PUBLIC.value


@pytest.fixture(autouse=True)
def _utc(settings: Any) -> None:
    settings.TIME_ZONE = "UTC"
    settings.COST_PER_AGENT_HOUR = 30.0


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(MONDAY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def story(
    clock: time_machine.Traveller, queue: Queue, agent: Any, make_post: Callable[..., InboundPost]
) -> dict[str, Conversation]:
    Queue.objects.filter(pk=queue.pk).update(mode=RoutingMode.PULL)
    channel = save_channel({"queue": str(queue.pk), "prechat_topic": "optional", "topics": "Outage\nBilling"})
    do_set_presence(agent.agent_profile, "available")
    ingest([make_post(text="Still no internet")])

    def chat(name: str, email: str, topic: str, text: str) -> int:
        prechat = {"name": name, "email": email, "topic": topic}
        visitor = do_visitor_hello(channel, None, None, prechat).visitor
        message = do_receive_chat_message(visitor, new_id(), text)
        assert message.conversation_id is not None
        return message.conversation_id

    dana_id = chat("Dana White", "dana@example.org", "Outage", "My router is down")
    carla_id = chat("Carla Ruiz", "carla@example.net", "Billing", "Question about my invoice")
    dana = Conversation.objects.get(pk=dana_id)

    def at(minutes: int) -> None:
        clock.move_to(MONDAY + timedelta(minutes=minutes))

    at(1)
    do_assign_conversation(dana, agent)
    at(5)
    do_open_work(dana, agent)
    at(30)
    do_send_reply(dana, agent, "Hi Dana, an engineer is on the way.")
    at(35)
    do_start_wrap_up(dana, agent)
    at(40)
    do_resolve_conversation(dana, actor=agent, disposition="answered")
    return {
        "dana": dana,
        "carla": Conversation.objects.get(pk=carla_id),
        "x": Conversation.objects.get(channel=X),
    }


@pytest.fixture
def supervisor_client(client: Client, supervisor: Any) -> Client:
    client.force_login(supervisor)
    return client


def report(client: Client, name: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/reports/{name}/?{urlencode({**DAY, **params})}")
    assert response.status_code == 200, response.content
    rows: list[dict[str, Any]] = response.json()["rows"]
    return rows


def chat_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    (row,) = [row for row in rows if row["channel"] == CHAT]
    return row


def test_the_kpi_reports_group_and_filter_chat_like_any_channel(
    supervisor_client: Client, story: dict[str, Conversation]
) -> None:
    assert report(supervisor_client, "volumes", by_channel="1") == [
        {"channel": CHAT, "captured": 2, "filtered": 0, "handled": 1},
        {"channel": X, "captured": 1, "filtered": 0, "handled": 0},
    ]
    assert report(supervisor_client, "volumes", channel=CHAT) == [{"captured": 2, "filtered": 0, "handled": 1}]
    speed = chat_row(report(supervisor_client, "speed", by_channel="1"))
    assert (speed["first_response_count"], speed["first_response_mean_seconds"]) == (1, 1800.0)
    assert (speed["asa_count"], speed["asa_mean_seconds"]) == (1, 60.0)
    handle = report(supervisor_client, "handle", channel=CHAT)[0]
    assert (handle["handle_seconds"], handle["worked"], handle["aht_seconds"]) == (2100.0, 1, 2100.0)
    cost = chat_row(report(supervisor_client, "cost", by_channel="1"))
    assert (cost["contacts"], cost["cost"], cost["cost_per_contact"]) == (1, 17.5, 17.5)
    resolution = report(supervisor_client, "resolution", channel=CHAT)[0]
    assert (resolution["opened"], resolution["resolved"]) == (2, 1)
    backlog = report(supervisor_client, "backlog", by_channel="1")
    assert [(row["channel"], row["total"]) for row in backlog] == [(CHAT, 1), (X, 1)]


def test_the_hourly_rollup_keeps_chat_apart(
    supervisor_client: Client, story: dict[str, Conversation], clock: time_machine.Traveller
) -> None:
    clock.move_to(MONDAY + timedelta(hours=3))
    assert do_roll_up() is not None
    assert LedgerHour.objects.filter(channel=CHAT, kind=EventKind.CAPTURED).get().rows == 2
    assert report(supervisor_client, "volumes", by_channel="1") == [
        {"channel": CHAT, "captured": 2, "filtered": 0, "handled": 1},
        {"channel": X, "captured": 1, "filtered": 0, "handled": 0},
    ]
    assert report(supervisor_client, "volumes", channel=CHAT) == [{"captured": 2, "filtered": 0, "handled": 1}]


def test_the_report_pages_offer_and_name_the_chat_channel(
    supervisor_client: Client, story: dict[str, Conversation]
) -> None:
    grouped = supervisor_client.get(f"/reports/volumes/?{urlencode({**DAY, 'by_channel': '1'})}").content.decode()
    assert "<td>Web chat</td>" in grouped
    filtered = supervisor_client.get(f"/reports/volumes/?{urlencode({**DAY, 'channel': CHAT})}").content.decode()
    assert 'value="chat" selected' in filtered


def test_the_dashboard_shows_the_chat_queue_depth(supervisor_client: Client, story: dict[str, Conversation]) -> None:
    channels = {row["channel"]: row for row in dashboard(timezone.now())["channels"]}
    assert set(channels) == {CHAT, X}
    assert (channels[CHAT]["name"], channels[CHAT]["depth"]) == ("Web chat", 1)
    assert channels[CHAT]["longest_wait_seconds"] == 40 * 60  # Carla has waited since 09:00
    page = supervisor_client.get("/").content.decode()
    assert '<tr data-channel="chat"><td>Web chat</td><td>1</td>' in page


def test_the_api_filters_conversations_by_channel_chat(
    supervisor_client: Client, story: dict[str, Conversation]
) -> None:
    body = supervisor_client.get("/api/v1/conversations/?channel=chat").json()
    assert {item["id"] for item in body["results"]} == {story["dana"].pk, story["carla"].pk}
    assert {item["channel"] for item in body["results"]} == {CHAT}
    assert {item["subject"] for item in body["results"]} == {"Outage", "Billing"}
    others = supervisor_client.get("/api/v1/conversations/?channel=x_public").json()
    assert [item["id"] for item in others["results"]] == [story["x"].pk]


def test_the_staffing_plan_forecasts_from_chat_too(
    supervisor_client: Client, story: dict[str, Conversation], clock: time_machine.Traveller
) -> None:
    clock.move_to(MONDAY + timedelta(days=7, hours=-1))  # the next Monday, 08:00
    response = supervisor_client.get("/api/v1/staffing/plan?day=2026-03-09&interval_minutes=60&weeks=1")
    assert response.status_code == 200, response.content
    body = response.json()
    nine = next(row for row in body["intervals"] if row["start"].startswith("2026-03-09T09:00"))
    assert (nine["volume"], nine["volume_source"]) == (3.0, "history")
    assert (body["aht_seconds"], body["aht_source"]) == (2100.0, "history")


def test_the_openapi_schema_lists_chat_wherever_a_channel_is_named(supervisor_client: Client, db: None) -> None:
    schema = supervisor_client.get("/api/schema/?format=json").json()

    def channel_enums(node: Any) -> Iterator[list[str]]:
        if isinstance(node, dict):
            if "enum" in node and X in node["enum"]:
                yield node["enum"]
            for value in node.values():
                yield from channel_enums(value)
        elif isinstance(node, list):
            for value in node:
                yield from channel_enums(value)

    enums = list(channel_enums(schema))
    assert len(enums) >= 3 and all(CHAT in enum for enum in enums)
    assert CHAT in schema["components"]["schemas"]["ChannelEnum"]["enum"]
    assert "chat" in schema["components"]["schemas"]["PlatformEnum"]["enum"]
    for path in ("/api/v1/conversations/", "/api/v1/reports/{name}/"):
        (channel,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "channel"]
        assert CHAT in channel["schema"]["enum"], path
