"""Who may call every /api/v1/ endpoint: one matrix over every URL pattern, method and persona.

The matrix says, for each (route name, method), the least role that may call
it. Anonymous callers must get 401, roles below the least one 403, and the
others anything but 401/403 and never a 5xx (an empty body may well be a
400: permission is checked before input). A route added to
contactcenter/api/urls.py without a row here fails
``test_every_endpoint_is_in_the_matrix``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import URLPattern
from django.utils import timezone
from rest_framework.test import APIClient

from contactcenter.api import urls as api_urls
from core.models import Conversation
from responses.models import KnowledgeArticle, ResponseTemplate
from routing.models import Offer, Queue, RoutingRule, Skill
from tests.states import conversation_in_state

ANY, SUPERVISOR, ADMIN = "agent", "supervisor", "admin"
RANK = {"anonymous": 0, "agent": 1, "supervisor": 2, "admin": 3}
PERSONAS = ("anonymous", "agent", "supervisor", "admin")

MATRIX: dict[tuple[str, str], str] = {
    ("api-staffing-erlang-c", "get"): SUPERVISOR,
    ("api-staffing-plan", "get"): SUPERVISOR,
    ("api-report", "get"): SUPERVISOR,
    ("api-conversations", "get"): ANY,
    ("api-conversation", "get"): ANY,
    ("api-conversation-messages", "get"): ANY,
    ("api-conversation-templates", "get"): ANY,
    ("api-conversation-replies", "post"): ANY,
    ("api-conversation-transfer", "post"): ANY,
    ("api-conversation-escalate", "post"): ANY,
    ("api-conversation-resolve", "post"): ANY,
    ("api-conversation-reopen", "post"): ANY,
    ("api-contacts", "get"): ANY,
    ("api-contact", "get"): ANY,
    ("api-contact-merge", "post"): SUPERVISOR,
    ("api-agents", "get"): SUPERVISOR,
    ("api-agent", "get"): SUPERVISOR,
    ("api-agent-me", "get"): ANY,
    ("api-agent-presence", "post"): ANY,
    ("api-offers", "get"): ANY,
    ("api-offer-accept", "post"): ANY,
    ("api-offer-decline", "post"): ANY,
    ("api-queues", "get"): ANY,
    ("api-queues", "post"): ADMIN,
    ("api-queue", "get"): ANY,
    ("api-queue", "patch"): ADMIN,
    ("api-queue", "delete"): ADMIN,
    ("api-skills", "get"): ANY,
    ("api-skills", "post"): ADMIN,
    ("api-skill", "get"): ANY,
    ("api-skill", "patch"): ADMIN,
    ("api-skill", "delete"): ADMIN,
    ("api-routing-rules", "get"): ADMIN,
    ("api-routing-rules", "post"): ADMIN,
    ("api-routing-rule", "get"): ADMIN,
    ("api-routing-rule", "patch"): ADMIN,
    ("api-routing-rule", "delete"): ADMIN,
    ("api-replies-held", "get"): SUPERVISOR,
    ("api-reply-approve", "post"): SUPERVISOR,
    ("api-reply-reject", "post"): SUPERVISOR,
    ("api-templates", "get"): ANY,
    ("api-templates", "post"): SUPERVISOR,
    ("api-template", "get"): ANY,
    ("api-template", "patch"): SUPERVISOR,
    ("api-template", "delete"): SUPERVISOR,
    ("api-knowledge", "get"): ANY,
    ("api-knowledge", "post"): SUPERVISOR,
    ("api-knowledge-article", "get"): ANY,
    ("api-knowledge-article", "patch"): SUPERVISOR,
    ("api-knowledge-article", "delete"): SUPERVISOR,
}

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def api_routes() -> dict[tuple[str, str], URLPattern]:
    """(route name, method) for every method every /api/v1/ view answers."""
    routes = {}
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern) and pattern.name, pattern
        view = pattern.callback.view_class  # type: ignore[attr-defined]
        for method in HTTP_METHODS:
            if hasattr(view, method):
                routes[(pattern.name, method)] = pattern
    return routes


ROUTES = api_routes()


def test_every_endpoint_is_in_the_matrix() -> None:
    assert set(ROUTES) == set(MATRIX), (
        f"not in the matrix: {sorted(set(ROUTES) - set(MATRIX))}; gone: {sorted(set(MATRIX) - set(ROUTES))}"
    )


@pytest.fixture
def world(agent: Any, queue: Queue, make_post: Any) -> dict[str, Any]:
    """One of everything, the conversation assigned to the agent persona (so an agent may act on it)."""
    conversation: Conversation = conversation_in_state("assigned", make_post(), queue=queue, agent=agent)
    skill = Skill.objects.create(name="billing")
    waiting = conversation_in_state("queued", make_post(), queue=queue, agent=agent)
    now = timezone.now()
    offer = Offer.objects.create(
        conversation=waiting, agent=agent, offered_at=now, expires_at=now + timedelta(seconds=20)
    )
    return {
        "offer_id": offer.pk,
        "name": "volumes",
        "conversation_id": conversation.pk,
        "contact_id": conversation.contact_id,
        "user_id": agent.pk,
        "queue_id": queue.pk,
        "skill_id": skill.pk,
        "rule_id": RoutingRule.objects.create(name="All", queue=queue).pk,
        "template_id": ResponseTemplate.objects.create(name="Sorry", shortcut="sorry", body="Sorry!").pk,
        "article_id": KnowledgeArticle.objects.create(title="Routers", body="Restart it.").pk,
        "message_id": conversation.messages.first().pk,  # type: ignore[union-attr]
    }


def url_of(pattern: URLPattern, world: dict[str, Any]) -> str:
    route = str(pattern.pattern)
    for name, value in world.items():
        for converter in ("id", "slug"):
            route = route.replace(f"<{converter}:{name}>", str(value))
    assert "<" not in route, route
    return "/api/v1/" + route


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "method"), sorted(MATRIX))
def test_each_role_gets_what_the_matrix_says(
    request: pytest.FixtureRequest, world: dict[str, Any], name: str, method: str, persona: str
) -> None:
    client = APIClient()
    if persona != "anonymous":
        client.force_authenticate(request.getfixturevalue({"admin": "admin_user"}.get(persona, persona)))
    url = url_of(ROUTES[(name, method)], world)

    response = getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)

    least = MATRIX[(name, method)]
    if persona == "anonymous":
        assert response.status_code == 401, response.content
    elif RANK[persona] < RANK[least]:
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "permission_denied"
    else:
        assert response.status_code not in (401, 403), response.content
        assert response.status_code < 500, response.content


# --- Object level: what an agent of another team may not see ---------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "conversations/{conversation_id}/",
        "conversations/{conversation_id}/messages/",
        "conversations/{conversation_id}/templates/",
        "contacts/{contact_id}/",
    ],
)
def test_an_agent_of_another_team_cannot_see_anothers_conversation_by_id(
    world: dict[str, Any], other_agent: Any, path: str
) -> None:
    client = APIClient()
    client.force_authenticate(other_agent)

    response = client.get("/api/v1/" + path.format(**world))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("action", ["replies", "transfer", "escalate", "resolve"])
def test_an_agent_of_another_team_cannot_act_on_it(world: dict[str, Any], other_agent: Any, action: str) -> None:
    client = APIClient()
    client.force_authenticate(other_agent)

    response = client.post(f"/api/v1/conversations/{world['conversation_id']}/{action}/", {}, format="json")

    assert response.status_code == 404
