"""What responses does when the core tells it something (``core.hooks``); registered in ``ResponsesConfig.ready``."""

from __future__ import annotations

from typing import Any

from core.models import Conversation
from responses.models import ResponseTemplate, ReviewRule
from responses.surveys import do_invite_to_survey
from routing.models import Queue


def invite_to_survey(conversation: Conversation) -> None:
    do_invite_to_survey(conversation)


def name_queue_uses(instance: Any, found: list[tuple[str, Any]]) -> None:
    """A queue about to be deleted: the templates and review rules that would go with it."""
    if isinstance(instance, Queue):
        found.append(("response templates", ResponseTemplate.objects.filter(queue=instance)))
        found.append(("review rules", ReviewRule.objects.filter(queue=instance)))
