"""Response templates with variables, rendered for one conversation and agent."""

from __future__ import annotations

import string
from typing import Any

from core.models import Conversation

VARIABLES = {
    "customer_name": "The customer's name",
    "customer_first_name": "The first word of the customer's name",
    "agent_name": "Your first name",
    "agent_full_name": "Your full name",
    "case_reference": "The conversation's reference, e.g. #1042",
    "queue": "The queue's name",
    "channel": "Where the customer wrote (X, Facebook...)",
    "category": "The conversation's category",
}


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # an unknown variable stays visible for the agent to fix


def variables_for(conversation: Conversation, agent: Any) -> dict[str, str]:
    name = conversation.contact.display_name
    return {
        "customer_name": name,
        "customer_first_name": name.split()[0] if name.split() else name,
        "agent_name": agent.first_name or agent.get_username(),
        "agent_full_name": agent.get_full_name() or agent.get_username(),
        "case_reference": f"#{conversation.pk}",
        "queue": conversation.queue.name if conversation.queue else "",
        "channel": conversation.get_channel_display(),
        "category": conversation.category,
    }


def render(body: str, conversation: Conversation, agent: Any) -> str:
    """The template's text with variables filled in; malformed braces are left as written."""
    values = _Values(variables_for(conversation, agent))
    try:
        return string.Formatter().vformat(body, (), values)
    except (ValueError, IndexError, KeyError, AttributeError):
        return body
