"""The QA pages: the review queue, drawing a sample, scoring a review beside its thread, and scorecards.

Reviewing is for supervisors and admins (agents get 403); an agent may open
their own scorecard. Each POST calls one action; a refused one re-renders the
page with the reason and what was entered.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.queries import thread_with_context
from core.errors import ContactCenterError, Invalid
from core.queries import conversation_timeline
from core.roles import is_supervisor
from quality import queries as qa
from quality.actions import (
    NA,
    check_assign_training,
    check_complete_training,
    check_create_random_sample,
    check_create_targeted_sample,
    check_score_review,
    check_supervisor,
)
from quality.forms import PeriodForm, SampleForm, TrainingForm
from quality.models import CriterionKind


@login_required
def qa_home(request: HttpRequest) -> HttpResponse:
    check_supervisor(request.user, "review conversations")
    return render(request, "quality/home.html", {"pending": qa.pending_reviews(), "recent": qa.recent_reviews()})


@login_required
def new_sample(request: HttpRequest) -> HttpResponse:
    check_supervisor(request.user, "draw QA samples")
    if request.method != "POST":
        return render(request, "quality/new_sample.html", {"form": SampleForm.initial_form()})
    form = SampleForm(request.POST)
    error = None
    if form.is_valid():
        try:
            sample = _create_sample(request.user, form)
        except ContactCenterError as refused:
            error = refused
        else:
            count = sample.reviews.count()
            messages.success(request, f"Sample drawn: {count} of {sample.requested} conversations to review.")
            return redirect("qa")
    return render(request, "quality/new_sample.html", {"form": form, "error": error}, status=400)


def _create_sample(user: Any, form: SampleForm) -> Any:
    data = form.cleaned_data
    if data["mode"] == "targeted":
        return check_create_targeted_sample(user, data["form"].pk, data["conversations"])
    return check_create_random_sample(user, data["form"].pk, data["size"], form.sample_filter())


def _scale(criterion: Any) -> list[tuple[str, str]]:
    """The choices a reviewer picks from for one criterion: ``(value, label)``."""
    if criterion.kind == CriterionKind.PASS_FAIL:
        options = [("1", "Pass"), ("0", "Fail")]
    else:
        options = [(str(n), f"{n} / {criterion.max_points}") for n in range(criterion.max_points, -1, -1)]
    return options + ([(NA, "N/A")] if criterion.allow_na else [])


def _review_page(request: HttpRequest, review: Any, *, status: int = 200, **extra: Any) -> HttpResponse:
    conversation = review.conversation
    criteria = [
        {"criterion": c, "field": f"criterion_{c.pk}", "choices": _scale(c)} for c in review.form.criteria.all()
    ]
    context = {
        "review": review,
        "conversation": conversation,
        "thread": thread_with_context(conversation),
        "events": conversation_timeline(conversation),
        "criteria": criteria,
        "entered": request.POST if request.method == "POST" else {},
        "training_form": TrainingForm(initial={"review": review.pk}),
        **extra,
    }
    return render(request, "quality/review.html", context, status=status)


@login_required
def review(request: HttpRequest, review_id: int) -> HttpResponse:
    check_supervisor(request.user, "review conversations")
    item = qa.review_for(review_id)
    if request.method != "POST":
        return _review_page(request, item)
    scores: dict[int, Any] = {}
    for key, value in request.POST.items():
        if key.startswith("criterion_"):
            try:
                scores[int(key.removeprefix("criterion_"))] = value
            except ValueError:
                return _review_page(request, item, status=400, error=Invalid(f"Unknown field {key}."))
    try:
        check_score_review(request.user, item.pk, scores, request.POST.get("comment", ""))
    except ContactCenterError as error:
        return _review_page(request, item, status=error.http_status, error=error)
    scored = qa.review_for(item.pk)
    messages.success(request, f"Review #{scored.pk} scored: {scored.score:.1f}{' (passed)' if scored.passed else ''}.")
    return redirect("qa-review", review_id=scored.pk)


# --- Scorecards ------------------------------------------------------------------------------


@login_required
def scorecards(request: HttpRequest) -> HttpResponse:
    if not is_supervisor(request.user):
        return redirect("qa-scorecard", agent_id=request.user.pk)  # an agent's scorecards are their own
    period = PeriodForm.from_query(request.GET)
    rows = qa.scorecard_summaries(*period.bounds()) if period.is_valid() else []
    return render(request, "quality/scorecards.html", {"period": period, "rows": rows})


def _scorecard_page(
    request: HttpRequest, agent_id: int, *, training_form: TrainingForm | None = None, status: int = 200, **extra: Any
) -> HttpResponse:
    agent = qa.access_scorecard(request.user, agent_id)
    period = PeriodForm.from_query(request.GET)
    figures = qa.scorecard(agent.pk, *period.bounds()) if period.is_valid() else None
    return render(
        request,
        "quality/scorecard.html",
        {
            "agent": agent,
            "period": period,
            "figures": figures,
            "reviews": qa.recent_reviews(20, agent_id=agent.pk),
            "training": qa.training_for(agent.pk),
            "supervisor": is_supervisor(request.user),
            "training_form": training_form or TrainingForm(),
            **extra,
        },
        status=status,
    )


@login_required
def scorecard(request: HttpRequest, agent_id: int) -> HttpResponse:
    return _scorecard_page(request, agent_id)


@login_required
@require_POST
def assign_training(request: HttpRequest, agent_id: int) -> HttpResponse:
    check_supervisor(request.user, "assign training")
    form = TrainingForm(request.POST)
    if not form.is_valid():
        return _scorecard_page(request, agent_id, training_form=form, status=400)
    data = form.cleaned_data
    try:
        check_assign_training(
            request.user, agent_id, data["topic"], due_on=data["due_on"], review_id=data["review"], notes=data["notes"]
        )
    except ContactCenterError as error:
        return _scorecard_page(request, agent_id, training_form=form, status=error.http_status, error=error)
    messages.success(request, f"Training assigned: {data['topic']}.")
    return redirect("qa-scorecard", agent_id=agent_id)


@login_required
@require_POST
def complete_training(request: HttpRequest, record_id: int) -> HttpResponse:
    record = check_complete_training(request.user, record_id)
    messages.success(request, f"Training completed: {record.topic}.")
    return redirect(reverse("qa-scorecard", args=[record.agent_id]))
