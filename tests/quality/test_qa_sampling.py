"""Drawing conversations for review: random samples are bounded and filtered; targeted ones take exactly the ids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from core.actions import do_escalate_conversation, do_resolve_conversation
from core.errors import Invalid, PermissionDenied
from core.models import Channel, Conversation
from core.models import ConversationState as S
from quality.actions import (
    MAX_SAMPLE,
    SampleFilter,
    check_create_random_sample,
    check_create_targeted_sample,
    sample_candidates,
)
from quality.models import QaForm, QaReview, QaSample, ReviewStatus, SampleMode
from responses.models import SurveyInvitation
from responses.surveys import do_answer_survey
from routing.models import Queue
from tests.qa_data import resolved, standard_form
from tests.states import conversation_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def form(db: None) -> QaForm:
    return standard_form()


@pytest.fixture
def today() -> SampleFilter:
    now = timezone.now()
    return SampleFilter(start=now - timedelta(hours=1), end=now + timedelta(hours=1))


@pytest.fixture
def handled(make_post: Any, queue: Queue, agent: Any) -> Callable[..., Conversation]:
    def make(by: Any = None, **post: Any) -> Conversation:
        return resolved(make_post(**post), queue=queue, agent=by or agent)

    return make


def reviewed_ids(sample: QaSample) -> set[int]:
    return set(sample.reviews.values_list("conversation_id", flat=True))


def with_filter(base: SampleFilter, **fields: Any) -> SampleFilter:
    return SampleFilter(**{**base.__dict__, **fields})


# --- Random ------------------------------------------------------------------------------------


def test_a_random_sample_takes_n_distinct_resolved_conversations_with_their_agent(
    form: QaForm, today: SampleFilter, handled: Callable[..., Conversation], supervisor: Any, agent: Any
) -> None:
    pool = {handled().pk for _ in range(5)}

    sample = check_create_random_sample(supervisor, form.pk, 3, today)

    assert (sample.mode, sample.requested, sample.created_by) == (SampleMode.RANDOM, 3, supervisor)
    picked = reviewed_ids(sample)
    assert len(picked) == 3 and picked <= pool
    assert set(sample.reviews.values_list("agent_id", "status", "form_id")) == {
        (agent.pk, ReviewStatus.PENDING, form.pk)
    }


def test_a_sample_is_bounded_by_what_matches_and_never_repeats_a_conversation(
    form: QaForm, today: SampleFilter, handled: Callable[..., Conversation], supervisor: Any
) -> None:
    pool = {handled().pk for _ in range(4)}

    first = check_create_random_sample(supervisor, form.pk, 3, today)
    second = check_create_random_sample(supervisor, form.pk, 3, today)
    third = check_create_random_sample(supervisor, form.pk, 3, today)

    assert len(reviewed_ids(first)) == 3
    assert reviewed_ids(second) == pool - reviewed_ids(first)  # only one was left
    assert reviewed_ids(third) == set()
    # Another form may review the same conversations.
    other = standard_form("Compliance audit")
    assert reviewed_ids(check_create_random_sample(supervisor, other.pk, 10, today)) == pool


def test_random_draws_differ(form: QaForm, today: SampleFilter, handled: Callable[..., Conversation]) -> None:
    for _ in range(30):
        handled()
    draws = {tuple(sample_candidates(today, form).order_by("?").values_list("pk", flat=True)[:5]) for _ in range(5)}
    assert len(draws) > 1, "five draws of 5 from 30 were identical: not random"


@pytest.mark.parametrize("size", [0, MAX_SAMPLE + 1])
def test_a_sample_size_outside_1_to_the_maximum_is_refused(
    form: QaForm, today: SampleFilter, supervisor: Any, size: int
) -> None:
    with pytest.raises(Invalid) as refused:
        check_create_random_sample(supervisor, form.pk, size, today)
    assert "size" in refused.value.fields
    assert not QaSample.objects.exists()


def test_only_resolved_or_closed_conversations_of_the_period_with_an_agent_are_drawn(
    form: QaForm,
    today: SampleFilter,
    handled: Callable[..., Conversation],
    make_post: Any,
    queue: Queue,
    agent: Any,
    supervisor: Any,
) -> None:
    done = handled()
    closed = conversation_in_state(S.CLOSED, make_post(), queue=queue, agent=agent)
    conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)  # still open
    old = handled()
    Conversation.objects.filter(pk=old.pk).update(resolved_at=timezone.now() - timedelta(days=30))

    sample = check_create_random_sample(supervisor, form.pk, 10, today)

    assert reviewed_ids(sample) == {done.pk, closed.pk}


def test_filters_narrow_the_draw(
    form: QaForm,
    today: SampleFilter,
    handled: Callable[..., Conversation],
    make_post: Any,
    queue: Queue,
    agent: Any,
    other_agent: Any,
    supervisor: Any,
    care_team: Any,
) -> None:
    anas = handled()
    bens = handled(by=other_agent)
    dm = handled(channel=Channel.X_DM)
    billing = handled()
    Conversation.objects.filter(pk=billing.pk).update(category="billing")
    other_queue = Queue.objects.create(name="VIP")
    vip = handled()
    Conversation.objects.filter(pk=vip.pk).update(queue=other_queue)
    escalated = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)
    do_escalate_conversation(escalated, actor=agent, reason="Threatens to leave")
    escalated = resolved_now(escalated, agent)
    unhappy, happy = handled(), handled()
    for conversation, rating in ((unhappy, 2), (happy, 5)):
        do_answer_survey(SurveyInvitation.objects.get(conversation=conversation), rating)  # resolving invited

    def draw(**fields: Any) -> set[int]:
        QaReview.objects.all().delete()
        return reviewed_ids(check_create_random_sample(supervisor, form.pk, 50, with_filter(today, **fields)))

    everyone = {anas.pk, bens.pk, dm.pk, billing.pk, vip.pk, escalated.pk, unhappy.pk, happy.pk}
    assert draw() == everyone
    assert draw(agent_id=other_agent.pk) == {bens.pk}
    assert draw(team_id=care_team.pk) == everyone - {bens.pk}
    assert draw(channel=Channel.X_DM) == {dm.pk}
    assert draw(category="billing") == {billing.pk}
    assert draw(queue_id=other_queue.pk) == {vip.pk}
    assert draw(escalated=True) == {escalated.pk}
    assert draw(escalated=False) == everyone - {escalated.pk}
    assert draw(max_csat=3) == {unhappy.pk}
    assert draw(min_csat=4) == {happy.pk}
    assert draw(min_csat=2, max_csat=5) == {unhappy.pk, happy.pk}


def resolved_now(conversation: Conversation, agent: Any) -> Conversation:
    do_resolve_conversation(conversation, actor=agent, disposition="answered")
    conversation.refresh_from_db()
    return conversation


def test_a_csat_range_upside_down_is_refused(form: QaForm, today: SampleFilter, supervisor: Any) -> None:
    with pytest.raises(Invalid, match="lowest CSAT"):
        check_create_random_sample(supervisor, form.pk, 5, with_filter(today, min_csat=5, max_csat=2))


def test_an_inactive_form_cannot_be_used(form: QaForm, today: SampleFilter, supervisor: Any) -> None:
    QaForm.objects.filter(pk=form.pk).update(active=False)
    with pytest.raises(Invalid, match="not active"):
        check_create_random_sample(supervisor, form.pk, 5, today)


def test_agents_cannot_draw_samples(form: QaForm, today: SampleFilter, agent: Any) -> None:
    with pytest.raises(PermissionDenied):
        check_create_random_sample(agent, form.pk, 5, today)
    with pytest.raises(PermissionDenied):
        check_create_targeted_sample(agent, form.pk, [1])


# --- Targeted ----------------------------------------------------------------------------------


def test_a_targeted_sample_takes_exactly_the_ids_given_open_or_resolved(
    form: QaForm,
    handled: Callable[..., Conversation],
    make_post: Any,
    queue: Queue,
    agent: Any,
    other_agent: Any,
    supervisor: Any,
) -> None:
    done = handled(by=other_agent)
    open_one = conversation_in_state(S.ASSIGNED, make_post(), queue=queue, agent=agent)
    handled()  # not asked for

    sample = check_create_targeted_sample(supervisor, form.pk, [open_one.pk, done.pk, open_one.pk])

    assert (sample.mode, sample.requested, sample.criteria) == (
        SampleMode.TARGETED,
        2,
        {"conversations": [open_one.pk, done.pk]},
    )
    assert set(sample.reviews.values_list("conversation_id", "agent_id")) == {
        (open_one.pk, agent.pk),
        (done.pk, other_agent.pk),
    }


def test_a_targeted_sample_with_an_unknown_id_creates_nothing(
    form: QaForm, handled: Callable[..., Conversation], supervisor: Any
) -> None:
    known = handled()
    with pytest.raises(Invalid, match="No conversation has the id 999999"):
        check_create_targeted_sample(supervisor, form.pk, [known.pk, 999999])
    assert not QaSample.objects.exists() and not QaReview.objects.exists()


def test_a_conversation_no_agent_handled_cannot_be_reviewed(
    form: QaForm, make_post: Any, queue: Queue, agent: Any, supervisor: Any
) -> None:
    queued = conversation_in_state(S.QUEUED, make_post(), queue=queue, agent=agent)
    with pytest.raises(Invalid, match="No agent handled conversation"):
        check_create_targeted_sample(supervisor, form.pk, [queued.pk])
    assert not QaReview.objects.exists()


def test_a_conversation_already_in_review_on_the_form_is_refused(
    form: QaForm, handled: Callable[..., Conversation], supervisor: Any
) -> None:
    conversation = handled()
    check_create_targeted_sample(supervisor, form.pk, [conversation.pk])
    with pytest.raises(Invalid, match="Already in review"):
        check_create_targeted_sample(supervisor, form.pk, [conversation.pk])
    assert QaReview.objects.count() == 1
