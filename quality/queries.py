"""Reads for quality assurance: the review queue, one review, and the agents' scorecards.

The scorecard's figures are the KPI functions of ``reporting.kpis`` run with an
agent filter, so they mean exactly what the reports (and README, "KPI
definitions") say.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from core.errors import NotFound, PermissionDenied
from core.roles import is_supervisor
from quality.models import QaReview, ReviewStatus, TrainingRecord
from reporting import kpis
from reporting.kpis import KpiFilter, Row


def pending_reviews(limit: int = 200) -> list[QaReview]:
    """Reviews waiting to be scored, oldest sample first."""
    return list(
        QaReview.objects.filter(status=ReviewStatus.PENDING)
        .select_related("form", "agent", "conversation__contact", "sample")
        .order_by("created_at", "id")[:limit]
    )


def recent_reviews(limit: int = 50, *, agent_id: int | None = None) -> list[QaReview]:
    rows = QaReview.objects.filter(status=ReviewStatus.SUBMITTED)
    if agent_id is not None:
        rows = rows.filter(agent_id=agent_id)
    return list(
        rows.select_related("form", "agent", "reviewer", "conversation__contact").order_by("-submitted_at", "-id")[
            :limit
        ]
    )


def review_for(review_id: int) -> QaReview:
    review = (
        QaReview.objects.select_related("form", "agent", "reviewer", "sample", "conversation__contact")
        .filter(pk=review_id)
        .first()
    )
    if review is None:
        raise NotFound(f"QA review {review_id} not found.")
    return review


def agents() -> QuerySet[Any]:
    """Everyone who can be reviewed (users with an agent profile), by name."""
    return (
        get_user_model()
        .objects.filter(agent_profile__isnull=False)
        .select_related("agent_profile__team")
        .order_by("first_name", "username")
    )


def access_scorecard(user: Any, agent_id: int) -> Any:
    """The agent whose scorecard ``user`` may see: supervisors see everyone's, an agent only their own."""
    if not is_supervisor(user) and user.pk != agent_id:
        raise PermissionDenied("Agents see only their own scorecard.")
    agent = agents().filter(pk=agent_id).first()
    if agent is None:
        raise NotFound(f"There is no agent with id {agent_id}.")
    return agent


def scorecard(agent_id: int, start: datetime, end: datetime) -> Row:
    """One agent's figures over ``[start, end)``, each from the KPI function that defines it."""
    period = KpiFilter(start, end, agent_id=agent_id)
    quality = kpis.quality(period)[0]
    csat = kpis.csat(period)[0]
    handle = kpis.handle(period)[0]
    resolution = kpis.resolution(period)[0]
    return {
        "qa_reviews": quality["reviews"],
        "qa_mean_score": quality["mean_score"],
        "qa_pass_rate": quality["pass_rate"],
        "qa_critical_fails": quality["critical_fails"],
        "csat_responses": csat["responses"],
        "csat_rate": csat["csat_rate"],
        "csat_mean": csat["mean_score"],
        "handled": kpis.volumes(period)[0]["handled"],
        "aht_seconds": handle["aht_seconds"],
        "resolved": resolution["resolved"],
        "fcr_rate": resolution["fcr_rate"],
    }


def scorecard_summaries(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every agent with their QA figures over the period (one grouped query), for the scorecards list."""
    by_agent = {row["agent_id"]: row for row in kpis.quality(KpiFilter(start, end), "agent")}
    return [{"agent": agent, "quality": by_agent.get(agent.pk)} for agent in agents()]


def training_for(agent_id: int) -> list[TrainingRecord]:
    return list(TrainingRecord.objects.filter(agent_id=agent_id).select_related("review", "assigned_by"))
