"""Response templates with variables, rendered for one conversation and agent.

The template language is deliberately tiny: ``{name}`` is replaced by the
variable ``name`` (one of ``VARIABLES``), ``{{`` and ``}}`` stand for literal
braces, and everything else is text. There is nothing more: no format specs
(``{x:>9}``), conversions (``{x!r}``), attribute or index access (``{x.y}``,
``{x[0]}``). Templates used to be ``str.format`` strings, whose mini-language
let whoever wrote a template exhaust the server's memory (a width of 10**12) or
print Python internals (``{x.__class__.__mro__}``); the syntax kept is the
subset of ``str.format`` that valid templates used, so they render as before.

``problems`` is what the admin's form (and so the API) refuses a body with.
``render`` never raises and never expands anything but a known variable: a
template saved before these rules keeps its bad placeholder as literal text, for
the agent to see and a supervisor to fix; and the text is cut at ``MAX_LENGTH``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
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

# The longest reply any platform accepts (an X direct message, a sandbox private
# message: responses.platform_rules). A longer template could never be sent, so
# it is the most a body may hold and the most a rendered template may be.
MAX_LENGTH = 10_000
MAX_PROBLEMS = 10

# Left to right, as str.format reads: a doubled brace is a literal brace, then a
# placeholder (braces around anything but braces), then a stray brace, then text.
_TOKENS = re.compile(r"(?P<open>\{\{)|(?P<close>\}\})|\{(?P<field>[^{}]*)\}|(?P<stray>[{}])|(?P<text>[^{}]+)")
_VARIABLE_LIST = ", ".join("{" + name + "}" for name in VARIABLES)


@dataclass(frozen=True)
class _Token:
    start: int
    source: str  # the characters as written
    literal: str | None  # text to copy as is; None for a placeholder
    variable: str | None = None  # a known variable's name; None for a bad placeholder or text


def _tokens(body: str) -> Iterator[_Token]:
    for match in _TOKENS.finditer(body):
        source = match.group()
        if match["open"]:
            yield _Token(match.start(), source, "{")
        elif match["close"]:
            yield _Token(match.start(), source, "}")
        elif match["field"] is not None:
            field = match["field"]
            yield _Token(match.start(), source, None, field if field in VARIABLES else None)
        else:
            yield _Token(match.start(), source, source)


_OPERATORS = {
    ":": "has a format spec (after “:”)",
    "!": "has a conversion (after “!”)",
    ".": "reads an attribute (“.”)",
    "[": "reads an index (“[”)",
}


def _field_problem(field: str) -> str:
    """Why ``{field}`` is not a placeholder, for one that is not a known variable."""
    placeholder = "{" + (field if len(field) <= 60 else field[:57] + "…") + "}"  # quoted, not the whole body
    if not field.strip():
        return f"{placeholder} names no variable: use one of {_VARIABLE_LIST}, or {{{{ and }}}} for literal braces."
    operator = re.search(r"[:!.\[]", field)
    if operator:
        name = field[: operator.start()].strip()
        fix = f"write {{{name}}}" if name in VARIABLES else f"use one of {_VARIABLE_LIST}"
        return f"{placeholder} {_OPERATORS[operator.group()]}, which templates do not allow: {fix}."
    if field.strip() in VARIABLES:
        return f"{placeholder} has spaces inside the braces: write {{{field.strip()}}}."
    return f"{placeholder} is not a variable: use one of {_VARIABLE_LIST}."


def _token_problem(token: _Token) -> str | None:
    if token.literal is None and token.variable is None:
        return _field_problem(token.source[1:-1])
    if token.source == "{":
        return (
            f"The “{{” at character {token.start + 1} is never closed: "
            "close the placeholder, or write {{ for a literal brace."
        )
    if token.source == "}":
        return f"The “}}” at character {token.start + 1} closes nothing: remove it, or write }}}} for a literal brace."
    return None


def problems(body: str) -> list[str]:
    """Why ``body`` is not a valid template, one sentence a problem; empty when it is valid.

    A body too long is judged on its length alone, and at most ``MAX_PROBLEMS``
    sentences are given: the answer to a pasted megabyte of braces stays readable.
    """
    if len(body) > MAX_LENGTH:
        return [f"A template may have at most {MAX_LENGTH:,} characters; this one has {len(body):,}."]
    found: dict[str, None] = {}  # one sentence per distinct problem, in order
    for token in _tokens(body):
        problem = _token_problem(token)
        if problem is None or problem in found:
            continue
        if len(found) == MAX_PROBLEMS:
            return [*found, "There are more problems: fix these first."]
        found[problem] = None
    return list(found)


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


def fill(body: str, values: dict[str, str]) -> str:
    """``body`` with each known variable replaced by its value, at most ``MAX_LENGTH`` characters.

    Never raises: a placeholder that is not a known variable (in a template saved
    before the rules, or a value missing from ``values``) and a stray brace stay
    as written. Values are inserted as they are, never read as template text.
    """
    parts: list[str] = []
    length = 0
    for token in _tokens(body):
        if token.literal is not None:
            part = token.literal
        elif token.variable is not None and token.variable in values:
            part = str(values[token.variable])
        else:
            part = token.source
        parts.append(part)
        length += len(part)
        if length >= MAX_LENGTH:  # stop reading: an old body may be far longer than anything sent
            break
    return "".join(parts)[:MAX_LENGTH]


def render(body: str, conversation: Conversation, agent: Any) -> str:
    """The template's text with this conversation's variables filled in (see ``fill``)."""
    return fill(body, variables_for(conversation, agent))
