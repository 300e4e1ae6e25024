"""Routing writes: placing conversations in queues, running the router, re-routing an absent agent's work."""

from __future__ import annotations

import logging
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from core import hooks
from core.actions import do_queue_conversations, do_transfer_to_agent, do_transfer_to_queue
from core.broker import BROKER_DOWN
from core.configuration import bound_form, check_delete, check_save_form
from core.errors import Conflict, Invalid
from core.handling import do_close_work
from core.models import Conversation, ConversationSkill
from core.models import ConversationState as S
from core.queries import check_can_work
from core.rest.ids import ID_MAX
from core.text import REASON_MAX_LENGTH, check_optional_text
from routing import engine
from routing.forms import QueueForm, RoutingRuleForm, SkillForm
from routing.models import NotificationRule, OverflowStep, Queue, QueueSkill, RoutingRule, Skill
from routing.queries import check_queue_servable, default_queue, transfer_targets

logger = logging.getLogger(__name__)

ROUTING_REQUESTED = "routing:requested"


def do_route_conversations(conversation_ids: list[int]) -> list[int]:
    """Place ``new`` conversations that capture could not place (no default queue then) in the default queue."""
    if not conversation_ids:
        return []
    queue = default_queue()
    if queue is None:
        logger.warning("no default queue: %d conversation(s) stay new", len(conversation_ids))
        return []
    moved = do_queue_conversations(conversation_ids, queue)
    request_routing()
    return moved


def request_routing() -> None:
    """Ask for a routing pass once the current transaction commits (many requests, one pass)."""

    def enqueue() -> None:
        from routing.tasks import route_queued

        if settings.CELERY_TASK_ALWAYS_EAGER:
            route_queued.apply()
            return
        try:
            if cache.add(ROUTING_REQUESTED, 1, timeout=2):
                route_queued.delay()
        except BROKER_DOWN:
            # The change has committed and must not fail now (a webhook would answer 500 for a post it stored):
            # beat's route-queued sweep runs every 10 s, so a lost request is only a delay.
            logger.warning("routing pass not requested (Redis unreachable); the periodic pass will route")

    transaction.on_commit(enqueue)


def do_route_queued(*, max_passes: int = 200, limit: int = 500) -> engine.RoutingStats:
    """Walk the whole queue in routing order, pass by pass: the sweep and the on-demand trigger.

    Each pass is one transaction over the next ``limit`` items; it stops at
    the end of the queue, or as soon as no available agent has room left.
    """
    cache.delete(ROUTING_REQUESTED)
    total = engine.RoutingStats()
    after = None
    for _ in range(max_passes):
        stats = engine.route(limit=limit, after=after)
        total.examined += stats.examined
        total.assigned += stats.assigned
        total.offered += stats.offered
        total.waiting_for_agent += stats.waiting_for_agent
        total.no_eligible_agent += stats.no_eligible_agent
        total.dropped_at_commit += stats.dropped_at_commit
        total.moved += stats.moved
        total.decision_seconds += stats.decision_seconds
        after = stats.last_key
        if stats.examined < limit or stats.no_room or after is None:
            break
    return total


def do_get_next(user_id: int) -> int | None:
    """Pull mode: hand the agent the most urgent item they may take; its id, or None."""
    return engine.get_next(user_id)


def check_transfer_conversation(
    user: Any, conversation: Conversation, *, queue_id: object = None, agent_id: object = None, reason: str = ""
) -> Conversation:
    """Transfer by hand (HTML and API) to a queue or to an agent: the conversation's agent, or a supervisor.

    Exactly one target. A queue must exist; an agent must be an active user
    in an agent role with an agent profile (no admin-only or role-less
    account, and not the one holding it). The caller's work session ends: it
    left their hands.
    """
    check_can_work(user, conversation)
    reason = check_optional_text(reason, field="reason", max_length=REASON_MAX_LENGTH)
    has_queue, has_agent = queue_id not in (None, ""), agent_id not in (None, "")
    if has_queue == has_agent:
        raise Invalid("Choose a queue or an agent to transfer to.")
    if has_queue:
        queue = Queue.objects.filter(pk=_id(queue_id, "queue")).first()
        if queue is None:
            raise Invalid("That queue no longer exists.", fields={"queue": ["No such queue."]})
        do_close_work(conversation, user)
        return do_transfer_to_queue(conversation, queue, actor=user, reason=reason)
    agent = transfer_targets().filter(pk=_id(agent_id, "agent")).first()
    if agent is None:
        raise Invalid("That agent cannot take work.", fields={"agent": ["Not an active agent."]})
    do_close_work(conversation, user)
    return do_transfer_to_agent(conversation, agent, actor=user, reason=reason)


def _id(value: object, field: str) -> int:
    """A row id from a form or JSON value; ``Invalid`` for anything that is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise Invalid(f"{field} must be an id.", fields={field: ["A valid integer is required."]})
    if not 0 < number <= ID_MAX:
        raise Invalid(f"{field} must be an id.", fields={field: ["A valid integer is required."]})
    return number


def do_requeue_absent_agent_work(user_id: int) -> list[int]:
    """An agent timed out: their assigned items go back to their queues (where the queue says so).

    Each waits for them (sticky) for the queue's ``sticky_wait_seconds``, in
    case they come straight back; then anyone may take it.
    """
    moved = []
    for conversation in Conversation.objects.select_related("queue", "assigned_agent").filter(
        assigned_agent_id=user_id, state=S.ASSIGNED, queue__requeue_on_agent_timeout=True
    ):
        try:
            do_transfer_to_queue(
                conversation, conversation.queue, actor=None, reason="agent timed out", preferred_agent_id=user_id
            )
        except Conflict:
            continue
        moved.append(conversation.pk)
    if moved:
        request_routing()
    return moved


# --- Configuration (the API's writes; the admin saves the same forms) ----------------------------


def check_save_queue(
    data: dict[str, Any], *, queue: Queue | None = None, skills: list[tuple[Skill, int]] | None = None
) -> Queue:
    """Create or change a queue with the admin's validation; ``skills`` (if given) replaces its requirements.

    Refused like the admin refuses: the model's rules (a 'move' breach action
    needs a breach queue...), and requirements no agent meets.
    """
    form = bound_form(QueueForm, queue, data)
    if skills is not None:
        requirements: dict[Skill, int] = {}
        for skill, level in skills:
            if skill in requirements:
                raise Invalid(f"{skill} is listed twice.", fields={"skills": [f"{skill} is listed twice."]})
            requirements[skill] = level
        try:
            check_queue_servable(requirements)
        except ValidationError as error:
            raise Invalid(" ".join(error.messages), fields={"skills": error.messages}) from error
    with transaction.atomic():
        saved: Queue = check_save_form(form)
        if skills is not None:
            QueueSkill.objects.filter(queue=saved).delete()
            QueueSkill.objects.bulk_create(
                [QueueSkill(queue=saved, skill=skill, min_level=level) for skill, level in skills]
            )
    return saved


def check_delete_queue(queue: Queue) -> None:
    """Delete a queue nothing uses; deleting one with conversations or rules would lose them: ``Conflict``.

    Apps above routing name their own uses of the queue (templates, review
    rules) through ``hooks.deletion_blockers``.
    """
    elsewhere: list[tuple[str, Any]] = []
    hooks.deletion_blockers(queue, elsewhere)
    check_delete(
        queue,
        [
            ("conversations", Conversation.objects.filter(queue=queue)),
            ("routing rules", RoutingRule.objects.filter(queue=queue)),
            *elsewhere,
            ("overflow steps into it", OverflowStep.objects.filter(target_queue=queue).exclude(queue=queue)),
            ("queues breaching into it", Queue.objects.filter(breach_queue=queue).exclude(pk=queue.pk)),
            ("notification rules", NotificationRule.objects.filter(queue=queue)),
        ],
    )


def check_save_skill(data: dict[str, Any], *, skill: Skill | None = None) -> Skill:
    return cast(Skill, check_save_form(bound_form(SkillForm, skill, data)))


def check_delete_skill(skill: Skill) -> None:
    """Delete a skill nobody has and nothing requires; otherwise ``Conflict`` (it would change routing)."""
    from agents.models import AgentSkill

    check_delete(
        skill,
        [
            ("agents", AgentSkill.objects.filter(skill=skill)),
            ("queue requirements", QueueSkill.objects.filter(skill=skill)),
            ("conversations", ConversationSkill.objects.filter(skill=skill)),
            ("overflow steps", OverflowStep.objects.filter(skill=skill)),
            ("routing rules", RoutingRule.objects.filter(extra_skills=skill)),
        ],
    )


def check_save_routing_rule(data: dict[str, Any], *, rule: RoutingRule | None = None) -> RoutingRule:
    """Create or change a routing rule through the admin's form: a rule that can never match is refused."""
    return cast(RoutingRule, check_save_form(bound_form(RoutingRuleForm, rule, data)))


def check_delete_routing_rule(rule: RoutingRule) -> None:
    check_delete(rule, [])
