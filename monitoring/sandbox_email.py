"""The sandbox's email: believable customer mail, as RFC 5322 bytes a mail server would hand over.

Customers write new mail (plain text, HTML from webmail or Outlook, both as ``multipart/alternative``, now and
then a photo or an invoice attached) and write again in their open conversations: to their own last message
when nobody has answered yet, and once we have, a reply to our reply (``In-Reply-To`` and ``References``
naming its Message-ID), sometimes under a subject of their own, sometimes from a phone that keeps only the
``[#id]`` token of our subject, and sometimes their out-of-office answers for them (``Auto-Submitted:
auto-replied``). The bytes go through the real pipe path (``do_receive_email``); nothing here touches the
database. Given a seed its output is repeatable.
"""

from __future__ import annotations

import html
import random
import re
import struct
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from monitoring.sandbox import CAST_SIZE, CITIES, PEOPLE, person


@dataclass(frozen=True)
class EmailThread:
    """An open email conversation whose customer may write again."""

    conversation_id: int
    customer_address: str
    customer_name: str
    subject: str
    """The subject the customer wrote last."""
    message_ids: tuple[str, ...]
    """The thread's Message-IDs (without ``<>``), oldest first: what a mail client puts in ``References``."""
    customer_message_id: str
    """The customer's latest message."""
    reply_id: str = ""
    """Our latest sent reply's Message-ID (its ``Message.external_id``); "" while nobody has answered."""
    reply_text: str = ""
    reply_at: datetime | None = None


# (kind, language, subject, body). {order}, {city}, {code}, {amount} and {account} are filled in per mail;
# the greeting and the signature are added around the body.
NEW_MAILS: list[tuple[str, str, str, str]] = [
    (
        "complaint",
        "en",
        "No internet since this morning",
        "My internet has been down since 7am in {city}. The router shows a red light and restarting it did "
        "not help.\n\nI work from home and need this fixed today. My account number is {account}.",
    ),
    (
        "complaint",
        "en",
        "Charged twice for invoice {order}",
        "I was charged twice this month for invoice {order} ({amount} each). Please refund the second "
        "payment to the card it came from.",
    ),
    (
        "complaint",
        "en",
        "Engineer never arrived (order {order})",
        "I took the day off for the installation appointment on order {order}. Nobody came and nobody "
        "called. This is the second time. I would like a new appointment and some compensation.",
    ),
    (
        "question",
        "en",
        "Moving house next month",
        "We are moving to {city} at the end of next month. Can I take my contract with me, and how much "
        "notice do you need to move the line?",
    ),
    (
        "question",
        "en",
        "How do I change my plan?",
        "I would like to switch to the cheaper plan from my next bill. I could not find how to do it in the "
        "app. Account {account}.",
    ),
    (
        "question",
        "en",
        "TV box shows error {code}",
        "Since last night the TV box only shows error {code} and a black screen. Is there an outage in "
        "{city}, or is it the box?",
    ),
    (
        "praise",
        "en",
        "Thank you",
        "Just a quick note to say thanks to the engineer who came on Tuesday. Fibre is in and it's lightning "
        "fast. Great job!",
    ),
    (
        "complaint",
        "es",
        "Sin internet desde ayer",
        "Llevo desde ayer sin internet en {city}. He reiniciado el router varias veces y nada. ¿Me pueden "
        "ayudar? Mi número de cliente es {account}.",
    ),
    (
        "question",
        "es",
        "Duda sobre mi factura {order}",
        "En la factura {order} aparece un cargo de {amount} que no entiendo. ¿Me pueden explicar a qué corresponde?",
    ),
    (
        "complaint",
        "fr",
        "Pas de connexion depuis hier soir",
        "Toujours pas de connexion depuis hier soir à {city}. C'est inadmissible, je télétravaille. Merci "
        "de me rappeler au plus vite.",
    ),
    (
        "question",
        "fr",
        "Changer de forfait",
        "Bonjour, je souhaite passer au forfait fibre. Comment puis-je changer de forfait sans frais ?",
    ),
    (
        "complaint",
        "de",
        "Kein Internet seit gestern, Auftrag {order}",
        "Seit gestern habe ich in {city} kein Internet. Auftrag {order}. Bitte rufen Sie mich zurück.",
    ),
    (
        "question",
        "de",
        "Rechnung online einsehen",
        "Wie kann ich meine Rechnung online einsehen? Im Kundenportal finde ich nur die vom letzten Jahr.",
    ),
    (
        "spam",
        "en",
        "Business proposal: earn $5000 a week",
        "Dear friend, earn $5000 a week from home with our secret crypto method. Reply now for details!!!",
    ),
]

FOLLOW_UPS: list[tuple[str, str]] = [
    ("en", "Any update on this? I still have no connection."),
    ("en", "Hello? It's been hours and I have heard nothing back."),
    ("en", "I forgot to say: my account number is {account}."),
    ("es", "¿Alguna novedad? Sigo igual."),
    ("fr", "Des nouvelles ? Toujours rien de mon côté."),
    ("de", "Gibt es schon Neuigkeiten? Es funktioniert immer noch nicht."),
]

ANSWERS: list[tuple[str, str]] = [
    ("en", "Thanks, that worked! The light is green again."),
    ("en", "I tried that and it still does not work. What now?"),
    ("en", "Here is my account number as you asked: {account}."),
    ("en", "Thank you for the quick answer. When will the refund reach my account?"),
    ("es", "Gracias, ya funciona."),
    ("fr", "Merci, c'est réglé."),
    ("de", "Danke, jetzt geht es wieder."),
]

NEW_TOPICS: list[tuple[str, str]] = [
    ("My bill went up", "Thanks for sorting that out. While I have you: my last bill went up by {amount}, why?"),
    ("Second line at home", "All working now, thanks. Could I also get a second line for the office at home?"),
]

FROM_PHONE: list[tuple[str, str]] = [
    ("Still broken", "Writing from my phone because I can't find your email on the laptop. The problem is back."),
    ("Photo of the router", "As promised, the router lights: only the power light is on. Sent from my phone."),
]

OUT_OF_OFFICE: list[tuple[str, str, str]] = [
    (
        "Automatic reply",
        "en",
        "Thank you for your message. I am out of the office until {back} with limited access to email. "
        "I will reply when I am back.",
    ),
    (
        "Out of Office",
        "en",
        "I am on annual leave until {back}. For anything urgent please call the office.",
    ),
    (
        "Abwesenheitsnotiz",
        "de",
        "Vielen Dank für Ihre Nachricht. Ich bin bis zum {back} nicht im Büro und lese meine E-Mails nicht.",
    ),
    (
        "Réponse automatique",
        "fr",
        "Merci pour votre message. Je suis absent jusqu'au {back} et je vous répondrai à mon retour.",
    ),
]

GREETINGS = {"en": ("Hello,", "Hi,", "Hi there,"), "es": ("Hola:",), "fr": ("Bonjour,",), "de": ("Hallo,",)}
SIGN_OFFS = {"en": ("Thanks,", "Regards,", "Best,"), "es": ("Saludos,",), "fr": ("Cordialement,",), "de": ("Grüße",)}
DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "post.example"]
CLIENTS = ["webmail", "outlook", "thunderbird", "apple", "phone"]
UTC_OFFSETS = [0, 1, 2, -5, 5.5, 1, 0]
TOKEN = re.compile(r"\s*\[#\d+\]")
REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|fwd?|wg|tr)\s*:\s*)+", re.IGNORECASE)


def customer_address(index: int) -> tuple[str, str]:
    """(display name, address) of cast member ``index`` as an email sender: "first.last" at an example domain."""
    name, handle = person(index)
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    local = ".".join(folded.split())
    if not re.fullmatch(r"[a-z]+(\.[a-z]+)*", local):
        local = re.sub(r"[^a-z0-9_.]", "", handle.lower()) or f"customer{index}"
    return name, f"{local}@{DOMAINS[index % len(DOMAINS)]}"


def base_subject(subject: str) -> str:
    """``subject`` without its "Re:"/"AW:" prefixes and our token: what a reply's subject is built from."""
    return TOKEN.sub("", REPLY_PREFIX.sub("", subject)).strip() or "(no subject)"


def our_subject(thread: EmailThread) -> str:
    """The subject our reply carried: "Re: <the customer's latest subject> [#<conversation id>]"."""
    return f"Re: {base_subject(thread.subject)} [#{thread.conversation_id}]"


class SandboxMail:
    def __init__(self, seed: int | None = None) -> None:
        # Its own stream, so adding email leaves the sandbox's posts what they were for a given seed.
        self.rng = random.Random(f"email-{seed}" if seed is not None else None)

    def messages(
        self,
        count: int,
        *,
        now: datetime,
        to_address: str,
        to_name: str = "",
        open_threads: Sequence[EmailThread] = (),
        window_seconds: float = 60.0,
    ) -> list[bytes]:
        """``count`` messages written during the ``window_seconds`` before ``now``, to the mailbox ``to_address``."""
        recipient = str(Address(to_name, addr_spec=to_address)) if to_name else to_address
        # A real person may have piped mail to the demo mailbox from an address the standard library cannot write
        # back (an internationalised local part): the sandbox does not write as them.
        threads = [thread for thread in open_threads if _writable(thread.customer_address)]
        mails = []
        for _ in range(count):
            sent_at = now - timedelta(seconds=self.rng.uniform(0, window_seconds))
            if threads and self.rng.random() < 0.35:
                thread = self.rng.choice(threads)
                mails.append(self._again(thread, recipient, max(sent_at, _after(thread.reply_at, now))))
            else:
                mails.append(self._new(recipient, sent_at))
        return mails

    # --- Kinds of mail ---------------------------------------------------------------------------------------

    def _new(self, recipient: str, sent_at: datetime) -> bytes:
        index = self.rng.randrange(len(PEOPLE)) if self.rng.random() < 0.6 else self.rng.randrange(CAST_SIZE)
        name, address = customer_address(index)
        kind, language, subject, body = self.rng.choice(NEW_MAILS)
        values = self._values()
        message = self._message(name, address, recipient, subject.format(**values), sent_at, index)
        text = body.format(**values) + "\n" if kind == "spam" else self._letter(language, body.format(**values), name)
        self._body(message, text)
        if kind != "spam" and self.rng.random() < 0.12:
            self._attach(message, values["order"])
        return self._bytes(message)

    def _again(self, thread: EmailThread, recipient: str, sent_at: datetime) -> bytes:
        """The customer writes again in ``thread``: a follow-up, or once we answered, an answer to our reply."""
        index = _cast_index(thread.customer_address)
        name, address = thread.customer_name, thread.customer_address
        values = self._values()
        if not thread.reply_id:
            language, text = self.rng.choice(FOLLOW_UPS)
            message = self._message(name, address, recipient, f"Re: {base_subject(thread.subject)}", sent_at, index)
            self._answering(message, thread, thread.customer_message_id)
            self._body(message, self._letter(language, text.format(**values), name))
            return self._bytes(message)
        roll = self.rng.random()
        if roll < 0.15:
            return self._out_of_office(thread, recipient, sent_at, index)
        if roll < 0.3:
            # From a phone's mail app that starts a new message: only the token in the subject says which case.
            subject, text = self.rng.choice(FROM_PHONE)
            message = self._message(name, address, recipient, f"{subject} [#{thread.conversation_id}]", sent_at, index)
            self._body(message, self._letter("en", text, name))
            return self._bytes(message)
        if roll < 0.45:
            # A new topic in the same thread: the subject changes, the headers still say it answers us.
            language = "en"
            subject, text = self.rng.choice(NEW_TOPICS)
        else:
            subject = our_subject(thread)
            language, text = self.rng.choice(ANSWERS)
        message = self._message(name, address, recipient, subject, sent_at, index)
        self._answering(message, thread, thread.reply_id)
        letter = self._letter(language, text.format(**values), name)
        self._body(message, letter, quoted=self._quote(thread, recipient))
        return self._bytes(message)

    def _out_of_office(self, thread: EmailThread, recipient: str, sent_at: datetime, index: int) -> bytes:
        prefix, _, text = self.rng.choice(OUT_OF_OFFICE)
        back = (sent_at + timedelta(days=self.rng.randrange(2, 15))).strftime("%d.%m.%Y")
        message = self._message(
            thread.customer_name, thread.customer_address, recipient, f"{prefix}: {our_subject(thread)}", sent_at, index
        )
        message["Auto-Submitted"] = "auto-replied"
        if self.rng.random() < 0.5:
            message["X-Auto-Response-Suppress"] = "All"  # as Exchange marks its own out-of-office replies
        self._answering(message, thread, thread.reply_id)
        message.set_content(text.format(back=back) + "\n")
        return self._bytes(message)

    # --- Parts of a message ----------------------------------------------------------------------------------

    def _message(
        self, name: str, address: str, recipient: str, subject: str, sent_at: datetime, index: int
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = str(Address(name, addr_spec=address))
        message["To"] = recipient
        message["Subject"] = subject
        offset = UTC_OFFSETS[index % len(UTC_OFFSETS)]
        message["Date"] = format_datetime(sent_at.astimezone(timezone(timedelta(hours=offset))))
        domain = address.rpartition("@")[2]
        message["Message-ID"] = f"<{self.rng.getrandbits(64):016x}.{self.rng.getrandbits(32):08x}@mail.{domain}>"
        client = CLIENTS[index % len(CLIENTS)]
        if client == "outlook":
            message["X-Mailer"] = "Microsoft Outlook 16.0"
        elif client == "thunderbird":
            message["User-Agent"] = "Mozilla Thunderbird"
        elif client == "apple":
            message["X-Mailer"] = "Apple Mail (2.3776)"
        message["MIME-Version"] = "1.0"
        return message

    def _bytes(self, message: EmailMessage) -> bytes:
        # The standard library draws MIME boundaries from the global random generator: draw them from ours.
        for part in message.walk():
            if part.is_multipart():
                part.set_boundary(f"=_sb{self.rng.getrandbits(64):016x}")
        return bytes(message)

    def _answering(self, message: EmailMessage, thread: EmailThread, message_id: str) -> None:
        """Headers that say ``message`` answers ``message_id`` of ``thread``, as every mail client writes them."""
        message["In-Reply-To"] = f"<{message_id}>"
        # The root and the latest few, as clients trim a long References (RFC 5322 3.6.4 allows it).
        earlier = [ref for ref in thread.message_ids if ref != message_id]
        chain = [*earlier[:1], *earlier[1:][-8:], message_id]
        message["References"] = " ".join(f"<{ref}>" for ref in chain)

    def _letter(self, language: str, body: str, name: str) -> str:
        greeting = self.rng.choice(GREETINGS.get(language, ("Hello,",)))
        sign_off = self.rng.choice(SIGN_OFFS.get(language, ("Thanks,",)))
        first = name.split()[0] if name.split() else name
        # 07700 900xxx: the UK's numbers reserved for drama, never anyone's phone.
        signature = f"\n\n-- \n{name}\n+44 7700 900{self.rng.randrange(1000):03d}" if self.rng.random() < 0.3 else ""
        return f"{greeting}\n\n{body}\n\n{sign_off}\n{first}{signature}\n"

    def _quote(self, thread: EmailThread, recipient: str) -> str:
        """Our reply, quoted below the answer as mail clients do (the console folds it away)."""
        if not thread.reply_text:
            return ""
        when = format_datetime(thread.reply_at or datetime.now(UTC))
        lines = "\n".join(f"> {line}" if line else ">" for line in thread.reply_text.splitlines())
        return f"\nOn {when}, {recipient} wrote:\n{lines}\n"

    def _body(self, message: EmailMessage, text: str, *, quoted: str = "") -> None:
        """Plain text, both as ``multipart/alternative``, or HTML only; the mix real mailboxes get."""
        roll = self.rng.random()
        plain = text + quoted
        if roll < 0.55:
            message.set_content(plain)
        elif roll < 0.85:
            message.set_content(plain)
            logo = self.rng.random() < 0.25
            message.add_alternative(self._html(text, quoted, logo=logo), subtype="html")
            if logo:
                # Outlook's signature logo: an image the HTML shows by its Content-ID (multipart/related).
                html_part = message.get_body(preferencelist=("html",))
                assert html_part is not None
                html_part.add_related(_png(16, 4, (20, 60, 140)), "image", "png", cid="<logo@sig.example>")
        else:
            message.set_content(self._html(text, quoted), subtype="html")

    def _html(self, text: str, quoted: str, *, logo: bool = False) -> str:
        paragraphs = "".join(
            "<p>" + "<br>".join(html.escape(line) for line in block.splitlines()) + "</p>"
            for block in text.strip().split("\n\n")
        )
        if logo:
            paragraphs += '<p><img src="cid:logo@sig.example" alt="Logo" width="64" height="16"></p>'
        history = ""
        if quoted:
            attribution, _, rest = quoted.strip().partition("\n")
            lines = "<br>".join(html.escape(line.removeprefix(">").strip()) for line in rest.splitlines())
            history = f"<div>{html.escape(attribution)}</div><blockquote>{lines}</blockquote>"
        if self.rng.random() < 0.5:
            # Outlook's shape: a style block, and a newsletter-style tracking pixel from the customer's mailer.
            return (
                "<html><head><style>p.MsoNormal{margin:0cm;font-family:Calibri,sans-serif}</style></head><body>"
                f"{paragraphs}{history}"
                f'<img src="https://track.example/open.gif?m={self.rng.getrandbits(32):08x}" width="1" height="1">'
                "</body></html>"
            )
        return f'<div dir="ltr">{paragraphs}</div>{history}'

    def _attach(self, message: EmailMessage, order: str) -> None:
        if self.rng.random() < 0.5:
            message.add_attachment(_png(8, 8, (200, 30, 30)), "image", "png", filename="router-lights.png")
        else:
            message.add_attachment(_pdf(f"Invoice {order}"), "application", "pdf", filename=f"invoice-{order}.pdf")

    def _values(self) -> dict[str, str]:
        return {
            "order": f"NW-{self.rng.randrange(10_000, 99_999)}",
            "city": self.rng.choice(CITIES),
            "code": f"E-{self.rng.randrange(10, 99)}",
            "amount": f"£{self.rng.randrange(20, 90)}.{self.rng.randrange(100):02d}",
            "account": f"{self.rng.randrange(10_000_000, 99_999_999)}",
        }


def _writable(address: str) -> bool:
    try:
        str(Address(addr_spec=address))
    except (ValueError, IndexError, HeaderParseError):
        return False
    return True


def _after(moment: datetime | None, now: datetime) -> datetime:
    """A few seconds after ``moment`` (our reply), never after ``now``: an answer comes after what it answers."""
    if moment is None:
        return now - timedelta(days=365)
    return min(now, moment + timedelta(seconds=5))


def _cast_index(address: str) -> int:
    """A stable number for a customer's address, to keep their mail client and time zone from mail to mail."""
    return zlib.crc32(address.encode("utf-8"))


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small solid-colour PNG, a photo's stand-in."""
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _pdf(title: str) -> bytes:
    """A one-page PDF with ``title`` on it, an invoice's stand-in."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 18 Tf 40 60 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 120]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>",
        b"<</Length " + str(len(stream)).encode() + b">>stream\n" + stream + b"\nendstream",
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<</Size {len(objects) + 1}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
