"""A private Dovecot IMAP server on a free loopback port, for the email tests and ``bench email``.

Debian's ``dovecot-imapd`` (installed by ``.ci/run``) is started from a config in a temporary folder: plain IMAP
without TLS on 127.0.0.1, users in a static passwd-file there, Maildir mail there, logs to a file there. It never
touches the machine's own Dovecot, if one runs. Started as root (as CI runs), the server runs as the ``dovecot``
user, so that it is the rootless setup Dovecot documents (``default_internal_user`` and ``default_login_user``
are the user it runs as, no chroot) either way, and mail folders belong to that user.

The tests (``tests/mail.py``) use this module; ``bench`` must not import the tests, so it lives here.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

DOVECOT = Path("/usr/sbin/dovecot")
DOVEADM = Path("/usr/bin/doveadm")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class MailUser:
    """A user of the server: log in with ``name`` and ``password``; its INBOX starts empty."""

    name: str
    password: str


class MailServer:
    """One Dovecot process tree; ``start`` waits until it greets, ``stop`` ends it and removes its folder."""

    def __init__(self) -> None:
        if not DOVECOT.exists():
            raise RuntimeError(f"{DOVECOT} is missing: apt-get install dovecot-imapd (.ci/run does).")
        self.host = "127.0.0.1"
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="sb-dovecot-"))
        self.config = self.folder / "dovecot.conf"
        self.log = self.folder / "dovecot.log"
        self.users = self.folder / "users"
        self._owner = _server_user()
        self._process: subprocess.Popen[bytes] | None = None
        self._user_count = 0

    # --- Life cycle ------------------------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> MailServer:
        for sub in ("run", "state", "mail"):
            (self.folder / sub).mkdir()
        self.users.mkdir()
        self.log.write_text("")
        self.config.write_text(self._config())
        for path in (self.folder, *self.folder.iterdir()):
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        self.folder.chmod(0o755)
        self._process = subprocess.Popen(  # noqa: S603 - Debian's dovecot binary and our own config file
            [str(DOVECOT), "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            user=self._owner.pw_uid if os.geteuid() == 0 else None,
            group=self._owner.pw_gid if os.geteuid() == 0 else None,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self._greets():
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
                self.stop()
                raise RuntimeError(f"Dovecot did not start on port {self.port}:\n{log}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                return s.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def _config(self) -> str:
        owner, folder = self._owner, self.folder
        group = _group_name(owner.pw_gid)
        return f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {folder}/run
state_dir = {folder}/state
instance_name = sb-dovecot-{self.port}
log_path = {self.log}
info_log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong password is answered at once: the tests try one on purpose.
auth_failure_delay = 0
default_internal_user = {owner.pw_name}
default_internal_group = {group}
default_login_user = {owner.pw_name}
first_valid_uid = {owner.pw_uid}
first_valid_gid = {owner.pw_gid}
mail_location = maildir:{folder}/mail/%u
mail_fsync = never
mail_max_userip_connections = 200
passdb {{
  driver = passwd-file
  # One file per user: a new file is read at once, where Dovecot re-reads a changed one only once a second.
  args = scheme=PLAIN username_format=%u {self.users}/%u
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={folder}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    # --- Users and mail --------------------------------------------------------------------------------------

    def add_user(self, password: str = "") -> MailUser:
        """A new user with an empty INBOX (each test its own, so none sees another's mail)."""
        self._user_count += 1
        user = MailUser(f"user{self._user_count}@mail.test", password or f"pw-{self._user_count}-{os.getpid()}")
        path = self.users / user.name
        path.write_text(f"{user.name}:{{PLAIN}}{user.password}\n")
        os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        return user

    @contextlib.contextmanager
    def imap(self, user: MailUser) -> Iterator[imaplib.IMAP4]:
        connection = imaplib.IMAP4(self.host, self.port, timeout=30)
        try:
            connection.login(user.name, user.password)
            yield connection
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                connection.logout()

    def append(self, user: MailUser, raw: bytes, folder: str = "INBOX") -> int:
        """APPEND ``raw`` to ``folder`` (created if missing); its UID."""
        return self.append_many(user, [raw], folder)[0]

    def append_many(self, user: MailUser, messages: Iterable[bytes], folder: str = "INBOX") -> list[int]:
        """APPEND each message in turn over one connection; their UIDs, in order."""
        uids = []
        with self.imap(user) as connection:
            connection.create(_quoted(folder))  # "already exists" is fine
            for raw in messages:
                status, data = connection.append(_quoted(folder), "", None, raw)
                if status != "OK":
                    raise RuntimeError(f"APPEND to {folder} refused: {data!r}")
                uids.append(_appended_uid(data))
        return uids

    def uidvalidity(self, user: MailUser, folder: str = "INBOX") -> int:
        with self.imap(user) as connection:
            status, data = connection.status(_quoted(folder), "(UIDVALIDITY)")
            if status != "OK":
                raise RuntimeError(f"STATUS {folder} refused: {data!r}")
            match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
            assert match is not None, data
            return int(match.group(1))

    def renumber(self, user: MailUser, folder: str = "INBOX") -> int:
        """Give ``folder`` a new UIDVALIDITY and number its messages from 1 again; the new UIDVALIDITY.

        What a server does when its index is lost or the mailbox is restored or migrated: the messages stay, the
        UIDs a client remembered mean nothing any more. Done by removing Dovecot's UID list and index of that
        Maildir folder (no connection is open meanwhile), so Dovecot rebuilds them from the message files.
        """
        before = self.uidvalidity(user, folder)
        root = self.folder / "mail" / user.name
        maildir = root if folder.upper() == "INBOX" else root / f".{folder}"
        for name in os.listdir(maildir):
            if name == "dovecot-uidlist" or name.startswith("dovecot.index"):
                (maildir / name).unlink()
        # The mailbox list index caches every folder's UIDVALIDITY too.
        for name in os.listdir(root):
            if name.startswith("dovecot.list.index"):
                (root / name).unlink()
        after = self.uidvalidity(user, folder)
        if after == before:
            raise RuntimeError(f"UIDVALIDITY of {folder} stayed {before}")
        return after


def _server_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("dovecot", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, but neither a dovecot nor a nobody user exists to run Dovecot as")


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _appended_uid(data: Sequence[bytes | None]) -> int:
    """The UID from ``[APPENDUID <validity> <uid>]`` (UIDPLUS, which Dovecot has)."""
    match = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
    if match is None:
        raise RuntimeError(f"no APPENDUID in {data!r}")
    return int(match.group(1))
