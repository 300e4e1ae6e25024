"""GET /api/v1/staffing/erlang-c, the API's error shape and auth, and the schema and docs pages."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from django.test import Client
from rest_framework.authtoken.models import Token

URL = "/api/v1/staffing/erlang-c"
# The request from issue 6: the classic worked example with 30 % shrinkage.
EXAMPLE = {
    "volume": 100,
    "interval_seconds": 1800,
    "aht_seconds": 180,
    "target_service_level": 0.8,
    "answer_seconds": 20,
    "shrinkage": 0.3,
}


def get(client: Client, params: dict[str, Any], **headers: Any) -> Any:
    return client.get(f"{URL}?{urlencode(params)}", **headers)


def assert_error_shape(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["fields"], dict)


@pytest.fixture
def supervisor_client(client: Client, supervisor: Any) -> Client:
    client.force_login(supervisor)
    return client


def test_it_answers_the_issue_example(supervisor_client: Client) -> None:
    response = get(supervisor_client, EXAMPLE)

    assert response.status_code == 200
    assert response.json() == {
        "agents": 14,
        "scheduled_agents": 20,
        "service_level": 0.8884,
        "asa_seconds": 7.8359,
        "occupancy": 0.7143,
        "p_wait": 0.1741,
        "traffic_erlangs": 10.0,
    }


def test_it_meets_a_target_asa(supervisor_client: Client) -> None:
    params = {key: EXAMPLE[key] for key in ("volume", "interval_seconds", "aht_seconds")}

    response = get(supervisor_client, {**params, "target_asa_seconds": 10})

    assert response.status_code == 200
    assert response.json()["agents"] == 14
    assert response.json()["asa_seconds"] <= 10


def test_it_evaluates_a_given_staffing(supervisor_client: Client) -> None:
    params = {key: EXAMPLE[key] for key in ("volume", "interval_seconds", "aht_seconds", "answer_seconds")}

    response = get(supervisor_client, {**params, "agents": 13})

    assert response.status_code == 200
    body = response.json()
    assert body["agents"] == 13
    assert body["service_level"] == 0.7956
    assert body["p_wait"] == 0.2853


def test_evaluating_an_overloaded_floor_reports_unbounded_asa(supervisor_client: Client) -> None:
    params = {key: EXAMPLE[key] for key in ("volume", "interval_seconds", "aht_seconds")}

    response = get(supervisor_client, {**params, "agents": 9})

    assert response.status_code == 200
    assert response.json()["asa_seconds"] is None
    assert response.json()["service_level"] == 0.0


def test_concurrency_applies(supervisor_client: Client) -> None:
    response = get(supervisor_client, {**EXAMPLE, "aht_seconds": 360, "concurrency": 2})

    assert response.status_code == 200
    assert response.json()["agents"] == 14


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"volume": -5}, "volume"),
        ({"volume": "lots"}, "volume"),
        ({"volume": "nan"}, "volume"),
        ({"aht_seconds": "inf"}, "aht_seconds"),
        ({"aht_seconds": 0}, "aht_seconds"),
        ({"shrinkage": 1}, "shrinkage"),
        ({"concurrency": 0}, "concurrency"),
        ({"target_service_level": 1.2}, "target_service_level"),
        ({"target_service_level": 0}, "target_service_level"),
        ({"answer_seconds": -1}, "answer_seconds"),
        ({"agents": 14}, "agents"),
        ({"agents": "x", "target_service_level": None}, "agents"),
        ({"agents": 10**30, "target_service_level": None}, "agents"),
        ({"answer_seconds": None}, "answer_seconds"),
        ({"target_service_level": None}, "target_service_level"),
        ({"target_service_level": None, "target_asa_seconds": 0}, "target_asa_seconds"),
        ({"volume": None}, "volume"),
        ({"volume": 2_000_000}, "target_service_level"),  # needs more than 100,000 agents
    ],
)
def test_invalid_input_is_a_400_naming_the_field(supervisor_client: Client, change: dict[str, Any], field: str) -> None:
    params = {key: value for key, value in {**EXAMPLE, **change}.items() if value is not None}

    response = get(supervisor_client, params)

    assert response.status_code == 400
    body = response.json()
    assert_error_shape(body, "invalid")
    assert field in body["fields"]
    assert body["fields"][field] and all(isinstance(message, str) for message in body["fields"][field])


def test_unauthenticated_gets_401_in_the_error_shape(client: Client, db: None) -> None:
    response = get(client, EXAMPLE)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert_error_shape(response.json(), "not_authenticated")


def test_a_bad_token_gets_401(client: Client, db: None) -> None:
    response = get(client, EXAMPLE, HTTP_AUTHORIZATION="Token not-a-real-token")

    assert response.status_code == 401
    assert_error_shape(response.json(), "authentication_failed")


def test_an_agent_is_refused(client: Client, agent: Any) -> None:
    client.force_login(agent)

    response = get(client, EXAMPLE)

    assert response.status_code == 403
    assert_error_shape(response.json(), "permission_denied")


def test_an_admin_may_use_it(client: Client, admin_user: Any) -> None:
    client.force_login(admin_user)

    assert get(client, EXAMPLE).status_code == 200


def test_token_auth_works(client: Client, supervisor: Any) -> None:
    token = Token.objects.create(user=supervisor)

    response = get(client, EXAMPLE, HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 200
    assert response.json()["agents"] == 14


def test_other_methods_are_405_in_the_error_shape(supervisor_client: Client) -> None:
    response = supervisor_client.post(URL, {})

    assert response.status_code == 405
    assert_error_shape(response.json(), "method_not_allowed")


def test_an_unknown_api_path_is_404_in_the_error_shape(supervisor_client: Client) -> None:
    response = supervisor_client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert_error_shape(response.json(), "not_found")


def test_an_unexpected_error_is_a_500_in_the_error_shape(
    supervisor_client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("reporting.staffing.required_agents", broken)

    response = get(supervisor_client, EXAMPLE)

    assert response.status_code == 500
    body = response.json()
    assert_error_shape(body, "server_error")
    assert "secret" not in body["message"]
    assert "secret internals" in caplog.text


def test_the_schema_documents_the_endpoint(client: Client, db: None) -> None:
    response = client.get("/api/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    operation = schema["paths"][URL]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} == {
        "volume",
        "interval_seconds",
        "aht_seconds",
        "target_service_level",
        "answer_seconds",
        "target_asa_seconds",
        "agents",
        "shrinkage",
        "concurrency",
    }
    assert set(operation["responses"]) >= {"200", "400", "401", "403"}
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "message", "fields"}
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


def test_the_docs_page_renders_with_local_assets_only(client: Client, db: None) -> None:
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"""(https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", html, flags=re.IGNORECASE)
    assets = re.findall(r"""(?:src|href)="([^"]+)\"""", html)
    # The sidecar's files, and the page's own start-up script served as a file
    # (never inline, so the Content-Security-Policy needs no 'unsafe-inline').
    assert assets and all(
        asset.startswith("/static/drf_spectacular_sidecar/") or asset == "/api/docs/?script=" for asset in assets
    )
    assert "<script>" not in html
    for asset in assets:
        assert client.get(asset).status_code == 200
