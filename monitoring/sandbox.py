"""The built-in sandbox source: believable customer posts for demos and load tests.

It writes complaints, questions, praise and spam in several languages, from a
cast of returning customers, and now and then a follow-up in a thread that is
still open, so every part of the product has something real to work on
without a social network. Given a seed its output is repeatable.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import Channel, Platform
from core.posts import Author, InboundPost

# (kind, language, text). {order}, {city} and {code} are filled in per post.
POSTS: list[tuple[str, str, str]] = [
    ("complaint", "en", "My internet has been down since this morning in {city}. Nobody answers the phone!"),
    ("complaint", "en", "Third time this week the router drops out. Order {order}. I want a refund."),
    ("complaint", "en", "Charged twice for the same month?? Invoice {order}. Sort it out please."),
    ("complaint", "en", "The engineer never showed up. I took a day off for this. Absolutely ridiculous."),
    ("question", "en", "How do I change the plan on my bill? Can't find it in the app."),
    ("question", "en", "Is there an outage in {city}? My TV box shows error {code}"),
    ("question", "en", "Can I move my contract to a new address next month?"),
    ("question", "en", "What's the cancellation fee if I leave before the end of the contract?"),
    ("praise", "en", "Big thanks to the support team, fixed in ten minutes <3"),
    ("praise", "en", "Fibre installed today and it's lightning fast. Great job!"),
    ("complaint", "es", "Llevo tres días sin internet en {city}. ¿Alguien me puede ayudar?"),
    ("question", "es", "¿Cómo cambio el plan de mi factura? Gracias"),
    ("praise", "es", "Muchas gracias por la ayuda de ayer, todo funciona perfecto."),
    ("complaint", "fr", "Toujours pas de connexion depuis hier soir à {city}, c'est inadmissible."),
    ("question", "fr", "Bonjour, comment puis-je changer mon forfait ?"),
    ("complaint", "de", "Seit gestern kein Internet in {city}. Auftrag {order}. Bitte um Rückruf!"),
    ("question", "de", "Wie kann ich meine Rechnung online einsehen?"),
    ("spam", "en", "Earn $5000 a week from home!!! DM me for the secret crypto method"),
    ("spam", "en", "Follow back? Giving away free followers, click my bio"),
]

FOLLOW_UPS: list[tuple[str, str]] = [
    ("en", "Any update? Still waiting here."),
    ("en", "Hello?? It's been hours."),
    ("en", "Thanks, that worked!"),
    ("en", "I sent you my account number in a message."),
    ("es", "¿Alguna novedad?"),
    ("fr", "Des nouvelles ?"),
    ("de", "Gibt es schon Neuigkeiten?"),
]

PEOPLE: list[tuple[str, str]] = [
    ("Dana White", "danaw"),
    ("Priya Kapoor", "priyak"),
    ("Marta Jovanović", "marta_j"),
    ("Sam Ortega", "samo"),
    ("Lucía Fernández", "luciaf"),
    ("Jean Dupont", "jdupont"),
    ("Klaus Becker", "kbecker"),
    ("Amara Okafor", "amarao"),
    ("Tom Fisher", "tomfish"),
    ("Yuki Tanaka", "yukit"),
    ("Omar Haddad", "omarh"),
    ("Grace Lee", "gracelee"),
    ("Chidi Eze", "chidie"),
    ("Ines Costa", "inesc"),
    ("Bob <script>alert(1)</script>", "not_a_hacker"),
]
FOLLOWERS = [12, 85, 430, 2_100, 18_000, 250_000, 40]
FIRST_NAMES = [
    "Alex",
    "Maria",
    "Chen",
    "Fatima",
    "Lars",
    "Aisha",
    "Diego",
    "Emma",
    "Kofi",
    "Sofia",
    "Ivan",
    "Mei",
    "Noah",
    "Zara",
    "Luca",
    "Hana",
    "Ravi",
    "Olga",
    "Pedro",
    "Nina",
]
LAST_NAMES = [
    "Smith",
    "García",
    "Wang",
    "Khan",
    "Berg",
    "Diallo",
    "Rossi",
    "Novak",
    "Silva",
    "Kim",
    "Müller",
    "Dubois",
    "Ahmed",
    "Popescu",
    "Jensen",
    "Moreau",
    "Tanaka",
    "Costa",
    "Nowak",
    "Reyes",
]
CAST_SIZE = 20_000
CITIES = ["Leeds", "Bristol", "Madrid", "Lyon", "Berlin", "Manchester", "Sevilla", "Hamburg"]


def person(index: int) -> tuple[str, str]:
    """(name, handle) of cast member ``index``; the first few are the named regulars."""
    if index < len(PEOPLE):
        return PEOPLE[index]
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return f"{first} {last}", f"{first.lower()}{index}"


@dataclass(frozen=True)
class OpenThread:
    """A thread a sandbox customer may write in again."""

    channel: str
    thread_key: str
    author: Author


class SandboxSource:
    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)

    def _author(self) -> Author:
        """Mostly regulars, often someone new: a cast of thousands with a few loud returning voices."""
        index = self.rng.randrange(len(PEOPLE)) if self.rng.random() < 0.6 else self.rng.randrange(CAST_SIZE)
        name, handle = person(index)
        followers = FOLLOWERS[index % len(FOLLOWERS)]  # a person's audience is stable from post to post
        return Author(
            platform=Platform.SANDBOX,
            external_id=f"sandbox-user-{index}",
            handle=handle,
            display_name=name,
            followers_count=followers,
            verified=followers >= 100_000,
        )

    def _fill(self, text: str) -> str:
        return text.format(
            order=f"NW-{self.rng.randrange(10_000, 99_999)}",
            city=self.rng.choice(CITIES),
            code=f"E-{self.rng.randrange(10, 99)}",
        )

    def posts(
        self,
        count: int,
        *,
        now: datetime,
        open_threads: Sequence[OpenThread] = (),
        window_seconds: float = 60.0,
        account_id: int | None = None,
    ) -> list[InboundPost]:
        """``count`` posts written during the ``window_seconds`` before ``now``."""
        posts = []
        for _ in range(count):
            sent_at = now - timedelta(seconds=self.rng.uniform(0, window_seconds))
            external_id = f"sbx-{uuid.UUID(int=self.rng.getrandbits(128))}"
            if open_threads and self.rng.random() < 0.2:
                thread = self.rng.choice(list(open_threads))
                language, text = self.rng.choice(FOLLOW_UPS)
                posts.append(
                    InboundPost(
                        platform=Platform.SANDBOX,
                        channel=thread.channel,
                        external_id=external_id,
                        thread_key=thread.thread_key,
                        in_reply_to_external_id=thread.thread_key,
                        author=thread.author,
                        text=text,
                        sent_at=sent_at,
                        raw={"source": "sandbox", "kind": "follow_up", "lang": language},
                        account_id=account_id,
                    )
                )
                continue
            kind, language, template = self.rng.choice(POSTS)
            channel = Channel.SANDBOX_PRIVATE if self.rng.random() < 0.3 else Channel.SANDBOX_PUBLIC
            posts.append(
                InboundPost(
                    platform=Platform.SANDBOX,
                    channel=channel,
                    external_id=external_id,
                    thread_key=external_id,
                    author=self._author(),
                    text=self._fill(template),
                    sent_at=sent_at,
                    raw={"source": "sandbox", "kind": kind, "lang": language},
                    account_id=account_id,
                )
            )
        return posts
