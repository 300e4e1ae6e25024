"""Response templates are plain ``{name}`` substitution: no format specs, no attribute access, bounded output.

Security probe finding 5: templates were ``str.format`` strings, so a body
``{customer_name:>1000000000000}`` made the composer's ``/`` picker and the
templates API answer 500 (MemoryError) for every agent, and
``{customer_name.__class__.__mro__[1].__subclasses__}`` printed Python internals.
Bodies like those are refused when saved (admin and API); one stored before the
rules (written straight to the database here, as old rows are) renders as literal
text, and no rendered template is longer than the longest reply a platform takes.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from contactcenter.management.commands.seed_demo import TEMPLATES as DEMO_TEMPLATES
from core.models import Conversation
from responses.models import ResponseTemplate
from responses.templating import fill, problems
from routing.models import Queue
from tests.states import conversation_in_state

HUGE_WIDTH = "{customer_name:>1000000000000}"
INTERNALS = "{customer_name.__class__.__mro__[1].__subclasses__}"
MALICIOUS = pytest.mark.parametrize("body", [HUGE_WIDTH, INTERNALS], ids=["huge-width", "internals"])
# What Python's internals look like when printed: "<built-in method __subclasses__ of type object ...>".
INTERNAL_MARKERS = ("<built-in", "<class", "object at 0x", "__subclasses__ of")

# The longest reply any platform accepts: an X direct message (10,000 characters).
LONGEST_REPLY = 10_000


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def conversation(make_post: Any, queue: Queue, agent: Any) -> Conversation:
    """Dana White's tweet, in the General queue, assigned to Ana."""
    return conversation_in_state("assigned", make_post(name="Dana White"), queue=queue, agent=agent)


def stored(body: str, shortcut: str = "bad") -> ResponseTemplate:
    """A template written straight to the database, bypassing validation, as rows saved before the rules were."""
    return ResponseTemplate.objects.create(name="Stored before the rules", shortcut=shortcut, body=body)


def picker(agent: Any, conversation: Conversation, query: str) -> list[dict[str, str]]:
    response = client_for(agent).get(f"/conversations/{conversation.pk}/templates/", {"q": query})
    assert response.status_code == 200, response.content[:500]
    templates: list[dict[str, str]] = response.json()["templates"]
    return templates


def assert_no_internals(text: str) -> None:
    for marker in INTERNAL_MARKERS:
        assert marker not in text, text[:500]


# --- Stored bad bodies: every door answers, as literal text ------------------------------------------


@MALICIOUS
def test_the_slash_picker_shows_a_stored_bad_template_as_literal_text(
    body: str, agent: Any, conversation: Conversation
) -> None:
    stored(body)

    templates = picker(agent, conversation, "/bad")

    assert templates == [{"shortcut": "bad", "name": "Stored before the rules", "text": body}]


@MALICIOUS
def test_the_conversation_templates_api_shows_a_stored_bad_template_as_literal_text(
    body: str, agent: Any, conversation: Conversation
) -> None:
    stored(body)

    response = api(agent).get(f"/api/v1/conversations/{conversation.pk}/templates/", {"q": "/bad"})

    assert response.status_code == 200, response.content[:500]
    assert response.json() == [{"shortcut": "bad", "name": "Stored before the rules", "text": body}]
    assert_no_internals(response.content.decode())


@MALICIOUS
def test_the_templates_api_lists_and_shows_a_stored_bad_template(body: str, agent: Any, supervisor: Any) -> None:
    template = stored(body)

    for user in (agent, supervisor):
        listed = api(user).get("/api/v1/templates/")
        detail = api(user).get(f"/api/v1/templates/{template.pk}/")

        assert listed.status_code == 200, listed.content[:500]
        assert [t["body"] for t in listed.json()["results"]] == [body]
        assert detail.status_code == 200, detail.content[:500]
        assert detail.json()["body"] == body
        assert_no_internals(listed.content.decode() + detail.content.decode())


def test_a_stored_template_with_a_bad_placeholder_still_fills_in_its_good_ones(
    agent: Any, conversation: Conversation
) -> None:
    stored("Hi {customer_name}, {customer_name!r} {customer_name[0]} {unknown} { and } ref {case_reference}")

    [template] = picker(agent, conversation, "/bad")

    assert template["text"] == (
        f"Hi Dana White, {{customer_name!r}} {{customer_name[0]}} {{unknown}} {{ and }} ref #{conversation.pk}"
    )


def test_a_stored_body_longer_than_any_reply_is_cut_at_the_longest_reply(
    agent: Any, conversation: Conversation
) -> None:
    stored("x" * 1_000_000)

    [template] = picker(agent, conversation, "/bad")

    assert template["text"] == "x" * LONGEST_REPLY


# --- Saving: the admin and the API refuse bad bodies with a message naming the problem ----------------

REFUSED = [
    (HUGE_WIDTH, "format spec"),
    (INTERNALS, "attribute"),
    ("Hi {customer_name!r}", "conversion"),
    ("Hi {customer_name[0]}", "index"),
    ("Hi {customer_name.title}", "attribute"),
    ("Hi {customer_nam}", "{customer_nam} is not a variable"),
    ("Hi {}", "{} names no variable"),
    ("Hi {0}", "{0} is not a variable"),
    ("Hi { customer_name }", "spaces inside the braces"),
    ("Hi {customer_name", "never closed"),
    ("Hi customer_name}", "closes nothing"),
    ("Hi {customer_name}}", "closes nothing"),
]
REFUSED_BODIES = pytest.mark.parametrize("body, message", REFUSED, ids=[body for body, _ in REFUSED])


@REFUSED_BODIES
def test_the_admin_refuses_a_bad_template_body_saying_why(body: str, message: str, admin_user: Any) -> None:
    response = client_for(admin_user).post(
        reverse("admin:responses_responsetemplate_add"),
        {"name": "Bad", "shortcut": "bad", "body": body, "language": "", "is_active": "on"},
    )

    assert response.status_code == 200, "the form is shown again, not saved and redirected"
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["body"]
    assert message in " ".join(errors["body"]), errors["body"]
    assert not ResponseTemplate.objects.exists()


@REFUSED_BODIES
def test_the_api_refuses_a_bad_template_body_saying_why(body: str, message: str, supervisor: Any) -> None:
    response = api(supervisor).post(
        "/api/v1/templates/", {"name": "Bad", "shortcut": "bad", "body": body}, format="json"
    )

    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["code"] == "invalid"
    assert message in " ".join(answer["fields"]["body"]), answer
    assert not ResponseTemplate.objects.exists()


def test_the_api_refuses_changing_a_good_template_into_a_bad_one_and_keeps_the_good_one(supervisor: Any) -> None:
    template = ResponseTemplate.objects.create(name="Sorry", shortcut="sorry", body="Sorry {customer_name}")

    response = api(supervisor).patch(f"/api/v1/templates/{template.pk}/", {"body": HUGE_WIDTH}, format="json")

    assert response.status_code == 400, response.content
    assert "format spec" in " ".join(response.json()["fields"]["body"])
    template.refresh_from_db()
    assert template.body == "Sorry {customer_name}"


def test_saving_a_body_longer_than_the_longest_reply_is_refused(supervisor: Any, admin_user: Any) -> None:
    body = "x" * (LONGEST_REPLY + 1)

    response = api(supervisor).post(
        "/api/v1/templates/", {"name": "Long", "shortcut": "long", "body": body}, format="json"
    )
    page = client_for(admin_user).post(
        reverse("admin:responses_responsetemplate_add"),
        {"name": "Long", "shortcut": "long", "body": body, "language": "", "is_active": "on"},
    )

    assert response.status_code == 400 and "body" in response.json()["fields"], response.content[:500]
    assert "at most 10,000 characters" in " ".join(page.context["adminform"].form.errors["body"])
    assert not ResponseTemplate.objects.exists()


def test_a_body_of_exactly_the_longest_reply_is_saved(supervisor: Any) -> None:
    body = "x" * LONGEST_REPLY
    response = api(supervisor).post(
        "/api/v1/templates/", {"name": "Long", "shortcut": "long", "body": body}, format="json"
    )
    assert response.status_code == 201, response.content[:500]


# --- What templates can say ----------------------------------------------------------------------------


def test_every_variable_renders(agent: Any, conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(category="billing")
    body = (
        "{customer_name}|{customer_first_name}|{agent_name}|{agent_full_name}|"
        "{case_reference}|{queue}|{channel}|{category}"
    )
    ResponseTemplate.objects.create(name="All", shortcut="all", body=body)

    [template] = picker(agent, conversation, "/all")

    assert template["text"] == f"Dana White|Dana|Ana|Ana|#{conversation.pk}|General|X public reply|billing"


def test_each_documented_variable_is_accepted_when_saved(supervisor: Any) -> None:
    names = [
        "customer_name",
        "customer_first_name",
        "agent_name",
        "agent_full_name",
        "case_reference",
        "queue",
        "channel",
        "category",
    ]
    body = " ".join("{" + name + "}" for name in names)

    response = api(supervisor).post(
        "/api/v1/templates/", {"name": "All", "shortcut": "all", "body": body}, format="json"
    )

    assert response.status_code == 201, response.content


def test_doubled_braces_are_literal_braces_when_saved_and_rendered(
    supervisor: Any, agent: Any, conversation: Conversation
) -> None:
    body = "Code {{customer_name}} means {customer_name}; {{}} and {{{case_reference}}}"

    response = api(supervisor).post(
        "/api/v1/templates/", {"name": "Braces", "shortcut": "braces", "body": body}, format="json"
    )
    assert response.status_code == 201, response.content

    [template] = picker(agent, conversation, "/braces")
    assert template["text"] == f"Code {{customer_name}} means Dana White; {{}} and {{#{conversation.pk}}}"


def test_a_customer_named_like_a_variable_is_shown_as_named(make_post: Any, queue: Queue, agent: Any) -> None:
    post = make_post(name="{agent_full_name} {{x}}", author_id="3301999")
    conversation = conversation_in_state("assigned", post, queue=queue, agent=agent)
    ResponseTemplate.objects.create(name="Hi", shortcut="hi", body="Hi {customer_name}")

    [template] = picker(agent, conversation, "/hi")

    assert template["text"] == "Hi {agent_full_name} {{x}}"


def test_the_demo_templates_are_valid_and_render_as_before(agent: Any, conversation: Conversation) -> None:
    for name, shortcut, body in DEMO_TEMPLATES:
        assert problems(body) == [], shortcut
        ResponseTemplate.objects.create(name=name, shortcut=shortcut, body=body)

    [outage] = picker(agent, conversation, "/outage")

    assert outage["text"] == (
        "Hi Dana White, sorry about the outage. Our engineers are on it; "
        f"we will update you here. Ref #{conversation.pk}. ^Ana"
    )


def test_a_valid_template_filled_with_long_names_is_cut_at_the_longest_reply(
    make_post: Any, queue: Queue, agent: Any
) -> None:
    name = "D" * 200  # the longest name a contact keeps
    conversation = conversation_in_state(
        "assigned", make_post(name=name, author_id="3301888"), queue=queue, agent=agent
    )
    body = "{customer_name}" * 600  # 9,000 characters, 120,000 once filled in
    ResponseTemplate.objects.create(name="Long", shortcut="long", body=body)

    [template] = picker(agent, conversation, "/long")

    assert template["text"] == "D" * LONGEST_REPLY


# --- The admin finds templates stored before the rules --------------------------------------------------


def test_the_admin_lists_the_stored_templates_that_need_fixing(admin_user: Any) -> None:
    stored(INTERNALS, shortcut="internals")
    stored(HUGE_WIDTH, shortcut="huge")
    ResponseTemplate.objects.create(name="Fine", shortcut="fine", body="Hi {customer_name}")
    changelist = reverse("admin:responses_responsetemplate_changelist")

    needing_fixes = client_for(admin_user).get(changelist, {"syntax": "invalid"})
    valid = client_for(admin_user).get(changelist, {"syntax": "valid"})

    assert needing_fixes.status_code == valid.status_code == 200
    assert {t.shortcut for t in needing_fixes.context["cl"].result_list} == {"internals", "huge"}
    assert {t.shortcut for t in valid.context["cl"].result_list} == {"fine"}


# --- Any text at all ---------------------------------------------------------------------------------------

PIECES = st.sampled_from(
    [
        *["{", "}", "{{", "}}", ":", "!", ".", "[", "]", "0", " ", "x", "é", "\n", "{}", "{customer_name}", "{queue}"],
        *["{customer_name:>99999999999}", "{queue.__class__}", "{customer_name!r}", "{nope}", "{ queue }"],
    ]
)
TEXTS = st.one_of(st.text(max_size=300), st.lists(PIECES, max_size=400).map("".join))
VALUES = {"customer_name": "N" * 200, "queue": "{queue}"}


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_any_template_text_renders_without_error_and_within_the_longest_reply(body: str) -> None:
    text = fill(body, VALUES)

    assert isinstance(text, str)
    assert len(text) <= LONGEST_REPLY
    assert_no_internals(text)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_any_template_text_is_judged_without_error(body: str) -> None:
    assert isinstance(problems(body), list)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_a_valid_template_renders_as_str_format_rendered_it(body: str) -> None:
    """Every template the rules accept meant the same under str.format: existing templates keep their text."""
    if problems(body):
        return
    assert fill(body, VALUES) == body.format_map(VALUES)[:LONGEST_REPLY]


def test_a_body_full_of_problems_is_answered_with_the_first_ten_and_a_note(supervisor: Any) -> None:
    body = " ".join("}" for _ in range(500))

    response = api(supervisor).post(
        "/api/v1/templates/", {"name": "Braces", "shortcut": "braces", "body": body}, format="json"
    )

    assert response.status_code == 400
    sentences = response.json()["fields"]["body"]
    assert sentences[:2] == [
        "The “}” at character 1 closes nothing: remove it, or write }} for a literal brace.",
        "The “}” at character 3 closes nothing: remove it, or write }} for a literal brace.",
    ]
    assert len(sentences) == 11
    assert sentences[-1] == "There are more problems: fix these first."
