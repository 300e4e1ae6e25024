"""Frames a browser never sends: malformed or oversized ones close the socket with a code and one log line
(no traceback); well-formed JSON that is no known message is ignored.

The browser's only message is ``{"type": "heartbeat"}``. The codes (docs/operations.md): 4400 a
malformed frame (binary, not JSON), 1009 a message over the size limit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from core.models import ConversationState as S
from routing.models import Queue
from tests.sockets import closed_with, open_socket, session_key, signed_in
from tests.states import conversation_in_state


async def agent_socket(agent: Any) -> WebsocketCommunicator:
    session = session_key(await sync_to_async(signed_in)(agent))
    socket, _ = await open_socket(session)
    return socket


def warnings_logged(caplog: Any) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "frame",
    [
        pytest.param({"text_data": "this is not JSON"}, id="text-not-json"),
        pytest.param({"text_data": '{"type": "heartbeat"'}, id="truncated-json"),
        pytest.param({"bytes_data": b'{"type": "heartbeat"}'}, id="binary"),
        pytest.param({"text_data": "[" * 2000}, id="nested-2000-deep"),
    ],
)
async def test_a_malformed_frame_closes_the_socket_with_4400_and_one_log_line(
    frame: dict[str, Any], agent: Any, caplog: Any
) -> None:
    socket = await agent_socket(agent)
    caplog.clear()
    await socket.send_to(**frame)
    await socket.send_to(**frame)  # already in flight when the server closes: not logged again

    assert await closed_with(socket) == 4400
    logged = warnings_logged(caplog)
    assert len(logged) == 1, [record.getMessage() for record in logged]
    assert logged[0].exc_info is None and "Traceback" not in caplog.text


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "frame",
    [
        pytest.param({"text_data": "[" * 100_000}, id="100000-brackets"),
        pytest.param({"text_data": '{"type": "heartbeat", "pad": "' + "x" * 5000 + '"}'}, id="long-json"),
        pytest.param({"bytes_data": b"\x00" * 100_000}, id="long-binary"),
    ],
)
async def test_a_message_over_4096_bytes_closes_the_socket_with_1009_and_one_log_line(
    frame: dict[str, Any], agent: Any, caplog: Any
) -> None:
    socket = await agent_socket(agent)
    caplog.clear()
    await socket.send_to(**frame)

    assert await closed_with(socket) == 1009
    logged = warnings_logged(caplog)
    assert len(logged) == 1 and logged[0].exc_info is None
    assert "xxxx" not in logged[0].getMessage(), "nothing of the frame's content is logged"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_json_that_is_no_known_message_is_ignored_and_the_socket_stays_open(
    agent: Any, queue: Queue, make_post: Any, caplog: Any
) -> None:
    socket = await agent_socket(agent)
    caplog.clear()
    for value in ("42", '"heartbeat"', "[]", "null", '{"type": "subscribe", "group": "supervisors"}', '{"no": 1}'):
        await socket.send_to(text_data=value)
    assert await socket.receive_nothing(timeout=0.3)
    assert warnings_logged(caplog) == []

    # Still open, still hearing its own events.
    conversation = await sync_to_async(conversation_in_state)(S.ASSIGNED, make_post(), queue=queue, agent=agent)
    assert (await socket.receive_json_from(timeout=2))["ids"] == [conversation.pk]
    await socket.disconnect()


@pytest.mark.parametrize("path", ["Dockerfile", "docker-compose.yml", "docs/operations.md"])
def test_every_production_web_command_goes_through_serve_which_bounds_messages(path: str) -> None:
    """The server refuses an oversized message before buffering it whole: ``manage.py serve`` passes the bound.

    A bare ``uvicorn contactcenter.asgi:application`` would leave uvicorn's 16 MiB default (and its
    proxy-header and logging defaults), so no production command may start the web server that way.
    """
    text = (Path(__file__).resolve().parents[2] / path).read_text()
    assert "manage.py serve" in text, f"no web server command in {path}"
    assert "uvicorn contactcenter.asgi:application" not in text
    assert '"uvicorn", "contactcenter.asgi:application"' not in text
    serve = (Path(__file__).resolve().parents[2] / "contactcenter/management/commands/serve.py").read_text()
    # The bound covers the visitors' chat socket too (docs/chat.md): four times its frame limit, 64 KiB by default.
    assert "ws_max_size=max(MAX_MESSAGE_BYTES, 4 * settings.CHAT_MAX_FRAME_BYTES)" in serve
