"""What an email reply carries besides its text: a subject, CC addresses and files, checked once for every door.

The composer (a multipart form), the REST API and an approval all hand the same :class:`EmailReplyOptions` to the
reply use case, which checks it with :func:`check_email_reply_options` before anything is stored. The subject and
the addresses end up in mail headers: a line break in them would let whoever typed them add headers of their own
(``Bcc:`` to anyone), so every control character is refused with a clear message, never silently removed.

What is stored (``Message.raw["email"]`` and ``Attachment`` rows on the reply) is what the sending side reads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from core.errors import Invalid
from core.models import Channel

SUBJECT_MAX_LENGTH = 200
CC_MAX_ADDRESSES = 50
FILENAME_MAX_LENGTH = 200  # Attachment.filename
ADDRESS_MAX_LENGTH = 254  # RFC 5321's path limit, less the brackets

_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_NAMED_ADDRESS = re.compile(r"(?P<name>[^<>]*)<(?P<address>[^<>]*)>")


@dataclass(frozen=True)
class ReplyFile:
    """A file an agent attaches to a reply, as uploaded."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class EmailReplyOptions:
    """An email reply's subject (None: the sending side answers under "Re: " and the customer's last subject),
    its CC addresses and its files."""

    subject: str | None = None
    cc: tuple[str, ...] = ()
    attachments: tuple[ReplyFile, ...] = ()

    def raw(self) -> dict[str, object]:
        """What ``Message.raw["email"]`` keeps of these options (the files are rows of their own)."""
        return {"cc": list(self.cc)} | ({"subject": self.subject} if self.subject is not None else {})


def max_attachment_bytes() -> int:
    return int(settings.EMAIL_REPLY_ATTACHMENT_MAX_BYTES)


def max_attachment_files() -> int:
    return int(settings.EMAIL_REPLY_ATTACHMENT_MAX_FILES)


def _has_control_character(value: str) -> bool:
    """Any C0/C1 control, line or paragraph separator: what could end a header line in some mail software."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value)


def _refuse_control(value: str, *, field: str, what: str) -> None:
    if any(ch in value for ch in "\r\n\u2028\u2029\x85"):
        message = f"{what} may not contain line breaks."
    elif _has_control_character(value):
        message = f"{what} may not contain control characters (such as tabs or NUL)."
    else:
        return
    raise Invalid(message, fields={field: [message]})


def check_subject(subject: object) -> str | None:
    """The subject stripped; None when blank (the default subject is used); ``Invalid`` when unsafe or too long."""
    if subject is None:
        return None
    if not isinstance(subject, str):
        raise Invalid("The subject must be text.", fields={"subject": ["Not a valid string."]})
    _refuse_control(subject, field="subject", what="The subject")
    subject = subject.strip()
    if not subject:
        return None
    if len(subject) > SUBJECT_MAX_LENGTH:
        message = f"The subject is {len(subject)} characters; at most {SUBJECT_MAX_LENGTH} are allowed."
        raise Invalid(message, fields={"subject": [message]})
    return subject


def check_cc(cc: Iterable[object], *, customer_address: str = "") -> tuple[str, ...]:
    """The CC addresses, each checked, without duplicates and without the customer (who is the To).

    An entry may be ``Name <address>`` as mail clients copy it: the name is checked like the address, and only
    the address is kept (the sending side writes addresses).
    """
    kept: dict[str, str] = {}
    for entry in cc:
        if not isinstance(entry, str):
            raise Invalid("A CC address must be text.", fields={"cc": ["Not a valid string."]})
        _refuse_control(entry, field="cc", what="A CC address")
        entry = entry.strip()
        if not entry:
            continue
        named = _NAMED_ADDRESS.fullmatch(entry)
        address = named.group("address").strip() if named else entry
        if len(address) > ADDRESS_MAX_LENGTH or not _valid_address(address):
            message = f"{entry[:100]!r} is not an email address."
            raise Invalid(message, fields={"cc": [message]})
        kept.setdefault(address.lower(), address)
    kept.pop(customer_address.strip().lower(), None)
    if len(kept) > CC_MAX_ADDRESSES:
        message = f"That is {len(kept)} CC addresses; at most {CC_MAX_ADDRESSES} are allowed."
        raise Invalid(message, fields={"cc": [message]})
    return tuple(kept.values())


def _valid_address(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def split_addresses(value: str) -> list[str]:
    """A comma-separated CC field as typed in the composer (``a@x.example, Ben <b@y.example>``)."""
    return value.split(",") if value.strip() else []


def check_attachment_limits(sizes: Sequence[int]) -> None:
    """``Invalid`` when there are more files than allowed or they are larger, together, than allowed.

    Doors may call this with the sizes alone before reading uploads into memory; the full check calls it again.
    """
    most_files, most_bytes = max_attachment_files(), max_attachment_bytes()
    if len(sizes) > most_files:
        message = f"That is {len(sizes)} files; at most {most_files} may be attached to one reply."
        raise Invalid(message, fields={"attachments": [message]})
    total = sum(sizes)
    if total > most_bytes:
        shown, most = _size(total), _size(most_bytes)
        if shown == most:  # just over: rounded, both would read the same
            shown, most = f"{total:,} bytes", f"{most_bytes:,} bytes"
        message = f"The files come to {shown}; at most {most} may be attached to one reply."
        raise Invalid(message, fields={"attachments": [message]})


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _check_file(item: object) -> ReplyFile:
    if not isinstance(item, ReplyFile) or not isinstance(item.data, bytes | bytearray | memoryview):
        raise Invalid("An attachment must be a file.", fields={"attachments": ["Not a file."]})
    filename = item.filename if isinstance(item.filename, str) else ""
    _refuse_control(filename, field="attachments", what="A file's name")
    # Browsers send the bare name; some clients a path. Only the last part names the file.
    filename = re.split(r"[\\/]", filename)[-1].strip() or "attachment"
    if len(filename) > FILENAME_MAX_LENGTH:
        stem, dot, extension = filename.rpartition(".")
        suffix = dot + extension if stem and len(extension) <= 20 else ""
        filename = filename[: FILENAME_MAX_LENGTH - len(suffix)] + suffix
    content_type = (item.content_type or "").split(";")[0].strip().lower() if isinstance(item.content_type, str) else ""
    if not _CONTENT_TYPE.fullmatch(content_type):
        content_type = "application/octet-stream"
    return ReplyFile(filename=filename, content_type=content_type, data=bytes(item.data))


def check_email_reply_options(
    channel: str, options: EmailReplyOptions | None, *, customer_address: str = ""
) -> EmailReplyOptions | None:
    """``options`` checked for a reply on ``channel``: the one check every door's subject, CC and files pass.

    ``Invalid`` (naming the field) for options on a channel other than email, a subject or address with a line
    break or another control character, a subject over 200 characters, an address that is not one, more than 50
    CC addresses, or files over the limits (``EMAIL_REPLY_ATTACHMENT_MAX_FILES``, ``..._MAX_BYTES`` in total).
    """
    if options is None:
        return None
    if channel != Channel.EMAIL:
        message = "A subject, CC addresses and attachments can only be sent with an email reply."
        raise Invalid(message, fields={"subject": [message]})
    subject = check_subject(options.subject)
    cc = check_cc(options.cc, customer_address=customer_address)
    check_attachment_limits([len(item.data) if isinstance(item, ReplyFile) else 0 for item in options.attachments])
    files = tuple(_check_file(item) for item in options.attachments)
    return EmailReplyOptions(subject=subject, cc=cc, attachments=files)
