"""A real ``manage.py serve`` (uvicorn, as ``make run`` and the Docker image start it) for end-to-end probes.

Embedded mode in a temporary folder: its own SQLite database (a copy of one migrated once per test process:
migrating costs seconds, copying milliseconds), with the users a test asks for
(made through ``do_create_user``), on a free port. Everything the server writes (stdout and stderr, the
access log among it) goes to one log file the test can read. The server's process group is stopped at
the end, whatever happened.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import requests

from tests.processes import Process, free_port, manage, wait_until

CREATE_AGENTS = (
    "from agents.actions import do_create_user; from core.roles import AGENT\n"
    "for username, password in {users!r}.items():\n"
    "    do_create_user(username, password, role=AGENT, first_name=username.title())"
)


DATABASE = "switchboard.sqlite3"
"""The embedded database's file in DATA_DIR (contactcenter/settings.py)."""


@functools.cache
def migrated_folder() -> Path:
    """A DATA_DIR whose database ``manage.py migrate`` has made, once for this process; removed at its exit."""
    folder = Path(tempfile.mkdtemp(prefix="sb-migrated-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    inherited = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    manage({**inherited, "DATA_DIR": str(folder), "SANDBOX_ENABLED": "false"}, "migrate", "--noinput", "-v0")
    return folder


def copy_migrated_database(folder: Path) -> None:
    for part in migrated_folder().glob(f"{DATABASE}*"):  # with its -wal and -shm files, if SQLite left them
        shutil.copy2(part, folder / part.name)


@dataclasses.dataclass
class Served:
    url: str
    process: Process
    folder: Path
    temp: Path
    """The server's TMPDIR: where Django would spool a large request body."""

    def log(self) -> str:
        return self.process.log.read_text(errors="replace")

    def wait_for_log(self, text: str) -> str:
        """The log once it holds ``text`` (access lines are written as each response starts)."""
        wait_until(lambda: text in self.log(), timeout=10, what=f"{text!r} in the server's log")
        return self.log()


@contextlib.contextmanager
def served(
    folder: Path,
    *,
    users: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> Iterator[Served]:
    """``command`` (``{port}`` in it replaced): another way to start the server than ``manage.py serve``."""
    temp = folder / "tmp"
    temp.mkdir()
    inherited = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env = {
        **inherited,
        "DATA_DIR": str(folder),
        "TMPDIR": str(temp),
        "SANDBOX_ENABLED": "false",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **(settings or {}),
    }
    copy_migrated_database(folder)
    if users:
        manage(env, "shell", "-c", CREATE_AGENTS.format(users=users))  # one process for them all: each costs a second
    port = free_port()
    command = command or [sys.executable, "manage.py", "serve", "--no-workers", "--port", "{port}"]
    process = Process("serve", [part.replace("{port}", str(port)) for part in command], env, folder)
    server = Served(f"http://127.0.0.1:{port}", process, folder, temp)
    try:
        wait_until(
            lambda: requests.get(f"{server.url}/healthz", timeout=1).status_code == 200,
            timeout=30,
            what="the server to answer /healthz",
        )
        yield server
    finally:
        process.stop()
        print(server.log()[-4000:])  # noqa: T201 - pytest shows it when the test fails


def login_form(session: requests.Session, url: str, headers: dict[str, str] | None = None) -> str:
    """The login page's CSRF token (the cookie lands in ``session``)."""
    page = session.get(f"{url}/login/", headers=headers, timeout=5).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None, page[:500]
    return token.group(1)


def post_login(url: str, username: str, password: str, headers: dict[str, str] | None = None) -> requests.Response:
    """One login attempt from a fresh browser session, with ``headers`` on both requests."""
    session = requests.Session()
    token = login_form(session, url, headers)
    return session.post(
        f"{url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/login/", **(headers or {})},
        allow_redirects=False,
        timeout=5,
    )
