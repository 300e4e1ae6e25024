"""The demo's mailbox: seeded once, routed to its queue, and the README's command delivers the example email to it.

Requirement (issue 19): ``seed_demo`` creates a mailbox named ``demo`` (no IMAP host, no SMTP host, a signature)
whose mail goes to a demo queue by the mailbox's queue rule, like a mailbox made in the admin; and
``python manage.py receive_email demo < docs/examples/message.eml``, as the README gives it, stores the example
as a conversation on channel email.
"""

from __future__ import annotations

import re
import shlex
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from core.models import Channel, Conversation, Message
from monitoring.models import Mailbox
from routing.models import ChannelWeight, RoutingRule
from tests.emails import deliver

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings: Any) -> None:
    settings.DATABASE_URL = None
    call_command("seed_demo", posts=0, emails=0, stdout=StringIO())


def readme_command() -> list[str]:
    """The README's one line on the demo mailbox, as a shell would split it."""
    (line,) = [line for line in (ROOT / "README.md").read_text().splitlines() if "receive_email" in line]
    (command,) = re.findall(r"`(python manage\.py receive_email [^`]+)`", line)
    return shlex.split(command)


def test_seed_demo_makes_the_demo_mailbox_once_with_its_queue(seeded: None, settings: Any) -> None:
    mailbox = Mailbox.objects.select_related("account").get()
    assert (mailbox.account.name, mailbox.account.platform, mailbox.address) == ("demo", "email", mailbox.address)
    assert mailbox.address.endswith(".example") and mailbox.from_name and mailbox.signature
    assert not mailbox.imap_host and not mailbox.smtp_host
    rule = RoutingRule.objects.get(account=mailbox.account)
    assert rule.queue.name == "Email" and rule.name == f"Mailbox {mailbox.address}"
    assert ChannelWeight.objects.filter(channel=Channel.EMAIL).exists()

    call_command("seed_demo", posts=0, emails=0, stdout=StringIO())
    assert Mailbox.objects.count() == 1 and RoutingRule.objects.filter(account=mailbox.account).count() == 1


def test_the_admin_shows_the_demo_mailbox_with_the_queue_seed_demo_gave_it(seeded: None, client: Any) -> None:
    client.force_login(get_user_model().objects.get(username="admin"))
    mailbox = Mailbox.objects.get()
    form = client.get(reverse("admin:monitoring_mailbox_change", args=[mailbox.pk])).context["adminform"].form
    assert form.initial["queue"] == RoutingRule.objects.get(account=mailbox.account).queue_id
    assert form.initial["name"] == "demo"


def test_the_readme_command_delivers_the_example_email_into_an_email_conversation(seeded: None) -> None:
    python, manage, command, mailbox, redirect, path = readme_command()
    assert (python, manage, command, redirect) == ("python", "manage.py", "receive_email", "<")
    out = deliver((ROOT / path).read_bytes(), mailbox=mailbox)
    assert "Stored for" in out

    (message,) = Message.objects.filter(platform="email")
    conversation = message.conversation
    assert conversation is not None and conversation.channel == Channel.EMAIL
    assert conversation.subject.startswith("Router blinks red")
    assert message.author_identity is not None and message.author_identity.display_name == "Marta Jovanović"
    assert "the router's light blinks red" in message.text
    assert Conversation.objects.get().queue.name == "Email"  # nothing about outages or bills: the mailbox's queue
