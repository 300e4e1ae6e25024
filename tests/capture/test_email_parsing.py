"""Reading one email: real client shapes, charsets, machines, bad input, and random bytes.

The fixtures in tests/fixtures/email are written by hand in the shapes the named clients and servers
produce (Thunderbird, Outlook/Exchange, Gmail, Apple Mail, Postfix and Exim bounces, Mailman); every
expectation below is read off the fixture by a person, not computed by the code under test. The huge
attachment is generated here, never stored in git. Nothing here touches the database.
"""

from __future__ import annotations

import base64
import json
import os
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.platforms.base import MalformedPayload
from monitoring.platforms.email.parsing import (
    MAX_STORED_RECIPIENTS,
    AutoKind,
    MalformedEmail,
    ParsedEmail,
    external_id_for,
    fold,
    html_to_text,
    parse_email,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "email"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MB = 1024 * 1024


def fixture(name: str) -> ParsedEmail:
    return parse_email((FIXTURES / name).read_bytes())


def message(headers: str, body: str = "Hello.\n", *, sender: str = "Customer <customer@example.com>") -> bytes:
    return f"From: {sender}\nTo: support@switchboard.example\n{headers}\n\n{body}".encode()


# --- Real clients ----------------------------------------------------------------------------------


def test_a_thunderbird_reply_keeps_its_thread_ids_and_folds_the_quote_and_signature() -> None:
    parsed = fixture("thunderbird.eml")
    assert parsed.message_id == "8f3c2a1e-5b7d-4c9e-a2f1-0d6e4b3c2a19@example.de"
    assert parsed.in_reply_to == "reply-42@switchboard.example"
    assert parsed.references == ("order-4711@shop.example", "reply-42@switchboard.example")
    assert parsed.subject == "Re: [#123] Your order 4711 has not arrived"
    assert (parsed.from_address, parsed.from_name) == ("anna.schmidt@example.de", "Anna Schmidt")
    assert parsed.to == ("support@switchboard.example",)
    assert parsed.date == datetime(2024, 3, 5, 13, 22, 31, tzinfo=UTC)
    assert parsed.auto is AutoKind.HUMAN and not parsed.no_auto_response and parsed.bounce is None
    assert not parsed.html and parsed.attachments == ()
    # The stored text is whole: the quote and the signature are in it.
    assert parsed.text.startswith("Hallo,\n\nthe parcel still has not arrived.")
    assert "> your order 4711 left our warehouse on Friday." in parsed.text
    assert parsed.text.endswith("-- \nAnna Schmidt\nMusterstraße 1, 10115 Berlin")
    folded = fold(parsed.text)
    assert folded.main.rstrip().endswith("Grüße\nAnna")
    assert folded.quoted.startswith("Am 04.03.2024 um 09:15 schrieb Switchboard Support:\n> Hello Anna,")
    assert folded.signature == "-- \nAnna Schmidt\nMusterstraße 1, 10115 Berlin"


def test_an_outlook_reply_uses_the_plain_alternative_and_folds_the_header_block() -> None:
    parsed = fixture("outlook.eml")
    assert parsed.message_id == "DB9PR01MB1234ABCD5678EF90@DB9PR01MB1234.eurprd01.prod.outlook.com"
    assert parsed.subject == "RE: [#124] Invoice 2024-117 is wrong"
    assert (parsed.from_address, parsed.from_name) == ("tom.miller@corp.example", "Miller, Tom")
    assert parsed.cc == ("sue.baker@corp.example",)
    assert parsed.recipient_count == 2
    assert not parsed.html
    assert "Please correct it before Friday." in parsed.text  # the quoted-printable soft break undone
    assert parsed.attachments == ()  # the HTML alternative is the same content, not an attachment
    folded = fold(parsed.text)
    assert folded.main == (
        "Hi,\n\nThe invoice still shows 12 items; we ordered 10. Please correct it before Friday.\n\nThanks,\nTom\n\n"
    )
    assert folded.quoted.startswith("________________________________\nFrom: Switchboard Support")
    assert folded.quoted.endswith("we are looking into it.")


def test_a_gmail_reply_with_a_pdf_keeps_the_attachment_and_folds_the_wrapped_attribution() -> None:
    parsed = fixture("gmail.eml")
    assert parsed.message_id == "CAKx2Fq9v=ZpB3M4sN-7yQwE1uT8rL5dW0hJ6gXcVb2aYo3nKmQ@mail.gmail.com"
    assert parsed.date == datetime(2024, 3, 4, 9, 12, 33, tzinfo=UTC)  # 14:42:33 +0530
    assert "after two weeks — I'd like a refund" in parsed.text
    assert not parsed.html
    [receipt] = parsed.attachments
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    assert (receipt.filename, receipt.content_type, receipt.data, receipt.size) == (
        "receipt-kettle.pdf",
        "application/pdf",
        pdf,
        len(pdf),
    )
    assert receipt.content_id == "f_lte8x9k20" and not receipt.inline and not receipt.dropped_reason
    folded = fold(parsed.text)
    assert folded.main.rstrip().endswith("Thanks,\nPriya")
    assert folded.quoted.startswith(
        "On Mon, 4 Mar 2024 at 09:12, Switchboard Support <\nsupport@switchboard.example> wrote:"
    )


def test_an_apple_mail_inline_image_is_an_attachment_with_its_content_id() -> None:
    parsed = fixture("apple_mail.eml")
    assert parsed.subject == "Photo du colis abîmé"
    assert parsed.from_name == "Léa Moreau"
    assert parsed.text == "Bonjour,\n\nvoici une photo du colis, arrivé abîmé ce matin.\n\nLéa"
    [image] = parsed.attachments
    assert image.filename == "colis.png" and image.content_type == "image/png"
    assert image.content_id == "7E1F2A3B-4C5D-6E7F-8091-A2B3C4D5E6F7"  # what the HTML's cid: points to
    assert image.inline
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n") and image.size == 67


def test_an_exchange_out_of_office_is_an_auto_reply_we_never_answer() -> None:
    parsed = fixture("out_of_office.eml")
    assert parsed.auto is AutoKind.AUTO_REPLY
    assert parsed.no_auto_response
    assert parsed.in_reply_to == "reply-45@switchboard.example"
    assert parsed.text.startswith("I am out of the office until Monday 11 March")


def test_a_postfix_dsn_names_the_bounced_reply_the_recipient_and_why() -> None:
    parsed = fixture("bounce_dsn.eml")
    assert parsed.auto is AutoKind.BOUNCE and parsed.no_auto_response
    assert parsed.bounce is not None
    assert parsed.bounce.original_message_id == "reply-46@switchboard.example"
    assert parsed.bounce.recipient == "old.customer@example.net"
    assert parsed.bounce.status == "5.1.1"
    assert parsed.bounce.diagnostic == (
        "550 5.1.1 <old.customer@example.net>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    assert parsed.bounce.permanent
    assert parsed.text.startswith("This is the mail system at host mx.switchboard.example.")


def test_an_exim_plain_text_bounce_is_read_from_its_text() -> None:
    parsed = fixture("bounce_exim.eml")
    assert parsed.auto is AutoKind.BOUNCE
    assert parsed.bounce is not None
    assert parsed.bounce.original_message_id == "reply-47@switchboard.example"
    assert parsed.bounce.recipient == "gone@example.org"
    assert parsed.bounce.status == "5.2.1"
    assert parsed.bounce.diagnostic == "550 5.2.1 The email account that you tried to reach is disabled."
    assert parsed.bounce.permanent


def test_a_delay_warning_is_a_bounce_that_is_not_permanent() -> None:
    raw = message(
        "Subject: Delayed Mail (still being retried)\nIn-Reply-To: <reply-48@switchboard.example>",
        "Your message to <slow@example.com> has not yet been delivered. Status 4.4.1; we will retry.\n",
        sender="MAILER-DAEMON@mx.example",
    )
    parsed = parse_email(raw)
    assert parsed.auto is AutoKind.BOUNCE
    assert parsed.bounce is not None
    assert parsed.bounce.original_message_id == "reply-48@switchboard.example"
    assert parsed.bounce.status == "4.4.1" and not parsed.bounce.permanent


def test_a_mailing_list_post_is_bulk() -> None:
    parsed = fixture("mailing_list.eml")
    assert parsed.auto is AutoKind.BULK and parsed.no_auto_response
    assert parsed.from_address == "kai@lindqvist.example"  # From, not the list's Sender


def test_an_inline_forward_is_content_not_history() -> None:
    parsed = fixture("forwarded_inline.eml")
    assert "Your parcel 4711 is delayed by 3 days." in parsed.text
    folded = fold(parsed.text)
    assert folded.quoted == "" and "Your parcel 4711 is delayed" in folded.main


def test_a_message_forwarded_as_an_attachment_is_an_eml_attachment() -> None:
    parsed = fixture("forwarded_attached.eml")
    assert parsed.text == "Please see the attached mail from our warehouse."
    [forwarded] = parsed.attachments
    assert forwarded.filename == "Wrong delivery address.eml"
    assert forwarded.content_type == "message/rfc822"
    assert b"The parcel for order 4711 came back: the address is wrong." in forwarded.data


def test_html_only_mail_becomes_safe_text() -> None:
    parsed = fixture("html_only.eml")
    assert parsed.html
    assert parsed.text == (
        "Spring offers\n\n"
        "Hello friend, everything is 20 % off & shipping is free.\n\n"
        "See the offers (https://shop.example/spring?utm_source=mail)\n\n"
        "Click me or write to our help desk (mailto:help@shop.example).\n\n"
        "[Spring banner]\n\n"
        "- Kettles\n- Toasters\n\n"
        "Café €5 <script>not a tag</script>"
    )
    for gone in ("document.cookie", "font-family", "track.example", "tracker", "javascript", "banner.jpg"):
        assert gone not in parsed.text


# --- Charsets and encoded words --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "subject", "sender", "text"),
    [
        (
            "iso_8859_1.eml",
            "Problème de facturation",
            "François Lefèvre",
            "Bonjour,\n\nla facture est erronée : le total doit être 120 €, pas 210.\n“Merci” d'avance.",
        ),
        ("windows_1252.eml", "Order query", "Sean O'Brien", "It\u2019s 50 € \u2013 not 60 €. I\u2019m “sure”."),
        ("mislabelled_ascii.eml", "Rückgabe", "Jörg Müller", "Die Rückgabe für Bestellung 4711: Größe passt nicht."),
        ("mislabelled_utf8.eml", "Colis abîmé", "René Dupont", "Le colis est arrivé abîmé."),
        ("unknown_charset.eml", "Café", "", "Café crème"),
    ],
)
def test_every_charset_reads_as_the_text_that_was_written(name: str, subject: str, sender: str, text: str) -> None:
    parsed = fixture(name)
    assert (parsed.subject, parsed.from_name, parsed.text) == (subject, sender, text)


def test_encoded_words_in_names_subjects_and_filenames_are_decoded() -> None:
    parsed = fixture("encoded_words.eml")
    assert parsed.from_name == "山田 太郎"
    assert parsed.subject == "Bestellung \u2013 Lieferung für Müller"
    assert parsed.reply_to == "service@mueller.example"
    assert [attachment.filename for attachment in parsed.attachments] == [
        "Rechnung Müller № 4711.pdf",  # RFC 2231
        "Bestellungen März.csv",  # an encoded-word in the parameter, as Outlook and Gmail send
    ]
    assert parsed.attachments[0].data == b"%PDF-1.4\n"


def test_a_utf8_character_split_across_two_encoded_words_is_joined() -> None:
    parsed = parse_email(message("Subject: =?utf-8?b?Q2Fmw6k=?= =?utf-8?q?_cr=C3?= =?utf-8?q?=A8me?="))
    assert parsed.subject == "Café crème"


def test_nul_characters_never_come_out() -> None:
    parsed = parse_email(b"From: a\x00b <a@example.com>\nSubject: x\x00y\n\nhel\x00lo\n")
    assert (parsed.from_name, parsed.subject, parsed.text) == ("ab", "xy", "hello")


# --- Header injection, recipients, dates, ids -------------------------------------------------------


def test_header_injection_attempts_come_out_as_single_lines() -> None:
    crlf_subject = base64.b64encode(b"Invoice\r\nBcc: victim@example.com\r\n\r\nbody").decode()
    crlf_name = base64.b64encode(b"Eve\r\nX-Injected: 1").decode()
    parsed = parse_email(
        f"From: =?utf-8?b?{crlf_name}?= <eve@example.com>\nSubject: =?utf-8?b?{crlf_subject}?=\n"
        "To: support@switchboard.example\n\nHello.\n".encode()
    )
    assert parsed.subject == "Invoice Bcc: victim@example.com body"
    assert parsed.from_name == "Eve X-Injected: 1"
    assert parsed.to == ("support@switchboard.example",)


def test_a_subject_is_collapsed_and_bounded() -> None:
    parsed = parse_email(message("Subject: " + "word\t  " * 200))
    assert "  " not in parsed.subject and "\t" not in parsed.subject
    assert len(parsed.subject) <= 500 and parsed.subject.startswith("word word")


def test_ten_thousand_recipients_are_counted_and_the_stored_lists_bounded() -> None:
    to = ", ".join(f'"User {n}" <User{n}@Example.com>' for n in range(6000))
    cc = ", ".join(f"cc{n}@example.com" for n in range(4000))
    parsed = parse_email(f"From: a@example.com\nTo: {to}\nCc: {cc}\nSubject: all\n\nHi\n".encode())
    assert parsed.recipient_count == 10_000
    assert len(parsed.to) == len(parsed.cc) == MAX_STORED_RECIPIENTS
    assert parsed.to[:2] == ("user0@example.com", "user1@example.com")
    assert parsed.cc[-1] == "cc99@example.com"


def test_references_keep_the_last_fifty_in_order() -> None:
    references = " ".join(f"<ref-{n}@example.com>" for n in range(60))
    parsed = parse_email(message(f"References: {references}\nIn-Reply-To: <a@x> <b@x>"))
    assert parsed.references == tuple(f"ref-{n}@example.com" for n in range(10, 60))
    assert parsed.in_reply_to == "a@x"


@pytest.mark.parametrize(
    "header",
    ["Date: Thu, 1 Jan 1970 00:00:00 +0000", "Date: yesterday", "Date: Fri, 31 Dec 9999 23:59:59 -2359", ""],
)
def test_missing_unparseable_and_implausible_dates_are_none(header: str) -> None:
    assert parse_email(message(header)).date is None


def test_a_date_more_than_a_day_ahead_is_none_and_one_within_a_day_is_kept() -> None:
    ahead = datetime.now(UTC) + timedelta(days=2)
    assert parse_email(message(f"Date: {format_datetime(ahead)}")).date is None
    soon = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    assert parse_email(message(f"Date: {format_datetime(soon)}")).date == soon


def test_a_date_in_an_unknown_zone_is_read_as_utc() -> None:
    parsed = parse_email(message("Date: Mon, 4 Mar 2024 10:00:00 -0000"))
    assert parsed.date == datetime(2024, 3, 4, 10, 0, tzinfo=UTC)


def test_the_external_id_is_the_message_id_or_a_hash_that_fits() -> None:
    assert external_id_for(parse_email(message("Message-ID: <short@example.com>"))) == "short@example.com"
    long_id = "x" * 200 + "@example.com"
    long_key = external_id_for(parse_email(message(f"Message-ID: <{long_id}>")))
    assert long_key.startswith("sha256:") and len(long_key) <= 128
    assert long_key == external_id_for(parse_email(message(f"Message-ID: <{long_id}>", "another body")))
    without = parse_email(message("Subject: no id"))
    assert external_id_for(without) == "sha256:" + without.content_hash


def test_the_content_hash_ignores_line_endings_only() -> None:
    lf = message("Subject: same")
    assert parse_email(lf).content_hash == parse_email(lf.replace(b"\n", b"\r\n")).content_hash
    assert parse_email(lf).content_hash != parse_email(lf.replace(b"same", b"other")).content_hash


def test_the_summary_is_json_and_names_the_attachments() -> None:
    summary = fixture("gmail.eml").summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["from"] == "priya.natarajan@gmail.com" and summary["auto"] == ""
    assert summary["attachments"] == [
        {
            "filename": "receipt-kettle.pdf",
            "content_type": "application/pdf",
            "size": 77,
            "content_id": "f_lte8x9k20",
            "inline": False,
            "dropped_reason": "",
        }
    ]
    bounce = fixture("bounce_dsn.eml").summary()
    assert bounce["auto"] == "bounce" and bounce["bounce"]["status"] == "5.1.1"


# --- Machines: auto-replies, bulk, no automatic answer -------------------------------------------


@pytest.mark.parametrize(
    ("headers", "kind", "no_auto"),
    [
        ("Auto-Submitted: no", AutoKind.HUMAN, False),
        ("Auto-Submitted: auto-generated", AutoKind.AUTO_REPLY, True),
        ("Auto-Submitted: auto-replied; owner-email=a@b.c", AutoKind.AUTO_REPLY, True),
        ("X-Autoreply: yes", AutoKind.AUTO_REPLY, True),
        ("X-Autorespond: vacation", AutoKind.AUTO_REPLY, True),
        ("Precedence: auto_reply", AutoKind.AUTO_REPLY, True),
        # A subject alone is a person writing; with a machine's header it is an out-of-office.
        ("Subject: Out of Office until Monday", AutoKind.HUMAN, False),
        ("Subject: Abwesenheitsnotiz: Ihre Bestellung\nX-Auto-Response-Suppress: All", AutoKind.AUTO_REPLY, True),
        ("Subject: Réponse automatique : commande\nReturn-Path: <>", AutoKind.AUTO_REPLY, True),
        # X-Auto-Response-Suppress alone asks for no auto-reply, it is not one.
        ("X-Auto-Response-Suppress: OOF, AutoReply", AutoKind.HUMAN, True),
        ("X-Auto-Response-Suppress: DR, RN", AutoKind.HUMAN, False),
        ("Precedence: bulk", AutoKind.BULK, True),
        ("Precedence: junk", AutoKind.BULK, True),
        ("List-Id: <news.shop.example>", AutoKind.BULK, True),
        ("List-Unsubscribe: <https://shop.example/u>", AutoKind.HUMAN, True),
        ("X-MS-Exchange-Inbox-Rules-Loop: a@b.c", AutoKind.HUMAN, True),
        ("Return-Path: <>", AutoKind.HUMAN, True),
    ],
)
def test_machine_signals(headers: str, kind: AutoKind, no_auto: bool) -> None:
    parsed = parse_email(message(headers))
    assert (parsed.auto, parsed.no_auto_response) == (kind, no_auto)


@pytest.mark.parametrize("sender", ["postmaster@example.com", "noreply@shop.example", "no-reply@shop.example"])
def test_we_send_nothing_automatic_to_daemons_and_no_reply_addresses(sender: str) -> None:
    parsed = parse_email(message("Subject: hello", sender=sender))
    assert parsed.auto is AutoKind.HUMAN and parsed.no_auto_response


def test_mail_from_mailer_daemon_without_a_report_is_not_a_bounce() -> None:
    parsed = parse_email(message("Subject: Weekly statistics", "All good.\n", sender="MAILER-DAEMON@mx.example"))
    assert parsed.auto is AutoKind.HUMAN and parsed.no_auto_response and parsed.bounce is None


# --- Bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b" \r\n\r\n ", "empty"),
        (b"Just some text without any header.\n", "no header block"),
        (b"Subject: nobody\n\nHello\n", "no usable From"),
        (b"From: Someone\nSubject: no address\n\nHello\n", "no usable From"),
        (b"From: undisclosed-recipients:;\n\nHello\n", "no usable From"),
    ],
)
def test_what_is_not_a_storable_message_is_refused_clearly(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedEmail, match=reason):
        parse_email(raw)


def test_malformed_email_is_a_malformed_payload() -> None:
    assert issubclass(MalformedEmail, MalformedPayload)


def test_sender_is_the_fallback_for_a_missing_from() -> None:
    parsed = parse_email(b"Sender: Desk <desk@example.com>\nSubject: x\n\nHello\n")
    assert parsed.from_address == "desk@example.com"


def test_a_fifty_megabyte_message_is_refused_before_parsing() -> None:
    attachment = base64.encodebytes(random.Random(5).randbytes(38 * MB))  # 50 MB once base64-encoded
    raw = message("Content-Type: multipart/mixed; boundary=b", "--b\n\nsee\n--b\n") + attachment
    with pytest.raises(MalformedEmail, match="at most 31457280 are accepted"):
        parse_email(raw)


def test_an_attachment_over_the_limit_is_dropped_with_its_size_and_reason() -> None:
    data = random.Random(7).randbytes(12 * MB)
    raw = (
        message(
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b",
            "--b\nContent-Type: text/plain\n\nThe logs.\n--b\nContent-Type: application/zip; name=logs.zip\n"
            "Content-Transfer-Encoding: base64\n\n",
        )
        + base64.encodebytes(data)
        + b"--b--\n"
    )
    parsed = parse_email(raw)
    assert parsed.text == "The logs."
    [logs] = parsed.attachments
    assert (logs.filename, logs.size, logs.data, logs.dropped_reason) == (
        "logs.zip",
        12 * MB,
        b"",
        "larger than the 10 MB limit",
    )


@override_settings(EMAIL_ATTACHMENT_MAX_BYTES=1024, EMAIL_MAX_MESSAGE_BYTES=4096)
def test_the_limits_come_from_settings() -> None:
    raw = message("Content-Type: multipart/mixed; boundary=b", "--b\n\nhi\n--b\nContent-Type: text/csv\n\n")
    parsed = parse_email(raw + b"x" * 2000 + b"\n--b--\n")
    assert parsed.attachments[0].dropped_reason == "larger than the 1 KB limit"
    assert parsed.attachments[0].size == 2000
    with pytest.raises(MalformedEmail):
        parse_email(raw + b"x" * 5000)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ("Content-Type: multipart/mixed", "no boundary at all\n", "no boundary at all"),
        (
            "Content-Type: multipart/mixed; boundary=b",
            "--b\nContent-Type: text/plain\n\ncut off in the middle",
            "cut off in the middle",
        ),
        (
            "Content-Type: text/plain\nContent-Transfer-Encoding: base64",
            "SGVsbG8gd29ybGQ*&^%$\n!!",  # "Hello world" then garbage
            "Hello world",
        ),
        ("Content-Type: text/plain; charset=base64", "not a charset\n", "not a charset"),
        ("Content-Type: ;;;==\nContent-Transfer-Encoding: x-nonsense", "odd headers\n", "odd headers"),
    ],
)
def test_malformed_mime_gets_a_best_effort_text(headers: str, body: str, expected: str) -> None:
    assert expected in parse_email(message(headers, body)).text


def test_hundreds_of_nested_multiparts_do_not_crash() -> None:
    nested = "".join(f"Content-Type: multipart/mixed; boundary=b{n}\n\n--b{n}\n" for n in range(2000))
    parsed = parse_email(b"From: a@example.com\n" + nested.encode() + b"Content-Type: text/plain\n\ndeep\n")
    assert parsed.from_address == "a@example.com"
    assert "deep" in parsed.text


def test_an_attachment_name_cannot_carry_a_path_or_control_characters() -> None:
    parts = "".join(
        f'--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename="{name}"\n\nx\n'
        for name in ("../../etc/passwd", "C:\\\\Windows\\\\evil.exe", "\u202egnp.exe", "...", "a" * 300 + ".pdf")
    )
    parsed = parse_email(message("Content-Type: multipart/mixed; boundary=b", f"--b\n\nhi\n{parts}--b--\n"))
    names = [attachment.filename for attachment in parsed.attachments]
    assert names[:4] == ["passwd", "evil.exe", "gnp.exe", "attachment-4.bin"]
    assert len(names[4]) == 200 and names[4].endswith(".pdf")


# --- Folding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribution"),
    [
        "On Tue, Mar 5, 2024 at 10:00 AM Support <support@switchboard.example> wrote:",
        "Le mar. 5 mars 2024 à 10:00, Support <support@switchboard.example> a écrit :",
        "Am Di., 5. März 2024 um 10:00 Uhr schrieb Support <support@switchboard.example>:",
        "El mar, 5 mar 2024 a las 10:00, Support (<support@switchboard.example>) escribió:",
    ],
)
def test_attributions_in_four_languages_start_the_history(attribution: str) -> None:
    text = f"Thanks, that worked.\n\n{attribution}\n> Please restart the router.\n>\n"
    assert fold(text) == ("Thanks, that worked.\n\n", f"{attribution}\n> Please restart the router.\n>\n", "")


def test_a_signature_above_the_history_folds_with_it() -> None:
    text = "Yes please.\n\n-- \nMax\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nShall we?"
    assert fold(text) == (
        "Yes please.\n\n",
        "-- \nMax\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nShall we?",
        "",
    )


def test_inline_answers_stay_in_the_main_text() -> None:
    text = "> Is it blue?\nYes.\n> Is it big?\nNo.\n"
    assert fold(text) == (text, "", "")


def test_a_long_tail_after_a_dash_line_is_not_a_signature() -> None:
    text = "Intro\n--\n" + "".join(f"line {n}\n" for n in range(30))
    assert fold(text) == (text, "", "")


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                "> q\n",
                "On Mon X wrote:\n",
                "-- \n",
                "sig\n",
                "text\n",
                "\n",
                "From: a\n",
                "Sent: b\n",
                "Subject: c\n",
                "-----Original Message-----\n",
                "\r\n",
                ">\n",
                "x\u2028",
            ]
        ),
        max_size=30,
    ),
    st.text(max_size=50),
)
def test_folding_never_loses_or_changes_text(lines: list[str], tail: str) -> None:
    text = "".join(lines) + tail
    folded = fold(text)
    assert folded.main + folded.quoted + folded.signature == text


# --- HTML ---------------------------------------------------------------------------------------------


def test_html_blockquotes_become_quoted_lines_that_fold() -> None:
    text = html_to_text(
        "<div>Fine.</div><div>On Mon X wrote:<blockquote>Is it <i>fine</i>?<br>Really?</blockquote></div>"
    )
    assert text == "Fine.\nOn Mon X wrote:\n\n> Is it fine?\n> Really?"
    assert fold(text).quoted == "On Mon X wrote:\n\n> Is it fine?\n> Really?"


def test_links_show_only_safe_urls() -> None:
    html = (
        '<a href="https://a.example/x">A</a> <a href="data:text/html,x">B</a> <a href=" JaVaScRiPt:x">C</a>'
        ' <a href="https://a.example/y">https://a.example/y</a> <a href="cid:img">D</a>'
    )
    assert html_to_text(html) == "A (https://a.example/x) B C https://a.example/y D"


def test_an_unclosed_head_does_not_swallow_the_body() -> None:
    assert html_to_text("<html><head><title>T<body><p>Visible</p>") == "Visible"


@pytest.mark.parametrize(
    "hostile", ["<a" * 100_000, "<!--" * 100_000, "<![" * 100_000, "</" * 100_000, "<a b='x>" * 50_000]
)
def test_unclosed_markup_is_read_in_one_pass(hostile: str) -> None:
    # html.parser alone takes minutes on these (quadratic before CPython 3.12.11); the text must still come out.
    assert "\x00" not in html_to_text(hostile + "<p>end</p>")


# --- Random bytes ---------------------------------------------------------------------------------------


def check_clean(parsed: ParsedEmail) -> None:
    for value in (parsed.subject, parsed.from_name, parsed.message_id, parsed.in_reply_to, *parsed.references):
        assert not any(ch in value for ch in "\r\n\x00"), value
    for value in (parsed.text, parsed.subject, parsed.from_name, *(a.filename for a in parsed.attachments)):
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogates
    assert len(parsed.subject) <= 500 and len(parsed.references) <= 50
    assert len(parsed.to) <= MAX_STORED_RECIPIENTS and len(parsed.cc) <= MAX_STORED_RECIPIENTS
    assert "@" in parsed.from_address
    assert parsed.date is None or parsed.date.tzinfo is not None
    assert len(external_id_for(parsed)) <= 128
    json.dumps(parsed.summary())


def parse_or_refuse(raw: bytes) -> None:
    try:
        parsed = parse_email(raw)
    except MalformedEmail:
        return
    check_clean(parsed)


@FUZZ
@given(st.binary(max_size=3000))
def test_any_bytes_are_parsed_or_refused(raw: bytes) -> None:
    parse_or_refuse(raw)


@FUZZ
@given(st.binary(max_size=2000))
def test_any_body_after_a_real_header_is_parsed(body: bytes) -> None:
    check_clean(parse_email(b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n" + body))


FIXTURE_BYTES = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]


@FUZZ
@given(
    st.sampled_from(FIXTURE_BYTES),
    st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=0, max_size=12), st.integers(0, 12)), max_size=6),
)
def test_mutated_real_messages_are_parsed_or_refused(raw: bytes, edits: list[tuple[float, bytes, int]]) -> None:
    mutated = bytearray(raw)
    for where, insert, cut in edits:
        at = int(where * len(mutated))
        mutated[at : at + cut] = insert
    parse_or_refuse(bytes(mutated))


@FUZZ
@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])
        | st.sampled_from(["\r", "\n", "=", "?", "<", ">", "\x00"]),
        max_size=200,
    )
)
def test_any_header_value_is_parsed(value: str) -> None:
    raw = f"From: {value} <a@example.com>\nSubject: {value}\nMessage-ID: {value}\nReferences: {value}\nDate: {value}\n"
    raw += f"Content-Type: text/html; charset={value[:20]}\n\n<p>{value}</p>\n"
    parse_or_refuse(raw.encode("utf-8"))


@FUZZ
@given(st.text(max_size=500))
def test_any_html_becomes_text(html: str) -> None:
    text = html_to_text(html)
    assert "\x00" not in text
    text.encode("utf-8")
