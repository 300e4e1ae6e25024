"""``ENGINE = "contactcenter.postgresql"``: Django's psycopg2 backend, its connections drawn from ``pool``.

``OPTIONS["pool_size"]`` (``DATABASE_POOL_SIZE``) is how many connections a
process may have out at once; 0 turns pooling off (a connection per request,
Django's own behaviour with ``CONN_MAX_AGE = 0``). Django still "closes" the
connection at the end of each request and task; here that returns it.
"""

from __future__ import annotations

import os
from typing import Any

from django.db.backends.postgresql import base, creation

from contactcenter.postgresql import pool

POOL_OPTIONS = ("pool_size", "pool_timeout")


class DatabaseCreation(creation.DatabaseCreation):
    # A database with idle pooled connections cannot be dropped: close them first.
    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        pool.drain_all()
        super()._destroy_test_db(test_database_name, verbosity)  # type: ignore[misc]

    def _execute_create_test_db(self, cursor: Any, parameters: dict[str, Any], keepdb: bool = False) -> None:
        pool.drain_all()
        super()._execute_create_test_db(cursor, parameters, keepdb)  # type: ignore[misc]


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation
    pooled_by: pool.Pool | None = None  # the pool the open connection came from

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()  # OPTIONS are passed on to psycopg2, except ours
        for option in POOL_OPTIONS:
            params.pop(option, None)
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        options = self.settings_dict["OPTIONS"]
        size = int(options.get("pool_size", 0))
        if size <= 0:
            return super().get_new_connection(conn_params)
        connections = pool.pool_for(conn_params, size, float(options.get("pool_timeout", 30)))
        connection = connections.acquire(lambda: super(DatabaseWrapper, self).get_new_connection(conn_params))
        self.pooled_by = connections
        return connection

    def _close(self) -> None:
        owner = self.pooled_by
        if owner is None or self.connection is None:
            super()._close()  # type: ignore[misc]
            return
        self.pooled_by = None
        if owner.pid != os.getpid():
            return  # inherited from the parent process: its session, not ours to end
        with self.wrap_database_errors:
            owner.release(self.connection, reusable=not self.errors_occurred)
