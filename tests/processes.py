"""Real processes for end-to-end and fault tests: free ports, private Redis and PostgreSQL servers, Django commands.

Fault tests stop and start servers; they must never touch the machine's own PostgreSQL and Redis, which other
work shares. So every server here is private: its own port, its own data folder, and stopped at teardown, even
when the test fails. Every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "fault_driver.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.2) -> float:
    """Wait for ``condition``; return the seconds it took, or fail naming ``what`` after ``timeout``."""
    start = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - start
        except Exception:  # noqa: BLE001, S110 - "not yet" whatever the reason; the deadline decides
            pass
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class Process:
    """A child process in its own process group, logging to a file; ``stop`` ends the whole group."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.command = list(command)
        self.env = env
        self.log = log_dir / f"{name}.log"
        self._log_file: IO[bytes] = self.log.open("ab")
        self.popen = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: teardown (or a fault) reaches every child
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group at once: a crash, with no chance to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._log_file.close()

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # anything left of the group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        self._log_file.close()

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


class Supervised(Process):
    """A process started again whenever it exits, as docker-compose's ``restart: unless-stopped`` does for the
    product's services; ``restarts`` counts how often. ``stop`` and ``kill`` end it for good."""

    RESTART_DELAY = 1.0

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        super().__init__(name, command, env, log_dir)
        self.restarts = 0
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name=f"supervise-{name}", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._ended.is_set():
            self.popen.wait()
            if self._ended.wait(self.RESTART_DELAY):
                return
            with self._lock:
                if self._ended.is_set():
                    return
                self.restarts += 1
                self.popen = self._spawn()

    def _end(self) -> None:
        self._ended.set()
        self._lock.acquire()  # no restart can be half-way now
        self._lock.release()

    def kill(self) -> None:
        self._end()
        super().kill()

    def stop(self, timeout: float = 20) -> None:
        self._end()
        super().stop(timeout)


class PrivateRedis:
    """``redis-server`` on a free port, no persistence: a restart loses everything, like a crashed broker."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Process | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = Process("redis", [*command, "--daemonize", "no"], dict(os.environ), self.log_dir)
        wait_until(self.answers, timeout=10, what="the private Redis to start")

    def answers(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=10)
            self.process = None


def _postgres_bin() -> Path:
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not versions:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return Path(versions[-1]).parent


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as the ``postgres`` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port (fsync off: it holds nothing worth keeping)."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.port = free_port()
        # Not pytest's tmp_path: its parents are private to root, and the server runs as ``postgres``.
        self.dir = Path(tempfile.mkdtemp(prefix="sb-fault-pg-"))
        self.data = self.dir / "data"
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        subprocess.run(
            _as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.server_url = f"postgres://postgres@127.0.0.1:{self.port}"

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._pg_ctl("-o", options, "-l", str(self.dir / "server.log"), "-w", "-t", "30", "start")

    def stop(self) -> None:
        """Stop now (``-m fast``: open connections are cut, as in a crash or a failover)."""
        self._pg_ctl("-m", "fast", "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        run_sql(self.server_url, f'CREATE DATABASE "{name}"')
        return f"{self.server_url}/{name}"

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                self._pg_ctl("-m", "immediate", "-w", "-t", "30", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def run_sql(server_url: str, *statements: str) -> None:
    connection = psycopg2.connect(f"{server_url}/postgres", connect_timeout=5)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def query(database_url: str, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    connection = psycopg2.connect(database_url, connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    finally:
        connection.close()


def manage(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """``manage.py`` with ``env``; its output, or a failure showing it."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def driver(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """``tests/fault_driver.py`` (scenario set-up and checks run in a fresh Django process) with ``env``."""
    result = subprocess.run(
        [sys.executable, str(DRIVER), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode:
        raise AssertionError(f"fault_driver {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Stack:
    """The production topology's servers, private to one test: PostgreSQL (migrated) and Redis, plus the
    product's processes started against them. ``close`` stops every process and server, whatever happened.
    """

    def __init__(self, log_dir: Path, **settings: str) -> None:
        self.log_dir = log_dir
        self.processes: list[Process] = []
        self.postgres: PrivatePostgres | None = None
        self.redis = PrivateRedis(log_dir)
        try:
            self.postgres = PrivatePostgres()
            self.postgres.start()
            self.database_url = self.postgres.create_database("switchboard")
            self.redis.start()
            inherited = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
            self.env = {
                **inherited,
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis.url,
                "SECRET_KEY": "fault-tests-secret-key-0123456789-abcdefghijklmnop",
                "DATA_DIR": str(log_dir),
                "SANDBOX_ENABLED": "false",
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                **settings,
            }
            manage(self.env, "migrate", "--noinput", "-v0")
        except BaseException:
            self.close()
            raise

    def spawn(self, name: str, command: Sequence[str], *, supervised: bool = False) -> Process:
        process = (Supervised if supervised else Process)(name, command, self.env, self.log_dir)
        self.processes.append(process)
        return process

    def worker(self, name: str = "worker", concurrency: int = 2, *, supervised: bool = False) -> Process:
        """A Celery worker; ``supervised``, it is started again when it exits (the production restart policy)."""
        return self.spawn(
            name,
            [sys.executable, str(DRIVER), "worker", "--concurrency", str(concurrency), "--hostname", f"{name}@%h"],
            supervised=supervised,
        )

    def web(self) -> tuple[Process, str]:
        port = free_port()
        process = self.spawn("web", [sys.executable, "manage.py", "serve", "--no-workers", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        return process, url

    def beat(self) -> Process:
        return self.spawn("beat", [sys.executable, "-m", "celery", "-A", "contactcenter", "beat", "--loglevel", "INFO"])

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        return query(self.database_url, sql, params)

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} -----\n{p.tail()}" for p in self.processes)

    def close(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop(timeout=15)
        self.redis.stop()
        if self.postgres is not None:
            self.postgres.destroy()


def log_in(url: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/login/", timeout=5).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = session.post(
        f"{url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{url}/login/"},
        timeout=5,
    )
    assert response.status_code == 200 and "The floor, live" in response.text
    return session


def open_stack(request: Any, log_dir: Path, **settings: str) -> Iterator[Stack]:
    """For a fixture: a ``Stack`` closed at teardown, printing its processes' logs if the test failed."""
    failed_before = request.session.testsfailed
    stack = Stack(log_dir, **settings)
    try:
        yield stack
    finally:
        # The call's report is counted before teardown begins.
        if request.session.testsfailed > failed_before:
            print(stack.logs())  # noqa: T201 - pytest shows it with the failure
        stack.close()
