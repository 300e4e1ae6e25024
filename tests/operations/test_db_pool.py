"""The PostgreSQL connection pool (contactcenter/postgresql): reuse, recovery, bounds, fork safety.

Real connections to the test database throughout; nothing is mocked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from django.db import DatabaseError, OperationalError, connection, connections

from contactcenter.postgresql.pool import Pool

pytestmark = pytest.mark.postgres


@pytest.fixture
def connect(transactional_db: None) -> Iterator[Any]:
    """Opens raw psycopg2 connections to the test database; closes what is left afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's (SQLite has no connection to pay for)")
    params = connection.get_connection_params()
    made: list[Any] = []

    def make() -> Any:
        made.append(psycopg2.connect(**params))
        return made[-1]

    yield make
    for raw in made:
        raw.close()


def backend_pid(raw: Any) -> int:
    with raw.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def used_and_returned(pool: Pool, connect: Any) -> tuple[Any, int]:
    """A connection taken from ``pool``, used, and given back idle; with its server process id."""
    raw = pool.acquire(connect)
    pid = backend_pid(raw)
    raw.rollback()
    pool.release(raw, reusable=True)
    return raw, pid


def terminate(pid: int, connect: Any) -> None:
    killer = connect()
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_returned_connection_is_handed_out_again(connect: Any) -> None:
    pool = Pool(size=2, timeout=1)
    first, pid = used_and_returned(pool, connect)

    again = pool.acquire(connect)

    assert again is first and backend_pid(again) == pid


def test_a_connection_whose_server_went_away_is_replaced_not_handed_out(connect: Any) -> None:
    pool = Pool(size=2, timeout=1)
    first, pid = used_and_returned(pool, connect)
    terminate(pid, connect)  # as a PostgreSQL restart does to every idle connection

    replacement = pool.acquire(connect)

    assert replacement is not first and backend_pid(replacement) != pid


def test_a_connection_left_in_a_transaction_comes_back_rolled_back(connect: Any) -> None:
    pool = Pool(size=1, timeout=1)
    raw = pool.acquire(connect)
    with raw.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE scratch (n int)")  # opens a transaction (autocommit is off)
    pool.release(raw, reusable=True)

    again = pool.acquire(connect)

    assert again.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    with again.cursor() as cursor, pytest.raises(psycopg2.errors.UndefinedTable):
        cursor.execute("SELECT * FROM scratch")  # the CREATE was rolled back


def test_a_connection_released_as_not_reusable_is_closed(connect: Any) -> None:
    pool = Pool(size=1, timeout=1)
    raw = pool.acquire(connect)

    pool.release(raw, reusable=False)

    assert raw.closed and pool.idle == 0


def test_a_thread_waits_for_a_free_connection_and_gives_up_with_a_clear_error(connect: Any) -> None:
    pool = Pool(size=1, timeout=0.2)
    held = pool.acquire(connect)

    with pytest.raises(psycopg2.OperationalError, match="all 1 of this process's are in use"):
        pool.acquire(connect)

    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(connect)))
    pool.timeout = 5
    waiter.start()
    held.rollback()
    pool.release(held, reusable=True)
    waiter.join(timeout=5)
    assert got == [held]  # the waiting thread got the one that came back


def test_a_failed_connect_gives_its_slot_back(connect: Any) -> None:
    pool = Pool(size=1, timeout=0.2)

    def refused() -> Any:
        raise psycopg2.OperationalError("connection refused")

    with pytest.raises(psycopg2.OperationalError, match="refused"):
        pool.acquire(refused)

    assert pool.acquire(connect) is not None  # the slot was not lost


def test_drain_closes_the_idle_connections(connect: Any) -> None:
    pool = Pool(size=2, timeout=1)
    raw, _ = used_and_returned(pool, connect)

    pool.drain()

    assert raw.closed and pool.idle == 0


@pytest.mark.django_db(transaction=True)
def test_django_reuses_one_backend_across_requests_and_drops_it_after_an_error() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")

    def pid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return int(cursor.fetchone()[0])

    first = pid()
    connection.close()  # what Django does at the end of every request and task
    assert pid() == first

    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    connection.close()  # after an error the connection is not trusted again
    assert pid() != first


@pytest.mark.django_db(transaction=True)
def test_a_forked_child_opens_its_own_connections_and_leaves_the_parents_alone() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        parent_pid = int(cursor.fetchone()[0])
    connection.close()  # idle in the parent's pool now, and inherited by the child below

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            connections["default"].close()  # as Celery does in a new worker process: not the parent's to end
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                os.write(write, str(cursor.fetchone()[0]).encode())
            connections["default"].close()
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(child, 0)
    child_pid = int(os.read(read, 64) or 0)
    os.close(read)

    assert os.waitstatus_to_exitcode(status) == 0
    assert child_pid not in (0, parent_pid)
    with connection.cursor() as cursor:  # the parent's pooled connection still works
        cursor.execute("SELECT pg_backend_pid()")
        assert int(cursor.fetchone()[0]) == parent_pid


@pytest.mark.django_db(transaction=True)
def test_pool_size_zero_turns_pooling_off() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    connection.close()
    options = connection.settings_dict["OPTIONS"]
    saved = options.get("pool_size")
    options["pool_size"] = 0
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            first = int(cursor.fetchone()[0])
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert int(cursor.fetchone()[0]) != first  # a new backend each time, as Django does by default
        connection.close()
    finally:
        options["pool_size"] = saved


@pytest.mark.django_db(transaction=True)
def test_a_request_finding_every_connection_in_use_fails_with_a_clear_error() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    options = connection.settings_dict["OPTIONS"]
    saved = options["pool_size"], options["pool_timeout"]
    connections.close_all()
    options["pool_size"], options["pool_timeout"] = 1, 0.2
    errors: list[BaseException] = []

    def second_thread() -> None:
        try:
            connections["default"].ensure_connection()  # another thread: a connection of its own
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            errors.append(error)
        finally:
            connections["default"].close()

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("contactcenter.postgresql.pool._pools", {})  # a fresh pool, of one
            connection.ensure_connection()  # this thread holds the only connection
            worker = threading.Thread(target=second_thread)
            worker.start()
            worker.join(timeout=10)
            connection.close()
    finally:
        options["pool_size"], options["pool_timeout"] = saved

    assert len(errors) == 1 and isinstance(errors[0], OperationalError)
    assert "no database connection free" in str(errors[0]) and "DATABASE_POOL_SIZE" in str(errors[0])
