"""The one check of an email reply's subject, CC and files (``core.email_options.check_email_reply_options``).

Every door (composer, API, approval) hands its input to this function; the expectations are the issue's: a
subject of at most 200 characters, no line break or other control character in a subject or address (a header
injection), real addresses, at most 50 CC without duplicates or the customer, files within the limits, and
options only on email.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.email_options import EmailReplyOptions, ReplyFile, check_email_reply_options
from core.errors import Invalid

EMAIL = "email"
CUSTOMER = "dana@example.org"


def check(**options: Any) -> EmailReplyOptions:
    checked = check_email_reply_options(EMAIL, EmailReplyOptions(**options), customer_address=CUSTOMER)
    assert checked is not None
    return checked


def refusal(**options: Any) -> Invalid:
    with pytest.raises(Invalid) as refused:
        check(**options)
    return refused.value


def test_no_options_is_no_options_on_any_channel() -> None:
    assert check_email_reply_options("x_public", None) is None
    assert check_email_reply_options(EMAIL, None) is None


def test_options_on_another_channel_are_refused() -> None:
    with pytest.raises(Invalid, match="can only be sent with an email reply"):
        check_email_reply_options("x_dm", EmailReplyOptions(subject="Hello"))


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("Hi\r\nBcc: all@example.net", "The subject may not contain line breaks."),
        ("Hi\nBcc: all@example.net", "The subject may not contain line breaks."),
        ("Hi\rBcc: all@example.net", "The subject may not contain line breaks."),
        ("Hi\u2028Bcc: all@example.net", "The subject may not contain line breaks."),
        ("Hi\x85Bcc: all@example.net", "The subject may not contain line breaks."),
        ("Hi\x00", "The subject may not contain control characters (such as tabs or NUL)."),
        ("Hi\tthere", "The subject may not contain control characters (such as tabs or NUL)."),
        ("Hi\x1b[31m", "The subject may not contain control characters (such as tabs or NUL)."),
        ("x" * 201, "The subject is 201 characters; at most 200 are allowed."),
    ],
)
def test_a_bad_subject_is_refused_naming_the_field(subject: str, message: str) -> None:
    error = refusal(subject=subject)

    assert error.message == message and error.fields == {"subject": [message]}


def test_a_subject_is_stripped_and_a_blank_one_is_the_default() -> None:
    assert check(subject="  Your payment  ").subject == "Your payment"
    assert check(subject="x" * 200).subject == "x" * 200
    assert check(subject="   ").subject is None
    assert check().subject is None


@pytest.mark.parametrize(
    ("cc", "message"),
    [
        (["ben@example.org\r\nBcc: all@example.net"], "A CC address may not contain line breaks."),
        (["Ben\nBcc: all@example.net <ben@example.org>"], "A CC address may not contain line breaks."),
        (["ben@example.org\x00"], "A CC address may not contain control characters (such as tabs or NUL)."),
        (["not-an-address"], "'not-an-address' is not an email address."),
        (["Ben <not an address>"], "'Ben <not an address>' is not an email address."),
        (["ben@@example.org"], "'ben@@example.org' is not an email address."),
        ([f"{'b' * 250}@example.org"], f"{('b' * 250 + '@example.org')[:100]!r} is not an email address."),
        ([f"p{n}@example.org" for n in range(51)], "That is 51 CC addresses; at most 50 are allowed."),
    ],
)
def test_a_bad_cc_is_refused_naming_the_field(cc: list[str], message: str) -> None:
    error = refusal(cc=tuple(cc))

    assert error.message == message and error.fields == {"cc": [message]}


def test_cc_keeps_each_address_once_without_the_customer_and_names() -> None:
    cc = ("Ben Ortiz <ben@example.org>", " carla@example.org ", "BEN@example.org", "Dana@Example.org", "")

    assert check(cc=cc).cc == ("ben@example.org", "carla@example.org")


def test_fifty_distinct_cc_addresses_are_allowed() -> None:
    cc = (*(f"p{n}@example.org" for n in range(50)), "P1@example.org", CUSTOMER)

    assert len(check(cc=cc).cc) == 50


def test_files_within_the_limits_are_kept(settings: Any) -> None:
    settings.EMAIL_REPLY_ATTACHMENT_MAX_BYTES = 3000
    settings.EMAIL_REPLY_ATTACHMENT_MAX_FILES = 3
    files = tuple(ReplyFile(f"f{n}.txt", "text/plain", b"x" * 1000) for n in range(3))

    assert check(attachments=files).attachments == files


def test_one_byte_over_the_size_limit_is_refused(settings: Any) -> None:
    settings.EMAIL_REPLY_ATTACHMENT_MAX_BYTES = 3000
    files = (ReplyFile("a.txt", "text/plain", b"x" * 2000), ReplyFile("b.txt", "text/plain", b"x" * 1001))

    error = refusal(attachments=files)

    assert error.message == "The files come to 3,001 bytes; at most 3,000 bytes may be attached to one reply."
    assert list(error.fields) == ["attachments"]


def test_one_file_over_the_count_is_refused(settings: Any) -> None:
    settings.EMAIL_REPLY_ATTACHMENT_MAX_FILES = 2
    files = tuple(ReplyFile(f"f{n}.txt", "text/plain", b"") for n in range(3))

    assert refusal(attachments=files).message == "That is 3 files; at most 2 may be attached to one reply."


@pytest.mark.parametrize(
    ("filename", "kept"),
    [
        ("C:\\Users\\ana\\letter.pdf", "letter.pdf"),
        ("../../etc/passwd", "passwd"),
        ("", "attachment"),
        ("folder/", "attachment"),
        ("a" * 300 + ".pdf", "a" * 196 + ".pdf"),
    ],
)
def test_a_files_name_is_its_last_part_and_fits(filename: str, kept: str) -> None:
    (checked,) = check(attachments=(ReplyFile(filename, "application/pdf", b"%PDF"),)).attachments

    assert checked.filename == kept


def test_a_files_name_with_a_line_break_is_refused() -> None:
    error = refusal(attachments=(ReplyFile("a.pdf\r\nContent-Type: text/html", "application/pdf", b""),))

    assert error.message == "A file's name may not contain line breaks."


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("image/PNG", "image/png"),
        ("text/plain; charset=utf-8", "text/plain"),
        ("", "application/octet-stream"),
        ("not a type", "application/octet-stream"),
        ("text/html\r\nX-Evil: 1", "application/octet-stream"),
    ],
)
def test_a_files_type_is_a_bare_mime_type_or_octet_stream(given: str, kept: str) -> None:
    (checked,) = check(attachments=(ReplyFile("f", given, b""),)).attachments

    assert checked.content_type == kept
