"""Seed the demo: people, teams, skills, queues, SLA policies, answers, the demo mailbox, and a first batch of
posts and emails.

Safe to run again: whatever exists is left as it is.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from agents.actions import do_create_user, do_set_agent_skill, do_set_presence
from agents.models import AgentProfile, Team
from chat.demo import seed_demo_chat_channel
from core.models import Conversation
from core.roles import ADMIN, AGENT, SUPERVISOR
from monitoring.demo import DEMO_ADDRESS, DEMO_MAILBOX, seed_demo_mailbox, seed_triage_rules
from monitoring.models import SocialAccount
from monitoring.pipeline import ingest
from monitoring.platforms.sandbox import deliver_sandbox_mail
from monitoring.sandbox import SandboxSource
from monitoring.sandbox_email import SandboxMail
from quality.models import CriterionKind, QaCriterion, QaForm
from responses.models import KnowledgeArticle, ResponseTemplate
from routing.models import ChannelWeight, OverflowKind, OverflowStep, Queue, QueueSkill, RoutingRule, Skill, SLAPolicy

# username, password, role, first name, last name, team
DEMO_SKILLS: dict[str, dict[str, int]] = {
    "supervisor": {"outages": 5, "billing": 5, "vip care": 8},
    "ana": {"outages": 8, "spanish": 6, "vip care": 6},
    "ben": {"outages": 5, "billing": 4, "german": 5},
    "chloe": {"billing": 9, "french": 8},
    "diego": {"billing": 6, "spanish": 9, "outages": 3},
}
DEMO_USERS = [
    ("admin", "switchboard-admin", ADMIN, "Ada", "Admin", None),
    ("supervisor", "switchboard-supervisor", SUPERVISOR, "Sofia", "Supervisor", "Care"),
    ("ana", "switchboard-agent", AGENT, "Ana", "Alvarez", "Care"),
    ("ben", "switchboard-agent", AGENT, "Ben", "Brooks", "Care"),
    ("chloe", "switchboard-agent", AGENT, "Chloé", "Charpentier", "Billing"),
    ("diego", "switchboard-agent", AGENT, "Diego", "Díaz", "Billing"),
]
TEMPLATES = [
    (
        "Apology for outage",
        "outage",
        "Hi {customer_name}, sorry about the outage. Our engineers are on it; "
        "we will update you here. Ref {case_reference}. ^{agent_name}",
    ),
    (
        "Refund follow-up",
        "refund",
        "Hi {customer_name}, I have raised your refund (ref {case_reference}); "
        "it reaches your account in 3 to 5 working days. ^{agent_name}",
    ),
    (
        "Move to DM",
        "dm",
        "Hi {customer_name}, could you send us a private message with your account number "
        "so we can look into this? ^{agent_name}",
    ),
]

# label, weight, kind, max points, critical, guidance
QA_CRITERIA = [
    ("Understood the customer's issue", 3, CriterionKind.POINTS, 5, False, "Answers what was asked, not a guess."),
    ("Tone and empathy", 2, CriterionKind.POINTS, 5, False, "Friendly, human, no blame; fits the channel."),
    ("Accurate and complete answer", 3, CriterionKind.POINTS, 5, False, "Correct facts, next steps, links."),
    ("Moved personal data to a private channel", 2, CriterionKind.PASS_FAIL, 1, True, "Never asks for it in public."),
]


class Command(BaseCommand):
    help = "Create the demo users, configuration and a first batch of sandbox posts (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--posts", type=int, default=20, help="Sandbox posts to capture if there are none yet.")
        parser.add_argument(
            "--emails", type=int, default=6, help="Sandbox emails to deliver to the demo mailbox if there are none yet."
        )
        parser.add_argument(
            "--force", action="store_true", help="Seed even on PostgreSQL (demo passwords are public!)."
        )

    def handle(self, *args: Any, posts: int, emails: int, force: bool, **options: Any) -> None:
        if settings.DATABASE_URL and not force:
            raise CommandError(
                "Refusing to seed demo users with public passwords into DATABASE_URL; pass --force to do it anyway."
            )
        with transaction.atomic():
            created = self._seed_configuration()
        self.stdout.write(f"Demo configuration ready ({created} new users).")
        sandbox = SocialAccount.objects.get(platform="sandbox")
        if not Conversation.objects.exists():
            seed = settings.SANDBOX_SEED or None
            if posts:
                stats = ingest(SandboxSource(seed).posts(posts, now=timezone.now(), account_id=sandbox.pk))
                self.stdout.write(f"Captured {stats.stored} sandbox posts, {stats.new_conversations} conversations.")
            if emails:
                writer = SandboxMail(seed)
                stored = deliver_sandbox_mail(emails, now=timezone.now(), window_seconds=3600, writer=writer)
                self.stdout.write(f"Delivered {stored} sandbox emails to the demo mailbox.")
        self.stdout.write(f"Demo mailbox {DEMO_MAILBOX!r} <{DEMO_ADDRESS}>: receive_email {DEMO_MAILBOX} < message.eml")
        self.stdout.write("Log in at http://127.0.0.1:8000 as:")
        for username, password, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {role:<10} {username:<11} {password}")

    def _seed_configuration(self) -> int:
        standard, _ = SLAPolicy.objects.get_or_create(
            name="Standard social", defaults={"first_response_seconds": 3600, "next_response_seconds": 7200}
        )
        urgent, _ = SLAPolicy.objects.get_or_create(
            name="Urgent", defaults={"first_response_seconds": 900, "next_response_seconds": 1800}
        )
        Queue.objects.get_or_create(
            name="General", defaults={"is_default": True, "sla_policy": standard, "description": "Everything else."}
        )
        outages, new_outages = Queue.objects.get_or_create(
            name="Outages", defaults={"priority": 10, "sla_policy": urgent}
        )
        billing, new_billing = Queue.objects.get_or_create(
            name="Billing", defaults={"priority": 5, "sla_policy": standard}
        )
        email_sla, _ = SLAPolicy.objects.get_or_create(
            name="Email", defaults={"first_response_seconds": 4 * 3600, "next_response_seconds": 8 * 3600}
        )
        letters, _ = Queue.objects.get_or_create(
            name="Email",
            defaults={"sla_policy": email_sla, "description": "Mail to the demo mailbox that no other rule takes."},
        )
        for name, shortcut, body in TEMPLATES:
            ResponseTemplate.objects.get_or_create(shortcut=shortcut, defaults={"name": name, "body": body})
        KnowledgeArticle.objects.get_or_create(
            title="Reading the outage map",
            defaults={"body": "The outage map updates every 5 minutes; a fixed area can take 30 minutes to come back."},
        )
        mailbox = seed_demo_mailbox(letters)
        chat_sla, _ = SLAPolicy.objects.get_or_create(
            name="Chat", defaults={"first_response_seconds": 60, "next_response_seconds": 120}
        )
        chats, _ = Queue.objects.get_or_create(
            name="Chat", defaults={"priority": 20, "sla_policy": chat_sla, "description": "The demo web chat."}
        )
        seed_demo_chat_channel(chats, mailbox)
        SocialAccount.objects.get_or_create(
            platform="sandbox",
            external_id="0",
            defaults={
                "name": "Sandbox",
                "handle": "@northwind_help",
                "poll_interval_seconds": 5,
                "enabled": settings.SANDBOX_ENABLED,
            },
        )
        seed_triage_rules()
        skills = {skill.name: skill for skill in Skill.objects.all()}
        if new_outages:
            QueueSkill.objects.create(queue=outages, skill=skills["outages"], min_level=3)
            OverflowStep.objects.create(queue=outages, after_seconds=300, kind=OverflowKind.LOWER_LEVEL, level_drop=2)
        if new_billing:
            QueueSkill.objects.create(queue=billing, skill=skills["billing"], min_level=3)
            OverflowStep.objects.create(queue=billing, after_seconds=600, kind=OverflowKind.LOWER_LEVEL, level_drop=2)
        for order, (name, category, queue, boost) in enumerate(
            [("Outages to the outage desk", "outage", outages, 5), ("Billing to billing", "billing", billing, 0)],
            start=1,
        ):
            RoutingRule.objects.get_or_create(
                name=name, defaults={"order": order * 10, "category": category, "queue": queue, "priority_boost": boost}
            )
        vip_rule, new_vip = RoutingRule.objects.get_or_create(
            name="VIPs get VIP care",
            defaults={
                "order": 5,
                "contact_vip": True,
                "queue": Queue.objects.get(is_default=True),
                "priority_boost": 20,
            },
        )
        if new_vip:
            vip_rule.extra_skills.set([skills["vip care"]])
        form, new_form = QaForm.objects.get_or_create(
            name="Social reply quality", defaults={"description": "The standard review of a social conversation."}
        )
        if new_form:
            for position, (label, weight, kind, max_points, critical, guidance) in enumerate(QA_CRITERIA):
                QaCriterion.objects.create(
                    form=form,
                    position=position,
                    label=label,
                    weight=weight,
                    kind=kind,
                    max_points=max_points,
                    critical=critical,
                    guidance=guidance,
                )
            QaForm.objects.filter(pk=form.pk).update(active=True)  # active once it has its criteria
        for channel in ("sandbox_private", "x_dm", "facebook_messenger", "email"):
            ChannelWeight.objects.get_or_create(channel=channel, defaults={"weight": 2})
        ChannelWeight.objects.get_or_create(channel="chat", defaults={"weight": 3})  # three chats at once
        User = get_user_model()
        created = 0
        for username, password, role, first, last, team_name in DEMO_USERS:
            if User.objects.filter(username=username).exists():
                continue
            team = Team.objects.get_or_create(name=team_name)[0] if team_name else None
            user = do_create_user(
                username,
                password,
                role=role,
                first_name=first,
                last_name=last,
                team=team,
                email=f"{username}@switchboard.example",
            )
            profile = user.agent_profile  # type: ignore[attr-defined]
            for skill_name, level in DEMO_SKILLS.get(username, {}).items():
                do_set_agent_skill(profile, skills[skill_name].pk, level)
            if username == "ben":
                AgentProfile.objects.filter(pk=profile.pk).update(is_trainee=True)  # his replies need approval
            do_set_presence(profile, "available", cause="login")
            created += 1
        return created
