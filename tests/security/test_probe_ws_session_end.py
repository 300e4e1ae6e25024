"""Open sockets end with the access that opened them: logout, a role given or taken, deactivation, deletion
and a password change close all of that user's sockets (4401 signed out, 4403 role changed: reconnect).

The close travels through the channel layer (in-process on the embedded default, Redis with
REDIS_URL), so it reaches sockets held by any web process.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db import transaction

from core.capture import do_capture_post
from core.roles import SUPERVISOR
from tests.sockets import browser_socket, closed_with, open_socket, session_key, signed_in

SIGNED_OUT, ROLE_CHANGED = 4401, 4403

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def session_of(user: Any) -> str:
    return session_key(await sync_to_async(signed_in)(user))


async def refused_code(session: str) -> int:
    connected, code = await browser_socket(session).connect()
    assert not connected
    return int(code)


async def test_logging_out_closes_every_open_socket_of_the_user(supervisor: Any, make_post: Any) -> None:
    browser = await sync_to_async(signed_in)(supervisor)
    first_tab, _ = await open_socket(session_key(browser))
    second_tab, _ = await open_socket(session_key(browser))
    other_browser, _ = await open_socket(await session_of(supervisor))

    response = await sync_to_async(browser.post)("/logout/")
    assert response.status_code in (200, 302)

    for socket in (first_tab, second_tab, other_browser):
        assert await closed_with(socket) == SIGNED_OUT


async def test_a_logged_out_session_cannot_open_a_socket_again(supervisor: Any) -> None:
    browser = await sync_to_async(signed_in)(supervisor)
    socket, _ = await open_socket(session_key(browser))
    await sync_to_async(browser.post)("/logout/")
    assert await closed_with(socket) == SIGNED_OUT

    assert await refused_code(session_key(browser)) == SIGNED_OUT


async def test_a_supervisor_who_logged_out_hears_no_more_supervisor_events(supervisor: Any, make_post: Any) -> None:
    browser = await sync_to_async(signed_in)(supervisor)
    socket, _ = await open_socket(session_key(browser))
    await sync_to_async(browser.post)("/logout/")
    await sync_to_async(do_capture_post)(make_post())

    output = await socket.receive_output(timeout=3)
    assert output == {"type": "websocket.close", "code": SIGNED_OUT}, "the close, and no event"
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_one_user_logging_out_leaves_other_users_sockets_open(supervisor: Any, agent: Any) -> None:
    browser = await sync_to_async(signed_in)(supervisor)
    supervisor_socket, _ = await open_socket(session_key(browser))
    agent_socket, _ = await open_socket(await session_of(agent))

    await sync_to_async(browser.post)("/logout/")
    assert await closed_with(supervisor_socket) == SIGNED_OUT
    assert await agent_socket.receive_nothing(timeout=0.5)
    await agent_socket.disconnect()


async def test_taking_the_supervisor_role_closes_the_socket_and_the_reconnect_hears_only_their_own_work(
    supervisor: Any, make_post: Any
) -> None:
    session = await session_of(supervisor)
    socket, hello = await open_socket(session)
    assert hello["groups"] == 2, "their own group and supervisors'"

    await sync_to_async(lambda: supervisor.groups.remove(Group.objects.get(name=SUPERVISOR)))()
    assert await closed_with(socket) == ROLE_CHANGED

    again, hello = await open_socket(session)
    assert hello["groups"] == 1, "only their own group now"
    await sync_to_async(do_capture_post)(make_post())
    assert await again.receive_nothing(timeout=0.5), "a new conversation is supervisors' news"
    await again.disconnect()


async def test_giving_a_role_from_the_groups_side_closes_the_users_sockets(agent: Any) -> None:
    session = await session_of(agent)
    socket, hello = await open_socket(session)
    assert hello["groups"] == 1

    await sync_to_async(lambda: Group.objects.get(name=SUPERVISOR).user_set.add(agent))()
    assert await closed_with(socket) == ROLE_CHANGED
    again, hello = await open_socket(session)
    assert hello["groups"] == 2
    await again.disconnect()


async def test_clearing_a_users_roles_closes_their_sockets(supervisor: Any) -> None:
    socket, _ = await open_socket(await session_of(supervisor))
    await sync_to_async(lambda: supervisor.groups.clear())()
    assert await closed_with(socket) == ROLE_CHANGED


async def test_emptying_a_role_closes_the_sockets_of_everyone_who_held_it(supervisor: Any, agent: Any) -> None:
    supervisor_socket, _ = await open_socket(await session_of(supervisor))
    agent_socket, _ = await open_socket(await session_of(agent))

    await sync_to_async(lambda: Group.objects.get(name=SUPERVISOR).user_set.clear())()
    assert await closed_with(supervisor_socket) == ROLE_CHANGED
    assert await agent_socket.receive_nothing(timeout=0.5), "the agent held no supervisor role"
    await agent_socket.disconnect()


async def test_deleting_a_role_closes_the_sockets_of_everyone_who_held_it(supervisor: Any) -> None:
    socket, _ = await open_socket(await session_of(supervisor))
    await sync_to_async(lambda: Group.objects.get(name=SUPERVISOR).delete())()
    assert await closed_with(socket) == ROLE_CHANGED


async def test_making_a_user_superuser_closes_their_sockets(agent: Any) -> None:
    socket, _ = await open_socket(await session_of(agent))

    def promote() -> None:
        agent.is_superuser = True
        agent.save()

    await sync_to_async(promote)()
    assert await closed_with(socket) == ROLE_CHANGED


async def test_deactivating_a_user_closes_their_sockets_and_they_cannot_reconnect(supervisor: Any) -> None:
    session = await session_of(supervisor)
    socket, _ = await open_socket(session)

    def deactivate() -> None:
        supervisor.is_active = False
        supervisor.save()

    await sync_to_async(deactivate)()
    assert await closed_with(socket) == SIGNED_OUT
    assert await refused_code(session) == SIGNED_OUT


async def test_deleting_a_user_closes_their_sockets(supervisor: Any) -> None:
    socket, _ = await open_socket(await session_of(supervisor))
    await sync_to_async(supervisor.delete)()
    assert await closed_with(socket) == SIGNED_OUT


async def test_changing_a_users_password_closes_their_sockets_and_their_old_session_cannot_reconnect(
    supervisor: Any,
) -> None:
    session = await session_of(supervisor)
    socket, _ = await open_socket(session)

    def change_password() -> None:
        supervisor.set_password("a-new-password-789")
        supervisor.save()

    await sync_to_async(change_password)()
    assert await closed_with(socket) == SIGNED_OUT
    assert await refused_code(session) == SIGNED_OUT


async def test_a_role_change_that_rolls_back_leaves_the_sockets_open(supervisor: Any) -> None:
    socket, _ = await open_socket(await session_of(supervisor))

    def remove_role_then_roll_back() -> None:
        with transaction.atomic():
            supervisor.groups.clear()
            transaction.set_rollback(True)

    await sync_to_async(remove_role_then_roll_back)()
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_saving_a_user_without_changing_their_access_leaves_the_sockets_open(supervisor: Any) -> None:
    socket, _ = await open_socket(await session_of(supervisor))

    def rename_and_stamp() -> None:
        supervisor.first_name = "Sofía"
        supervisor.save()
        supervisor.save(update_fields=["last_login"])

    await sync_to_async(rename_and_stamp)()
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_a_socket_whose_session_ended_unannounced_closes_at_its_next_heartbeat(supervisor: Any) -> None:
    socket, _ = await open_socket(await session_of(supervisor))
    # The session row gone without a logout: expired and cleared, or removed by an admin.
    await sync_to_async(lambda: Session.objects.all().delete())()

    await socket.send_json_to({"type": "heartbeat"})
    assert await closed_with(socket) == SIGNED_OUT
