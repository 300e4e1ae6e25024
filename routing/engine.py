"""The skill-based router: which queued item goes to which available agent, and why.

Algorithm (one pass, :func:`route`):

1. Claim the most urgent queued items of push queues — by priority, then SLA
   due time, then age — with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   several routers at once each get their own items (on SQLite the write
   transaction itself is the single writer).
2. Take a snapshot of available agents: skill levels, capacity, current load
   (the weights of what they hold), when they were last given work.
3. For each item, in order: its requirements are its queue's skills and its
   own (from classification and routing rules), relaxed by the queue's
   overflow steps for as long as it has waited. Eligible agents are
   available, have every required skill at or above the minimum level, and
   have capacity left for the item's weight.
4. Score (deterministic, higher wins, compared in this order): skill match —
   the sum of the agent's levels in the required skills; then least occupied
   (load / capacity); then longest idle (earliest ``last_assigned_at``, never
   assigned first); then the lowest user id.
5. Sticky: an item waiting for a particular agent (a returning customer's, a
   reopened item's) goes to them if eligible; otherwise it waits up to the
   queue's ``sticky_wait_seconds`` from when it was queued, then anyone may
   take it.
6. Before writing, the chosen agents' rows are locked (in id order) and their
   loads read again, so no agent ever goes over capacity even with other
   routers running; then all assignments of the pass are written at once,
   each with its reason in the ledger.
7. Offer mode (a push queue with ``route_mode = "offer"``): the same choice,
   but the item is offered to the agent instead of assigned (``routing.offers``).
   While an offer rings its weight counts in the agent's load, the item is not
   routed again, and the agent gets no other offer; an agent who declined the
   item or let it ring out is passed over for it until every eligible agent has.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from agents.models import AgentProfile, AgentSkill, Presence
from core.actions import do_assign_conversations, do_transfer_to_queue
from core.errors import Conflict
from core.models import HOLDING_STATES, Conversation, ConversationSkill
from core.models import ConversationState as S
from routing import offers
from routing.models import ChannelWeight, OverflowKind, OverflowStep, Queue, QueueSkill, RouteMode, RoutingMode


class Why(StrEnum):
    """Why the router chose (or did not choose) an agent: shown on the timeline, stored in the ledger row."""

    STICKY = "sticky: back to the previous agent"
    WAITING_FOR_PREVIOUS_AGENT = "waiting for the previous agent"
    NO_ELIGIBLE_AGENT = "no eligible agent"
    BEST_MATCH = "best skill match, then least occupied, then longest idle"
    PULLED = "pulled by the agent (get next)"
    PREVIOUS_AGENT_REFUSED = "the previous agent refused the offer"


@dataclass
class Agent:
    user_id: int
    profile_id: int
    capacity: int
    load: int
    skills: dict[int, int]
    last_assigned_at: datetime | None
    bit: int
    occupancy: float = 0.0
    idle: float = 0.0
    """When last given work, as a number: never assigned sorts first."""

    def __post_init__(self) -> None:
        self.occupancy = self.load / self.capacity
        self.idle = self.last_assigned_at.timestamp() if self.last_assigned_at else float("-inf")


@dataclass
class Snapshot:
    """Available agents, indexed for fast eligibility: masks[(skill, level)] = agents with skill ≥ level."""

    agents: list[Agent]
    by_user: dict[int, Agent]
    masks: dict[tuple[int, int], int]
    everyone: int
    room: int = -1
    """Agents with at least one unit of capacity left (kept current as the pass hands out work)."""

    def __post_init__(self) -> None:
        if self.room == -1:
            self.room = sum(a.bit for a in self.agents if a.load < a.capacity)

    def take(self, agent: Agent, weight: int, at: datetime) -> None:
        agent.load += weight
        agent.last_assigned_at = at
        agent.occupancy = agent.load / agent.capacity
        agent.idle = at.timestamp()
        if agent.load >= agent.capacity:
            self.room &= ~agent.bit

    @classmethod
    def load(cls) -> Snapshot:
        profiles = list(
            AgentProfile.objects.filter(presence=Presence.AVAILABLE, user__is_active=True)
            .order_by("user_id")
            .values_list("pk", "user_id", "capacity", "last_assigned_at")
        )
        skills: dict[int, dict[int, int]] = defaultdict(dict)
        for profile_id, skill_id, level in AgentSkill.objects.filter(agent_id__in=[p[0] for p in profiles]).values_list(
            "agent_id", "skill_id", "level"
        ):
            skills[profile_id][skill_id] = level
        loads = current_loads([p[1] for p in profiles])
        agents = [
            Agent(user_id, profile_id, capacity, loads.get(user_id, 0), skills[profile_id], last, 1 << index)
            for index, (profile_id, user_id, capacity, last) in enumerate(profiles)
        ]
        masks: dict[tuple[int, int], int] = defaultdict(int)
        for agent in agents:
            for skill_id, level in agent.skills.items():
                for at_least in range(1, level + 1):
                    masks[(skill_id, at_least)] |= agent.bit
        return cls(agents, {a.user_id: a for a in agents}, dict(masks), (1 << len(agents)) - 1)

    def candidates(self, requirements: dict[int, int], alternatives: list[dict[int, int]]) -> int:
        """Bitmask of agents meeting the requirements (or any of the alternative requirement sets)."""
        result = 0
        for reqs in [requirements, *alternatives]:
            mask = self.room
            for skill_id, level in reqs.items():
                mask &= self.masks.get((skill_id, max(1, level)), 0)
                if not mask:
                    break
            result |= mask
        return result

    def agents_in(self, mask: int) -> list[Agent]:
        found = []
        while mask:
            low = mask & -mask
            found.append(self.agents[low.bit_length() - 1])
            mask ^= low
        return found


def current_loads(user_ids: list[int]) -> dict[int, int]:
    """The weights of what each agent holds, and of the offer ringing for them (reserved until answered)."""
    if not user_ids:
        return {}
    loads = dict(
        Conversation.objects.filter(assigned_agent_id__in=user_ids, state__in=HOLDING_STATES)
        .values("assigned_agent_id")
        .annotate(load=Sum("weight"))
        .values_list("assigned_agent_id", "load")
    )
    for agent_id, reserved in (
        offers.ringing()
        .filter(agent_id__in=user_ids)
        .values("agent_id")
        .annotate(reserved=Sum("weight"))
        .values_list("agent_id", "reserved")
    ):
        loads[agent_id] = loads.get(agent_id, 0) + reserved
    return loads


@dataclass
class Item:
    id: int
    queue_id: int
    channel: str
    priority: int
    queued_at: datetime
    preferred_agent_id: int | None
    key: tuple[Any, ...] = ()
    """Its place in routing order: (priority, due, created, id)."""
    skills: dict[int, int] = field(default_factory=dict)


@dataclass
class QueueRules:
    skills: dict[int, dict[int, int]]
    overflow: dict[int, list[OverflowStep]]
    queues: dict[int, Queue]
    weights: dict[str, int]

    @classmethod
    def load(cls) -> QueueRules:
        skills: dict[int, dict[int, int]] = defaultdict(dict)
        for queue_id, skill_id, level in QueueSkill.objects.values_list("queue_id", "skill_id", "min_level"):
            skills[queue_id][skill_id] = level
        overflow: dict[int, list[OverflowStep]] = defaultdict(list)
        for step in OverflowStep.objects.order_by("after_seconds"):
            overflow[step.queue_id].append(step)
        return cls(
            dict(skills),
            dict(overflow),
            {q.pk: q for q in Queue.objects.all()},
            dict(ChannelWeight.objects.values_list("channel", "weight")),
        )

    def moves_items(self) -> bool:
        """Whether any overflow step moves items to another queue (the only change possible without room)."""
        return any(
            step.kind == OverflowKind.MOVE_QUEUE and step.target_queue_id
            for steps in self.overflow.values()
            for step in steps
        )

    def overflow_queue(self, item: Item, now: datetime) -> int | None:
        """The queue an overflow step moves this item to by now, if any (the last step due wins)."""
        waited = (now - item.queued_at).total_seconds()
        target = None
        for step in self.overflow.get(item.queue_id, []):
            if waited >= step.after_seconds and step.kind == OverflowKind.MOVE_QUEUE and step.target_queue_id:
                target = step.target_queue_id
        return target

    def requirements(self, item: Item, now: datetime) -> tuple[dict[int, int], list[dict[int, int]], list[str]]:
        """The item's skill requirements after overflow, alternative sets, and the steps applied."""
        reqs = dict(self.skills.get(item.queue_id, {}))
        for skill_id, level in item.skills.items():
            reqs[skill_id] = max(reqs.get(skill_id, 0), level)
        waited = (now - item.queued_at).total_seconds()
        alternatives: list[dict[int, int]] = []
        applied = []
        for step in self.overflow.get(item.queue_id, []):
            if waited < step.after_seconds:
                break
            if step.kind == OverflowKind.LOWER_LEVEL:
                reqs = {s: max(1, level - step.level_drop) for s, level in reqs.items()}
                applied.append(f"levels -{step.level_drop} after {step.after_seconds}s")
            elif step.kind == OverflowKind.ADD_SKILL and step.skill_id is not None:
                alternatives.append({step.skill_id: step.skill_level})
                applied.append(f"skill {step.skill_id} ≥ {step.skill_level} also serves after {step.after_seconds}s")
        return reqs, alternatives, applied

    def weight(self, channel: str) -> int:
        return self.weights.get(channel, 1)

    def offers(self, queue_id: int) -> bool:
        """Whether items of this queue are offered to agents rather than assigned."""
        queue = self.queues.get(queue_id)
        return queue is not None and queue.mode == RoutingMode.PUSH and queue.route_mode == RouteMode.OFFER


@dataclass
class RoutingStats:
    examined: int = 0
    assigned: int = 0
    offered: int = 0
    waiting_for_agent: int = 0
    no_eligible_agent: int = 0
    moved: int = 0
    dropped_at_commit: int = 0
    decision_seconds: list[float] = field(default_factory=list)
    last_key: tuple[Any, ...] | None = None
    no_room: bool = False


def score(agent: Agent, reqs: dict[int, int]) -> tuple[int, float, float, int]:
    """Sort key, smallest first: best skill match, least occupied, longest idle, lowest id."""
    match = sum(agent.skills.get(skill_id, 0) for skill_id in reqs) if reqs else 0
    return (-match, agent.occupancy, agent.idle, agent.user_id)


def decide(
    item: Item,
    snapshot: Snapshot,
    rules: QueueRules,
    now: datetime,
    *,
    ringing: set[int] | frozenset[int] = frozenset(),
    refused: set[int] | frozenset[int] = frozenset(),
) -> tuple[Agent | None, dict[str, Any]]:
    """The agent an item should go to now (or None), and the reason, recorded in the ledger.

    For an offer: ``ringing`` agents (an offer already rings for them) are
    left out, and so are those who ``refused`` this item, unless every
    eligible agent has (then it goes round again).
    """
    reqs, alternatives, overflow = rules.requirements(item, now)
    weight = rules.weight(item.channel)
    mask = snapshot.candidates(reqs, alternatives)
    eligible = [a for a in snapshot.agents_in(mask) if a.load + weight <= a.capacity]
    if refused and all(a.user_id in refused for a in eligible):
        refused = frozenset()  # everyone has said no: start again
    if ringing or refused:
        eligible = [a for a in eligible if a.user_id not in ringing and a.user_id not in refused]
    reason: dict[str, Any] = {
        "requirements": {str(k): v for k, v in sorted(reqs.items())},
        "overflow": overflow,
        "eligible": len(eligible),
        "weight": weight,
    }
    if item.preferred_agent_id is not None and item.preferred_agent_id in refused:
        reason["sticky_refused"] = True  # they said no (or let it ring out): no waiting for them
    elif item.preferred_agent_id is not None:
        preferred = next((a for a in eligible if a.user_id == item.preferred_agent_id), None)
        if preferred is not None:
            return preferred, reason | {"why": Why.STICKY}
        queue = rules.queues.get(item.queue_id)
        wait = queue.sticky_wait_seconds if queue else 0
        if (now - item.queued_at).total_seconds() < wait:
            return None, reason | {"why": Why.WAITING_FOR_PREVIOUS_AGENT}
        reason["sticky_expired"] = True
    if not eligible:
        return None, reason | {"why": Why.NO_ELIGIBLE_AGENT}
    ranked = heapq.nsmallest(3, eligible, key=lambda a: score(a, reqs))
    best = ranked[0]
    reason["top"] = [
        {"agent_id": a.user_id, "skill_match": -score(a, reqs)[0], "occupancy": round(a.occupancy, 3)}
        for a in ranked[:3]
    ]
    return best, reason | {"why": Why.BEST_MATCH}


def _claim_items(limit: int, queue_ids: list[int] | None = None, after: tuple[Any, ...] | None = None) -> list[Item]:
    """The next ``limit`` queued items in routing order, after the ``after`` key if given."""
    rows = _queued(queue_ids, after).order_by(
        "-priority", F("first_response_due").asc(nulls_last=True), "created_at", "pk"
    )
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    items = [
        Item(pk, queue_id, channel, priority, queued_at or created, preferred, key=(priority, due, created, pk))
        for pk, queue_id, channel, priority, queued_at, created, preferred, due in rows.values_list(
            "pk",
            "queue_id",
            "channel",
            "priority",
            "queued_at",
            "created_at",
            "preferred_agent_id",
            "first_response_due",
        )[:limit]
    ]
    by_id = {item.id: item for item in items}
    for conversation_id, skill_id, level in ConversationSkill.objects.filter(
        conversation_id__in=list(by_id)
    ).values_list("conversation_id", "skill_id", "min_level"):
        by_id[conversation_id].skills[skill_id] = level
    return items


def _queued(queue_ids: list[int] | None = None, after: tuple[Any, ...] | None = None) -> QuerySet[Conversation]:
    """Queued items of push queues (or of ``queue_ids``), after the ``after`` key if given."""
    rows = Conversation.objects.filter(state=S.QUEUED, queue__mode=RoutingMode.PUSH)
    if queue_ids is not None:
        rows = Conversation.objects.filter(state=S.QUEUED, queue_id__in=queue_ids)
    rows = rows.exclude(offers.ringing_for())  # an item ringing for an agent waits for their answer
    if after is not None:
        rows = rows.filter(_after(after))
    return rows


def _after(key: tuple[Any, ...]) -> Q:
    """Rows after ``key`` in the order priority desc, due asc (nulls last), created asc, id asc."""
    priority, due, created, pk = key
    later_same_due = Q(created_at__gt=created) | Q(created_at=created, pk__gt=pk)
    if due is None:
        same_priority = Q(first_response_due__isnull=True) & later_same_due
    else:
        same_priority = (
            Q(first_response_due__gt=due)
            | Q(first_response_due__isnull=True)
            | (Q(first_response_due=due) & later_same_due)
        )
    return Q(priority__lt=priority) | (Q(priority=priority) & same_priority)


def route(*, limit: int = 500, after: tuple[Any, ...] | None = None) -> RoutingStats:
    """One routing pass over the next ``limit`` queued items in routing order; one transaction.

    ``stats.last_key`` is where the pass stopped, for the next pass to go on
    from, so items no agent can take now never block the ones behind them.
    """
    stats = RoutingStats()
    now = timezone.now()
    with transaction.atomic():
        if not _queued(after=after).exists():
            return stats  # the usual case between posts: one query, no agents or rules loaded
        snapshot = Snapshot.load()
        rules = QueueRules.load()
        if not snapshot.room and not rules.moves_items():
            # Nobody has room and no overflow step moves items: nothing can happen to any item
            # now, so none is claimed (a deep queue under a surge made each such pass lock
            # hundreds of rows for nothing, every time a slot opened: bench load).
            stats.no_room = True
            return stats
        items = _claim_items(limit, after=after)
        if not items:
            return stats
        stats.last_key = items[-1].key
        if not snapshot.room:
            # Nobody has room: only overflow moves can happen now.
            due = [(item.id, target) for item in items if (target := rules.overflow_queue(item, now)) is not None]
            stats.examined = len(items)
            stats.no_eligible_agent = len(items) - len(due)
            stats.no_room = True
            stats.moved = _apply_overflow_moves(due, rules)
            return stats
        plan: list[tuple[Item, Agent, dict[str, Any]]] = []
        offering = [item for item in items if rules.offers(item.queue_id)]
        ringing = offers.ringing_agents() if offering else set()
        refused = offers.refusals({item.id: item.queued_at for item in offering})
        offered: set[int] = {item.id for item in offering}
        moves: list[tuple[int, int]] = []
        for item in items:
            stats.examined += 1
            target = rules.overflow_queue(item, now)
            if target is not None:
                moves.append((item.id, target))
                continue
            started = time.perf_counter()
            if item.id in offered:
                agent, reason = decide(item, snapshot, rules, now, ringing=ringing, refused=refused.get(item.id, set()))
            else:
                agent, reason = decide(item, snapshot, rules, now)
            stats.decision_seconds.append(time.perf_counter() - started)
            if agent is None:
                if reason["why"] == Why.WAITING_FOR_PREVIOUS_AGENT:
                    stats.waiting_for_agent += 1
                else:
                    stats.no_eligible_agent += 1
                continue
            # The snapshot is this pass's view: count what it hands out.
            snapshot.take(agent, reason["weight"], now)
            if item.id in offered:
                ringing.add(agent.user_id)  # one offer at a time per agent
            plan.append((item, agent, reason))
        plan = _recheck_capacity(plan, snapshot, stats, offered)
        assign = [
            (item.id, agent.user_id, reason["weight"], reason) for item, agent, reason in plan if item.id not in offered
        ]
        do_assign_conversations(assign, at=now)
        stats.assigned = len(assign)
        stats.offered = offers.do_offer_conversations(
            [(item.id, agent.user_id, reason["weight"], reason) for item, agent, reason in plan if item.id in offered],
            rules.queues,
            now,
        )
        assigned_to = {agent.profile_id for item, agent, _ in plan if item.id not in offered}
        if assigned_to:
            AgentProfile.objects.filter(pk__in=assigned_to).update(last_assigned_at=now)
        stats.moved = _apply_overflow_moves(moves, rules)
    return stats


def _apply_overflow_moves(moves: list[tuple[int, int]], rules: QueueRules) -> int:
    """Items that waited past a "move to another queue" step go there (and wait again from now)."""
    moved = 0
    for conversation_id, queue_id in moves:
        conversation = Conversation.objects.select_related("queue").filter(pk=conversation_id).first()
        queue = rules.queues.get(queue_id)
        if conversation is None or queue is None:
            continue
        try:
            do_transfer_to_queue(conversation, queue, actor=None, reason="overflow: waited too long")
        except Conflict:
            continue
        moved += 1
    return moved


def _recheck_capacity(
    plan: list[tuple[Item, Agent, dict[str, Any]]], snapshot: Snapshot, stats: RoutingStats, offered: set[int]
) -> list[tuple[Item, Agent, dict[str, Any]]]:
    """Lock the chosen agents and re-read their load: another router may have filled them meanwhile.

    For the items to offer (``offered``), also whether another router has
    meanwhile made the agent an offer: one rings at a time.
    """
    if not plan:
        return plan
    chosen = sorted({agent.profile_id for _, agent, _ in plan})
    list(AgentProfile.objects.select_for_update().filter(pk__in=chosen).order_by("pk").values_list("pk", flat=True))
    user_ids = sorted({agent.user_id for _, agent, _ in plan})
    loads = current_loads(user_ids)
    ringing = offers.ringing_agents(user_ids) if any(item.id in offered for item, _, _ in plan) else set()
    kept = []
    for item, agent, reason in plan:
        load = loads.get(agent.user_id, 0)
        if load + reason["weight"] > agent.capacity or (item.id in offered and agent.user_id in ringing):
            stats.dropped_at_commit += 1
            continue
        if item.id in offered:
            ringing.add(agent.user_id)
        loads[agent.user_id] = load + reason["weight"]
        kept.append((item, agent, reason))
    return kept


def get_next(user_id: int) -> int | None:
    """Pull mode: the most urgent item of a pull queue this agent may take, assigned to them; its id."""
    now = timezone.now()
    with transaction.atomic():
        profile = AgentProfile.objects.select_for_update().filter(user_id=user_id).first()
        if profile is None:
            return None
        if profile.presence not in (Presence.AVAILABLE, Presence.BUSY):
            raise Conflict("Set yourself available (or busy) to take work.")
        pull_queues = list(Queue.objects.filter(mode=RoutingMode.PULL).values_list("pk", flat=True))
        items = _claim_items(200, queue_ids=pull_queues)
        if not items:
            return None
        rules = QueueRules.load()
        skills = dict(AgentSkill.objects.filter(agent=profile).values_list("skill_id", "level"))
        load = current_loads([user_id]).get(user_id, 0)
        agent = Agent(user_id, profile.pk, profile.capacity, load, skills, profile.last_assigned_at, 1)
        snapshot = Snapshot([agent], {user_id: agent}, _masks_for(agent), 1)
        for item in items:
            if item.preferred_agent_id not in (None, user_id):
                queue = rules.queues.get(item.queue_id)
                if queue and (now - item.queued_at).total_seconds() < queue.sticky_wait_seconds:
                    continue  # still waiting for the agent who knows this customer
            reqs, alternatives, overflow = rules.requirements(item, now)
            weight = rules.weight(item.channel)
            if not snapshot.candidates(reqs, alternatives) or load + weight > profile.capacity:
                continue
            reason = {
                "why": Why.PULLED,
                "requirements": {str(k): v for k, v in reqs.items()},
                "overflow": overflow,
                "weight": weight,
                "eligible": 1,
            }
            do_assign_conversations([(item.id, user_id, weight, reason)], at=now)
            AgentProfile.objects.filter(pk=profile.pk).update(last_assigned_at=now)
            return item.id
    return None


def _masks_for(agent: Agent) -> dict[tuple[int, int], int]:
    return {
        (skill_id, at_least): agent.bit for skill_id, level in agent.skills.items() for at_least in range(1, level + 1)
    }
