"""Property-based run of the whole API against its own OpenAPI schema (schemathesis, in-process over WSGI).

Every operation in /api/schema/ is called with generated inputs (a bounded
number per operation) as an admin, who may call all of them, and every
response must be no 5xx and match the schema: status code documented, body
of the documented shape (errors included). The data is a small world made
through the actions, so some generated ids hit real rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from responses.models import KnowledgeArticle, ResponseTemplate
from routing.models import Queue, RoutingRule, Skill
from tests.states import conversation_in_state

MAX_EXAMPLES = 6
"""Per operation; with ~45 operations the whole run stays well under a minute on a 2-core machine."""


@pytest.fixture
def in_process_wsgi() -> Iterator[Any]:
    """The Django WSGI app, called in this thread so it sees the test's transaction.

    Django's own test client does the same: a request must not close the
    connection (it holds the test transaction) when it finishes.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(admin_user: Any, agent: Any, queue: Queue, make_post: Any) -> str:
    for state in ("assigned", "waiting", "resolved"):
        conversation_in_state(state, make_post(), queue=queue, agent=agent)
    Skill.objects.create(name="billing")
    RoutingRule.objects.create(name="All", queue=queue)
    ResponseTemplate.objects.create(name="Sorry", shortcut="sorry", body="Sorry {customer_name}!")
    KnowledgeArticle.objects.create(title="Routers", body="Restart it.")
    return Token.objects.create(user=admin_user).key


@pytest.fixture
def api_schema(in_process_wsgi: Any, db: None) -> Any:
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", in_process_wsgi)


MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def test_every_operation_matches_its_schema_and_never_fails(api_schema: Any, admin_token: str) -> None:
    """Each operation in turn, valid and invalid inputs; every failure is collected, then all reported.

    The operations are walked here rather than through schemathesis' pytest
    plugin, whose lazy loader does not work with this pytest version; the
    checks are the same.
    """
    headers = {"Authorization": f"Token {admin_token}"}
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 40

    for operation in operations:
        for mode in MODES:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,  # the same inputs every run: a failure here is reproducible
                phases=[Phase.explicit, Phase.generate],  # no shrinking: keep the run bounded
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

            try:
                call()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE, operation.label  # nothing to get wrong: no inputs
            except (AssertionError, BaseExceptionGroup) as error:  # a failed check, or a group of them
                failures.append(f"{operation.label} ({mode.value}): {str(error)[:1500]}")

    assert not failures, "\n\n".join(failures)
