"""Reading a mailbox over IMAP (the standard library's ``imaplib``): the poll, the Sent-folder check, the admin's test.

The cursor is ``{"uidvalidity": V, "uid": U}``: every message of the folder up to UID ``U`` was handled while
the folder's UIDVALIDITY was ``V``. UIDs only mean something under their UIDVALIDITY (RFC 3501 2.3.1.1): when the
server reports another one (a restored or migrated mailbox, a lost index), the folder is read again from the
start, and what was stored before is recognised by its external id (Message-ID, else a content hash), so nothing
is taken twice and nothing renumbered is missed.

A poll reads at most ``POLL_MESSAGES`` messages and about ``POLL_BYTES`` of mail, in UID order, and returns the
cursor of the last one it read; ``Page.more`` asks for the next poll at once. Messages are read with
``BODY.PEEK[]`` on a read-only SELECT: the mailbox is never changed (no \\Seen flag, nothing deleted), so whatever
Switchboard skips is still there for a person to read.

Skipped, never silently (each becomes a ``Page.notices`` line: logged, shown in the account's last error and
mailed to the admins, with the UID, sender and subject):

- a message larger than ``EMAIL_MAX_MESSAGE_BYTES`` (known from ``RFC822.SIZE`` before it is downloaded);
- a message the parser refuses (``MalformedEmail``): it will never parse, so its UID is passed like any other,
  or the mailbox would be stuck on it for good.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import logging
import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

from monitoring.platforms.base import AccountRef, Page, PlatformError
from monitoring.platforms.email.inbound import prepare_posts
from monitoring.platforms.email.parsing import MalformedEmail, ParsedEmail, max_message_bytes, parse_email

logger = logging.getLogger(__name__)

POLL_MESSAGES = 500
"""At most this many messages a poll; the next poll (due at once) goes on from the cursor."""
POLL_BYTES = 64 * 1024 * 1024
"""About this much mail a poll (at least one message): a poll's messages are held in memory until stored."""
FETCH_BATCH = 200
"""Messages per FETCH command."""
FETCH_BATCH_BYTES = 16 * 1024 * 1024

TEMPORARY_LOGIN_CODES = ("UNAVAILABLE", "INUSE", "LIMIT", "SERVERBUG")
"""RFC 5530 response codes of a login that may work later; any other refusal is the credentials'."""


@dataclass(frozen=True)
class _Listed:
    uid: int
    size: int


# --- Connecting ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def logged_in(account: AccountRef, *, timeout: float) -> Iterator[imaplib.IMAP4]:
    """An IMAP connection to the account's server, logged in as its IMAP user; logged out afterwards.

    Raises ``PlatformError``: permanent for what only an admin can fix (refused credentials, no password, TLS
    the server does not offer or a certificate that does not verify), temporary for the network and the server.
    """
    settings = account.settings
    password = account.credentials.get("imap_password", "")
    if not password:
        raise PlatformError("The mailbox has no IMAP password.", permanent=True, code="no_credentials")
    connection = _connect(
        str(settings["imap_host"]), int(settings["imap_port"]), str(settings["imap_security"]), timeout
    )
    try:
        _login(connection, str(settings["imap_user"]), password)
        yield connection
    except (imaplib.IMAP4.abort, OSError) as error:
        raise _temporary(f"The IMAP connection to {settings['imap_host']} broke: {_reason(error)}") from None
    except imaplib.IMAP4.error as error:  # an answer imaplib cannot take (the server's bug, or ours)
        raise _temporary(
            f"The IMAP server {settings['imap_host']} answered unexpectedly: {_reason(error)}", code="protocol"
        ) from None
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError, AttributeError):
            connection.logout()


def _connect(host: str, port: int, security: str, timeout: float) -> imaplib.IMAP4:
    where = f"{host}:{port}"
    context = ssl.create_default_context()
    try:
        if security == "ssl":
            return imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout)
        connection = imaplib.IMAP4(host, port, timeout=timeout)
        if security == "starttls":
            try:
                connection.starttls(ssl_context=context)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as error:
                raise PlatformError(
                    f"The IMAP server {where} offers no STARTTLS ({_reason(error)}): choose another security setting.",
                    permanent=True,
                    code="tls",
                ) from None
        return connection
    except ssl.SSLCertVerificationError as error:
        raise PlatformError(
            f"The IMAP server {where}'s certificate does not verify: {error.verify_message}.",
            permanent=True,
            code="tls",
        ) from None
    except (imaplib.IMAP4.error, OSError) as error:
        # Refused, timed out, no route, reset, a TLS handshake cut short, a greeting that is no IMAP greeting.
        raise _temporary(f"Cannot reach the IMAP server {where}: {_reason(error)}") from None


def _login(connection: imaplib.IMAP4, user: str, password: str) -> None:
    try:
        connection.login(user, password)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as error:
        reason = _reason(error)
        if any(f"[{code}" in reason.upper() for code in TEMPORARY_LOGIN_CODES):
            raise _temporary(f"The IMAP server cannot log {user} in for now: {reason}") from None
        raise PlatformError(
            f"The IMAP server refused the login of {user}: {reason}", permanent=True, code="unauthorized"
        ) from None


def select_folder(connection: imaplib.IMAP4, folder: str) -> int:
    """SELECT ``folder`` read-only; its UIDVALIDITY. A folder that does not exist is a permanent error."""
    status, data = connection.select(imap_folder_name(folder), readonly=True)
    if status != "OK":
        reason = _text(data)
        if "NONEXISTENT" in reason.upper() or "doesn't exist" in reason or "not exist" in reason.lower():
            raise PlatformError(
                f"The IMAP folder {folder!r} does not exist: {reason}", permanent=True, code="folder_missing"
            )
        raise _temporary(f"The IMAP server cannot open the folder {folder!r}: {reason}")
    _, validity = connection.response("UIDVALIDITY")
    if not validity or validity[0] is None:
        status, data = connection.status(imap_folder_name(folder), "(UIDVALIDITY)")
        match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"") if status == "OK" and data else None
        if match is None:
            raise _temporary(f"The IMAP server gave no UIDVALIDITY for {folder!r}.", code="protocol")
        return int(match.group(1))
    return int(validity[-1])


# --- The poll --------------------------------------------------------------------------------------------------


def poll_mailbox(account: AccountRef, cursor: dict[str, Any], *, timeout: float) -> Page:
    """The posts of the messages after ``cursor`` (at most one poll's worth), with the cursor that covers them."""
    folder = str(account.settings["imap_folder"])
    with logged_in(account, timeout=timeout) as connection:
        validity = select_folder(connection, folder)
        after = _int(cursor.get("uid")) if _int(cursor.get("uidvalidity")) == validity else 0
        if after == 0 and cursor.get("uid"):
            logger.warning(
                "%s: UIDVALIDITY of %s changed from %s to %s: reading the folder again from the start",
                account.handle or account.id,
                folder,
                cursor.get("uidvalidity"),
                validity,
            )
        uids = _search_after(connection, after)
        if not uids:
            return Page(cursor={"uidvalidity": validity, "uid": after})
        chunk = uids[:POLL_MESSAGES]
        taken = _within_poll_bytes(_sizes(connection, chunk))
        if not taken:  # all expunged since the SEARCH
            return Page(cursor={"uidvalidity": validity, "uid": chunk[-1]}, more=len(chunk) < len(uids))
        limit = max_message_bytes()
        wanted = [item for item in taken if item.size <= limit]
        notices = [_oversized_notice(connection, folder, item, limit) for item in taken if item.size > limit]
        parsed: list[ParsedEmail] = []
        for uid, raw in _bodies(connection, wanted):
            try:
                parsed.append(parse_email(raw))
            except MalformedEmail as error:
                notices.append(_notice(folder, uid, raw, f"it cannot be parsed ({error})"))
    for notice in notices:
        logger.warning("%s: %s", account.handle or account.id, notice)
    return Page(
        posts=prepare_posts(parsed, account_id=account.id),
        cursor={"uidvalidity": validity, "uid": taken[-1].uid},
        more=len(taken) < len(uids),
        notices=notices,
    )


def _search_after(connection: imaplib.IMAP4, after: int) -> list[int]:
    """UIDs above ``after``, ascending.

    ``UID SEARCH UID n:*`` also answers the highest UID when it is below ``n`` (``*`` is the highest, and a
    range has no order: RFC 3501 6.4.8), so the answer is filtered.
    """
    status, data = connection.uid("SEARCH", "UID", f"{after + 1}:*")
    if status != "OK":
        raise _temporary(f"UID SEARCH failed: {_text(data)}", code="protocol")
    uids = {int(word) for line in data if line for word in line.split()}
    return sorted(uid for uid in uids if uid > after)


def _sizes(connection: imaplib.IMAP4, uids: Sequence[int]) -> list[_Listed]:
    sizes: dict[int, int] = {}
    for start in range(0, len(uids), FETCH_BATCH * 5):
        chunk = uids[start : start + FETCH_BATCH * 5]
        status, data = connection.uid("FETCH", uid_set(chunk), "(UID RFC822.SIZE)")
        if status != "OK":
            raise _temporary(f"UID FETCH RFC822.SIZE failed: {_text(data)}", code="protocol")
        for line in data:
            head = line[0] if isinstance(line, tuple) else line
            uid, size = _item(head, b"UID"), _item(head, b"RFC822.SIZE")
            if uid is not None and size is not None:
                sizes[uid] = size
    # A message expunged since the SEARCH has no size any more: it is gone, there is nothing to read.
    return [_Listed(uid, sizes[uid]) for uid in uids if uid in sizes]


def _within_poll_bytes(listed: list[_Listed]) -> list[_Listed]:
    """The first messages that fit in ``POLL_BYTES`` (at least one); skipped big ones take no room."""
    limit, total = max_message_bytes(), 0
    taken: list[_Listed] = []
    for item in listed:
        size = item.size if item.size <= limit else 0
        if taken and total + size > POLL_BYTES:
            break
        total += size
        taken.append(item)
    return taken


def _bodies(connection: imaplib.IMAP4, wanted: Sequence[_Listed]) -> Iterator[tuple[int, bytes]]:
    """``(uid, raw message)`` of each wanted message, fetched in batches bounded by count and bytes."""
    batch: list[int] = []
    batch_bytes = 0
    for item in wanted:
        if batch and (len(batch) >= FETCH_BATCH or batch_bytes + item.size > FETCH_BATCH_BYTES):
            yield from _fetch_bodies(connection, batch)
            batch, batch_bytes = [], 0
        batch.append(item.uid)
        batch_bytes += item.size
    if batch:
        yield from _fetch_bodies(connection, batch)


def _fetch_bodies(connection: imaplib.IMAP4, uids: list[int]) -> Iterator[tuple[int, bytes]]:
    status, data = connection.uid("FETCH", uid_set(uids), "(UID RFC822.SIZE BODY.PEEK[])")
    if status != "OK":
        raise _temporary(f"UID FETCH failed: {_text(data)}", code="protocol")
    bodies: dict[int, bytes] = {}
    for index, line in enumerate(data):
        if not isinstance(line, tuple):
            continue  # the ")" closing a response, or an unsolicited FETCH of flags
        # The UID may come before the literal (Dovecot) or after it, in the rest of the response.
        tail = data[index + 1] if index + 1 < len(data) and isinstance(data[index + 1], bytes) else b""
        assert isinstance(tail, bytes)
        uid = _item(line[0] + b" " + tail, b"UID")
        if uid is not None and b"BODY[]" in line[0].upper():
            bodies[uid] = line[1]
    for uid in uids:
        if uid in bodies:
            yield uid, bodies[uid]
        # else: expunged since it was listed; nothing to read


def _oversized_notice(connection: imaplib.IMAP4, folder: str, item: _Listed, limit: int) -> str:
    status, data = connection.uid("FETCH", str(item.uid), "(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID)])")
    headers = next((line[1] for line in data if isinstance(line, tuple)), b"") if status == "OK" else b""
    return _notice(folder, item.uid, headers, f"it is {item.size:,} bytes, over the {limit:,}-byte limit")


def _notice(folder: str, uid: int, raw: bytes, why: str) -> str:
    """One line naming a skipped message so a person can find it in the mailbox (it is left there)."""
    try:
        header = BytesHeaderParser(policy=default_policy).parsebytes(raw[:65536], headersonly=True)
        sender, subject = str(header.get("From", "")), str(header.get("Subject", ""))
    except Exception:  # noqa: BLE001 - a header too broken to name is named by its UID alone
        sender, subject = "", ""
    named = f" from {sender[:200]!r}" if sender else ""
    named += f" ({subject[:200]!r})" if subject else ""
    return f"Skipped message UID {uid} in {folder!r}{named}: {why}. It is left in the mailbox; nothing was stored."


# --- Looking for a message we sent ----------------------------------------------------------------------------


def find_message_id(account: AccountRef, folder: str, message_id: str, since: datetime, *, timeout: float) -> bool:
    """Whether ``folder`` holds a message with this Message-ID (``<…>`` optional), filed at or after ``since``."""
    bare = message_id.strip().strip("<>")
    if not bare or any(ch in bare for ch in '"\\\r\n'):
        raise PlatformError(f"Not a Message-ID to look for: {message_id!r}", permanent=True, code="bad_request")
    with logged_in(account, timeout=timeout) as connection:
        select_folder(connection, folder)
        # SINCE compares dates only, and the server's notion of a day: one day of margin.
        day = (since - timedelta(days=1)).strftime("%d-%b-%Y")
        status, data = connection.uid("SEARCH", "SINCE", day, "HEADER", "Message-ID", f'"<{bare}>"')
        if status != "OK":
            raise _temporary(f"UID SEARCH of {folder!r} failed: {_text(data)}", code="protocol")
        uids = [word.decode() for line in data if line for word in line.split()]
        if not uids:
            return False
        # HEADER is a substring search: confirm the whole id.
        status, data = connection.uid("FETCH", ",".join(uids), "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        for line in data if status == "OK" else []:
            if isinstance(line, tuple):
                header = BytesHeaderParser(policy=default_policy).parsebytes(line[1], headersonly=True)
                if str(header.get("Message-ID", "")).strip().strip("<>") == bare:
                    return True
        return False


def append_message(account: AccountRef, folder: str, raw: bytes, *, timeout: float) -> None:
    """File ``raw`` (a message we sent) in ``folder``, flagged as read: the Sent folder ``find_message_id`` searches."""
    with logged_in(account, timeout=timeout) as connection:
        status, data = connection.append(imap_folder_name(folder), r"(\Seen)", None, raw)
        if status != "OK":
            raise _temporary(f"The IMAP server did not file the message in {folder!r}: {_text(data)}", code="protocol")


# --- The admin's connection test ------------------------------------------------------------------------------


def check_connection(account: AccountRef, *, timeout: float = 10.0) -> list[str]:
    """What stops Switchboard reading this mailbox: empty when it logs in and opens the folder (and Sent folder)."""
    settings = account.settings
    if not settings.get("imap_host"):
        return []  # mail comes by the pipe command only: nothing to connect to
    try:
        with logged_in(account, timeout=timeout) as connection:
            problems = []
            for label, folder in (("folder", settings["imap_folder"]), ("Sent folder", settings.get("sent_folder"))):
                if not folder:
                    continue
                try:
                    select_folder(connection, str(folder))
                except PlatformError as error:
                    problems.append(f"IMAP {label}: {error.message}")
            return problems
    except PlatformError as error:
        return [f"IMAP: {error.message}"]


# --- IMAP details ---------------------------------------------------------------------------------------------


def uid_set(uids: Sequence[int]) -> str:
    """``1:3,7,9:10`` for 1, 2, 3, 7, 9, 10: a short command for a long run of UIDs."""
    ordered = sorted(set(uids))
    parts, start, previous = [], ordered[0], ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == previous + 1:
            previous = uid
            continue
        parts.append(str(start) if start == previous else f"{start}:{previous}")
        if uid is not None:
            start = previous = uid
    return ",".join(parts)


def imap_folder_name(folder: str) -> str:
    """``folder`` as an IMAP mailbox argument: modified UTF-7 (RFC 3501 5.1.3), quoted."""
    encoded: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            chunk = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii").rstrip("=")
            encoded.append("&" + chunk.replace("/", ",") + "-")
            pending.clear()

    for char in folder:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            encoded.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    text = "".join(encoded)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _item(response: bytes, name: bytes) -> int | None:
    match = re.search(rb"(?:^|[ (])" + re.escape(name) + rb" (\d+)", response, re.IGNORECASE)
    return int(match.group(1)) if match else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _text(data: Any) -> str:
    parts = data if isinstance(data, list) else [data]
    return " ".join(
        part.decode("utf-8", "replace") if isinstance(part, bytes) else str(part) for part in parts if part
    )[:500]


def _reason(error: BaseException) -> str:
    text = " ".join(arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg) for arg in error.args if arg)
    return (text or type(error).__name__)[:500]


def _temporary(message: str, *, code: str = "unreachable") -> PlatformError:
    return PlatformError(message, code=code)
