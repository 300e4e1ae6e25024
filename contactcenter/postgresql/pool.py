"""A per-process pool of psycopg2 connections, so a request does not pay for a new PostgreSQL backend.

Why: under ASGI Django runs each request's sync code in a thread of its own
(``ThreadSensitiveContext``), so its persistent connections (``CONN_MAX_AGE``)
are never reused, and every request connected afresh: PostgreSQL forks a
backend, authenticates and warms its catalog caches, several milliseconds of
CPU each time (``bench load`` measured it as the largest cost of a request).
Django's own pool (5.1) needs psycopg 3; this stack fixes psycopg2, whose
``psycopg2.pool`` raises instead of waiting when it is empty and closes every
connection above ``minconn`` when one is returned, so neither fits.

The rules:

- at most ``size`` connections per process are out at once; a thread asking
  for one more waits up to ``timeout`` seconds, then gets an OperationalError
  (so the pool also bounds the process's share of ``max_connections``);
- an idle connection is pinged (``SELECT 1``) before it is handed out, and a
  dead one (PostgreSQL restarted, the network dropped) is discarded: a
  restart costs no failed request;
- a connection goes back only if it is open and outside a transaction (one
  left inside is rolled back); anything else is closed;
- after ``fork`` a child starts with empty pools and never touches the
  parent's connections (closing them would end the parent's sessions).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

import psycopg2
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from psycopg2.extensions import connection as Connection


class Pool:
    def __init__(self, size: int, timeout: float) -> None:
        self.size, self.timeout = size, timeout
        self.pid = os.getpid()
        self._idle: list[Connection] = []  # last in, first out: the warmest connection is reused first
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)

    def acquire(self, connect: Callable[[], Connection]) -> Connection:
        """An idle connection that answers, or a new one from ``connect``; waits while ``size`` are out."""
        if not self._slots.acquire(timeout=self.timeout):
            raise psycopg2.OperationalError(
                f"no database connection free: all {self.size} of this process's are in use "
                f"(waited {self.timeout:g} s; DATABASE_POOL_SIZE sets how many)"
            )
        try:
            while True:
                with self._lock:
                    idle = self._idle.pop() if self._idle else None
                if idle is None:
                    return connect()
                if _answers(idle):
                    return idle
                _close_quietly(idle)
        except BaseException:
            self._slots.release()
            raise

    def release(self, connection: Connection, reusable: bool) -> None:
        """Take ``connection`` back: kept if ``reusable`` and clean, closed otherwise."""
        try:
            if reusable and _clean(connection):
                with self._lock:
                    self._idle.append(connection)
                return
            _close_quietly(connection)
        finally:
            self._slots.release()

    def drain(self) -> None:
        """Close the idle connections (the ones out are closed when they come back, if not reusable)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            _close_quietly(connection)

    @property
    def idle(self) -> int:
        return len(self._idle)


def _answers(connection: Connection) -> bool:
    if connection.closed:
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not connection.autocommit:
            connection.rollback()
    except psycopg2.Error:
        return False
    return True


def _clean(connection: Connection) -> bool:
    if connection.closed:
        return False
    if connection.info.transaction_status == TRANSACTION_STATUS_IDLE:
        return True
    try:
        connection.rollback()
    except psycopg2.Error:
        return False
    return connection.info.transaction_status == TRANSACTION_STATUS_IDLE


def _close_quietly(connection: Connection) -> None:
    with contextlib.suppress(psycopg2.Error):
        connection.close()


# --- One pool per process and set of connection parameters ------------------------

_pools: dict[tuple[tuple[str, str], ...], Pool] = {}
_pools_lock = threading.Lock()
# Connections a child inherited from its parent's pools: kept referenced, never closed
# (psycopg2 closes a connection it frees, and that would end the parent's session).
_inherited: list[Any] = []


def pool_for(conn_params: dict[str, Any], size: int, timeout: float) -> Pool:
    key = tuple(sorted((str(k), str(v)) for k, v in conn_params.items()))
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = Pool(size, timeout)
        return pool


def drain_all() -> None:
    """Close every idle connection of this process (before a database is dropped, say)."""
    with _pools_lock:
        pools = list(_pools.values())
    for pool in pools:
        pool.drain()


def _forget_parent_pools() -> None:
    global _pools_lock
    _inherited.append(list(_pools.values()))
    _pools.clear()
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_parent_pools)
