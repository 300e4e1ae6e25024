"""The demo's listening rules (what the sandbox's noise and topics are sorted by) and its mailbox.

Used by ``seed_demo`` and by ``bench ingest``, so the benchmark measures the
pipeline with the rules a real deployment would have.
"""

from __future__ import annotations

from monitoring.mailboxes import do_set_mailbox_queue
from monitoring.models import ClassificationRule, FilterRule, Mailbox, SocialAccount, SocialPlatform
from routing.models import Queue, Skill

DEMO_MAILBOX = "demo"
"""The demo mailbox's name: ``python manage.py receive_email demo < message.eml`` delivers to it."""
DEMO_ADDRESS = "help@northwind.example"
DEMO_SIGNATURE = "Northwind Help\nWe answer every email within a working day.\nhttps://northwind.example/help"

SKILLS = ["billing", "outages", "spanish", "french", "german", "vip care"]

# name, keywords, language, category, skills, priority boost
CLASSIFICATION: list[tuple[str, list[str], str, str, list[str], int]] = [
    (
        "Outages",
        [
            "down",
            "outage",
            "offline",
            "no connection",
            "error e-",
            "sin internet",
            "pas de connexion",
            "kein internet",
            "drops out",
        ],
        "",
        "outage",
        ["outages"],
        10,
    ),
    (
        "Billing",
        ["bill", "invoice", "charged", "refund", "plan", "factura", "forfait", "rechnung", "cancellation fee"],
        "",
        "billing",
        ["billing"],
        0,
    ),
    ("Praise", ["thanks", "thank you", "great job", "gracias", "merci"], "", "praise", [], -10),
    ("Spanish speakers", [], "es", "", ["spanish"], 0),
    ("French speakers", [], "fr", "", ["french"], 0),
    ("German speakers", [], "de", "", ["german"], 0),
]


def seed_triage_rules() -> None:
    """Skills, a spam filter and the classification rules above; what exists is left alone."""
    skills = {name: Skill.objects.get_or_create(name=name)[0] for name in SKILLS}
    FilterRule.objects.get_or_create(
        name="Spam offers",
        defaults={"pattern": r"(crypto|free followers|earn \$\d+|click my bio)", "is_regex": True},
    )
    for order, (name, keywords, language, category, skill_names, boost) in enumerate(CLASSIFICATION, start=1):
        rule, created = ClassificationRule.objects.get_or_create(
            name=name,
            defaults={
                "order": order * 10,
                "keywords": keywords,
                "language": language,
                "category": category,
                "priority_boost": boost,
            },
        )
        if created:
            rule.skills.set([skills[s] for s in skill_names])


def seed_demo_mailbox(queue: Queue) -> Mailbox:
    """The demo mailbox, its mail routed to ``queue``; a mailbox that exists is left as it is.

    No IMAP host (its mail comes from the sandbox and the pipe command) and no SMTP host (replies go out
    through Django's ``EMAIL_BACKEND``, the console in development).
    """
    account, _ = SocialAccount.objects.get_or_create(
        platform=SocialPlatform.EMAIL,
        external_id=DEMO_ADDRESS,
        defaults={"name": DEMO_MAILBOX, "handle": DEMO_ADDRESS},
    )
    mailbox, created = Mailbox.objects.get_or_create(
        account=account,
        defaults={"address": DEMO_ADDRESS, "from_name": "Northwind Help", "signature": DEMO_SIGNATURE},
    )
    if created:
        do_set_mailbox_queue(account, mailbox.address, queue)
    return mailbox
