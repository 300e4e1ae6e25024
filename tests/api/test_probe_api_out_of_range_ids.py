"""Ids beyond 64 bits in API paths, filters and bodies: a 404 or a 400, never a server error.

SQLite refuses integers beyond 64 bits in a query (``OverflowError``) where PostgreSQL compares them; both engines
must answer alike. Every detail route of contactcenter/api/urls.py is walked (as tests/api/test_api_permissions.py does)
with ids just past each end of the signed 64-bit range and far beyond.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api import test_api_permissions
from tests.api.test_api_permissions import MATRIX, ROUTES

world = test_api_permissions.world
"""One of everything, the fixture of the permission matrix's walk."""

OUT_OF_RANGE = [
    pytest.param(str(2**63), id="2^63"),
    pytest.param("99999999999999999999999", id="23-digits"),
    pytest.param("9" * 400, id="400-digits"),
]
NEGATIVE_OUT_OF_RANGE = [
    *OUT_OF_RANGE,
    pytest.param(str(-(2**63) - 1), id="-2^63-1"),
    pytest.param("-99999999999999999999999", id="minus-23-digits"),
]
ID_PARAMETER = re.compile(r"<(?:\w+):(\w+_id)>")


def _detail_routes() -> list[Any]:
    """(name, method, parameter) for every route with an id in its path, for each of its ids."""
    found = []
    for (name, method), pattern in sorted(ROUTES.items()):
        for parameter in ID_PARAMETER.findall(str(pattern.pattern)):
            found.append(pytest.param(name, method, parameter, id=f"{name}-{method}-{parameter}"))
    return found


DETAIL_ROUTES = _detail_routes()


def url_with(name: str, method: str, world: dict[str, Any], parameter: str, value: str) -> str:
    route = str(ROUTES[(name, method)].pattern)
    for key, known in world.items():
        route = re.sub(rf"<\w+:{key}>", value if key == parameter else str(known), route)
    assert "<" not in route, route
    return "/api/v1/" + route


@pytest.fixture
def admin_client(admin_user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def test_every_detail_route_is_walked() -> None:
    # The routes with ids in their paths, written out: a new one joins the walk by itself, this says it did.
    assert {(name, method) for name, method, _ in (p.values for p in DETAIL_ROUTES)} == {
        key
        for key in MATRIX
        if key[0]
        not in {
            "api-staffing-erlang-c",
            "api-staffing-plan",
            "api-report",
            "api-conversations",
            "api-contacts",
            "api-agents",
            "api-agent-me",
            "api-agent-presence",
            "api-offers",
            "api-queues",
            "api-skills",
            "api-routing-rules",
            "api-templates",
            "api-replies-held",
            "api-knowledge",
        }
    }


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize(("name", "method", "parameter"), DETAIL_ROUTES)
def test_an_id_beyond_64_bits_in_the_path_is_not_found(
    world: dict[str, Any], admin_client: APIClient, name: str, method: str, parameter: str, value: str
) -> None:
    url = url_with(name, method, world, parameter, value)

    response = admin_client.get(url) if method == "get" else getattr(admin_client, method)(url, {}, format="json")

    assert response.status_code == 404, response.content[:300]
    assert response.json()["code"] == "not_found"


LIST_FILTERS = [
    pytest.param("/api/v1/conversations/", "queue", id="conversations-queue"),
    pytest.param("/api/v1/conversations/", "assigned_agent", id="conversations-assigned-agent"),
    pytest.param("/api/v1/reports/volumes/", "queue", id="report-queue"),
    pytest.param("/api/v1/reports/volumes/", "agent", id="report-agent"),
    pytest.param("/api/v1/reports/volumes/", "team", id="report-team"),
    pytest.param("/api/v1/reports/volumes/", "account", id="report-account"),
]


@pytest.mark.parametrize("value", NEGATIVE_OUT_OF_RANGE)
@pytest.mark.parametrize(("url", "parameter"), LIST_FILTERS)
def test_an_id_filter_beyond_64_bits_is_a_bad_request(
    world: dict[str, Any], admin_client: APIClient, url: str, parameter: str, value: str
) -> None:
    response = admin_client.get(url, {parameter: value})

    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "invalid"
    assert parameter in response.json()["fields"]


BODIES = [
    pytest.param("post", "/api/v1/conversations/{conversation_id}/transfer/", "queue", {}, id="transfer-queue"),
    pytest.param("post", "/api/v1/conversations/{conversation_id}/transfer/", "agent", {}, id="transfer-agent"),
    pytest.param("post", "/api/v1/contacts/{contact_id}/merge/", "into", {}, id="merge-into"),
    pytest.param("post", "/api/v1/queues/", "sla_policy", {"name": "Q2"}, id="queue-sla-policy"),
    pytest.param("post", "/api/v1/queues/", "breach_queue", {"name": "Q2"}, id="queue-breach-queue"),
    pytest.param("patch", "/api/v1/queues/{queue_id}/", "sla_policy", {}, id="queue-patch-sla-policy"),
    pytest.param("post", "/api/v1/routing-rules/", "queue", {"name": "R2"}, id="rule-queue"),
    pytest.param("post", "/api/v1/routing-rules/", "account", {"name": "R2", "queue": "{queue_id}"}, id="rule-account"),
    pytest.param(
        "post",
        "/api/v1/routing-rules/",
        "listening_query",
        {"name": "R2", "queue": "{queue_id}"},
        id="rule-listening-query",
    ),
    pytest.param("post", "/api/v1/templates/", "queue", {"name": "T2", "shortcut": "t2", "body": "Hi"}, id="tpl-queue"),
]


@pytest.mark.parametrize("value", NEGATIVE_OUT_OF_RANGE)
@pytest.mark.parametrize(("method", "url", "field", "body"), BODIES)
def test_an_id_beyond_64_bits_in_a_body_is_a_bad_request(
    world: dict[str, Any], admin_client: APIClient, method: str, url: str, field: str, body: dict[str, Any], value: str
) -> None:
    known = {key: int(text.format(**world)) if text.startswith("{") else text for key, text in body.items()}

    response = getattr(admin_client, method)(url.format(**world), {**known, field: int(value)}, format="json")

    assert response.status_code == 400, response.content[:300]
    assert field in response.json()["fields"]


@pytest.mark.parametrize("value", NEGATIVE_OUT_OF_RANGE)
def test_a_skill_list_with_an_id_beyond_64_bits_is_a_bad_request(
    world: dict[str, Any], admin_client: APIClient, value: str
) -> None:
    response = admin_client.post(
        "/api/v1/routing-rules/",
        {"name": "R2", "queue": world["queue_id"], "extra_skills": [world["skill_id"], int(value)]},
        format="json",
    )

    assert response.status_code == 400, response.content[:300]
    assert "extra_skills" in str(response.json()["fields"])
