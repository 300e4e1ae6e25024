"""Moving QA from ``agents`` to the ``quality`` app keeps every row, and the content types and permissions follow.

The database is taken back to where QA still lived in ``agents`` (``agents.0003_quality``,
``quality`` not migrated), rows are written through that state's historical models, and
the database is migrated forward again: the same rows must come back through
``quality.models``, and the content types (with the permissions and admin log entries
that point at them) must now carry the app label ``quality``.

Migrations change the schema outside any test transaction, hence ``transaction=True``;
this runs on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.apps.registry import Apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from quality.models import QaCriterion, QaForm, QaReview, QaSample, TrainingRecord
from routing.models import Queue
from tests.qa_data import resolved

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_THE_MOVE = [("agents", "0003_quality"), ("quality", None)]
MOVED = {
    "QaForm": QaForm,
    "QaCriterion": QaCriterion,
    "QaSample": QaSample,
    "QaReview": QaReview,
    "TrainingRecord": TrainingRecord,
}
TABLES = {"agents_qaform", "agents_qacriterion", "agents_qasample", "agents_qareview", "agents_trainingrecord"}
AT = datetime(2026, 11, 3, 14, 30, tzinfo=UTC)


def migrate(targets: list[tuple[str, str | None]] | None = None) -> Apps:
    """Migrate to ``targets`` (default: every app's latest migration); the historical models of the result."""
    executor = MigrationExecutor(connection)
    if targets is None:
        targets = executor.loader.graph.leaf_nodes()
    state = executor.migrate(targets)
    return state.apps


def write_qa_rows(old: Apps, *, agent_id: int, supervisor_id: int, conversation_id: int) -> None:
    """One row in every QA table, through the models as ``agents`` had them."""
    form = old.get_model("agents", "QaForm").objects.create(
        name="Social care", description="Replies on X and Facebook.", active=True, pass_mark=75, created_at=AT
    )
    criterion_model = old.get_model("agents", "QaCriterion")
    tone = criterion_model.objects.create(
        form=form, position=1, label="Tone", guidance="Warm, not chummy.", weight=2, kind="points", max_points=10
    )
    criterion_model.objects.create(
        form=form, position=2, label="Compliance", weight=3, kind="pass_fail", max_points=1, critical=True
    )
    sample = old.get_model("agents", "QaSample").objects.create(
        form=form,
        mode="targeted",
        criteria={"conversations": [conversation_id]},
        requested=1,
        created_by_id=supervisor_id,
        created_at=AT,
    )
    review = old.get_model("agents", "QaReview").objects.create(
        sample=sample,
        form=form,
        conversation_id=conversation_id,
        agent_id=agent_id,
        reviewer_id=supervisor_id,
        status="submitted",
        answers=[{"criterion_id": tone.pk, "label": "Tone", "weight": 2, "kind": "points", "points": 6}],
        comment="Polite, but slow to the point.",
        weighted_score=60.0,
        score=60.0,
        passed=False,
        critical_failed=False,
        created_at=AT,
        submitted_at=AT,
    )
    old.get_model("agents", "TrainingRecord").objects.create(
        agent_id=agent_id,
        topic="Getting to the point",
        status="completed",
        due_on=date(2026, 11, 20),
        completed_on=date(2026, 11, 18),
        review=review,
        notes="Done early.",
        assigned_by_id=supervisor_id,
        assigned_at=AT,
    )


def rows(model: Any) -> list[dict[str, Any]]:
    return list(model.objects.order_by("pk").values())


def test_the_move_keeps_every_row_and_relabels_content_types(
    make_post: Any, queue: Queue, agent: Any, supervisor: Any
) -> None:
    conversation = resolved(make_post(), queue=queue, agent=agent)
    try:
        old = migrate(BEFORE_THE_MOVE)
        with pytest.raises(LookupError):
            old.get_model("quality", "QaForm")
        assert {old.get_model("agents", name)._meta.db_table for name in MOVED} == TABLES

        write_qa_rows(old, agent_id=agent.pk, supervisor_id=supervisor.pk, conversation_id=conversation.pk)
        before = {name: rows(old.get_model("agents", name)) for name in MOVED}
        assert {name: len(found) for name, found in before.items()} == {
            "QaForm": 1,
            "QaCriterion": 2,
            "QaSample": 1,
            "QaReview": 1,
            "TrainingRecord": 1,
        }

        # As on a deployment from before the move (the migration back relabelled them): the
        # content types say "agents", and a group and the admin log point at them.
        old_types = old.get_model("contenttypes", "ContentType").objects
        type_ids = {name: old_types.get(app_label="agents", model=name.lower()).pk for name in MOVED}
        auditors = old.get_model("auth", "Group").objects.create(name="QA auditors")
        auditors.permissions.set(
            old.get_model("auth", "Permission").objects.filter(
                content_type__app_label="agents", codename__in=["view_qaform", "change_qareview"]
            )
        )
        form_id = before["QaForm"][0]["id"]
        old.get_model("admin", "LogEntry").objects.create(
            action_time=AT,
            user_id=supervisor.pk,
            content_type_id=type_ids["QaForm"],
            object_id=str(form_id),
            object_repr="Social care",
            action_flag=2,
            change_message="Changed pass mark.",
        )

        migrate()
    finally:
        # Whatever happened above, the other tests get the database as the code expects it.
        migrate()
    ContentType.objects.clear_cache()  # the cache may hold the content types as they were

    assert {name: rows(model) for name, model in MOVED.items()} == before
    form = QaForm.objects.get()
    assert (form.name, form.pass_mark, [c.label for c in form.criteria.all()]) == (
        "Social care",
        75,
        ["Tone", "Compliance"],
    )
    review = QaReview.objects.get()
    assert (review.conversation, review.agent, review.reviewer, review.score) == (
        conversation,
        agent,
        supervisor,
        60.0,
    )
    assert review.training.get().completed_on == date(2026, 11, 18)

    # The same content type rows, relabelled (not new ones beside them), so what points at them follows.
    assert {name: ContentType.objects.get_for_model(model).pk for name, model in MOVED.items()} == type_ids
    assert not ContentType.objects.filter(app_label="agents", model__in=[name.lower() for name in MOVED]).exists()
    for name in MOVED:
        codenames = set(
            Permission.objects.filter(content_type_id=type_ids[name]).values_list("content_type__app_label", "codename")
        )
        model = name.lower()
        assert codenames == {("quality", f"{action}_{model}") for action in ("add", "change", "delete", "view")}
    assert set(
        Group.objects.get(name="QA auditors").permissions.values_list("content_type__app_label", "codename")
    ) == {
        ("quality", "view_qaform"),
        ("quality", "change_qareview"),
    }
    assert LogEntry.objects.get(object_id=str(form_id)).get_edited_object() == form
    # The supervisor role's QA permissions came back with their content types too.
    assert get_user_model().objects.get(pk=supervisor.pk).has_perm("quality.change_qaform")
