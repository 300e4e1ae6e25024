"""What the core tells the apps above it, and what it asks of them, without importing them.

The core (conversations, the state machine, the ledger) sits at the bottom of
the dependency graph: it imports no app. Where a use case in the core has a
consequence that belongs to an app above it, the core fires a hook and the app
registers its listener in its ``AppConfig.ready()``:

* ``routing_wanted``: capacity was freed or moved, work was queued, or an agent
  became available: routing runs a pass after commit.
* ``agent_timed_out``: an agent's browser went silent: routing re-queues their
  work, waiting for them a while (sticky).
* ``agent_unavailable``: an agent left "available" (away, busy, offline, timed
  out): routing withdraws the offer ringing for them, for the next agent.
* ``conversation_resolved``: responses invites the customer to the CSAT survey.
* ``notification``: a notification event (escalated, SLA breached, a spike):
  routing's notification rules email whom they name.
* ``deletion_blockers``: a configuration row (a queue) is about to be deleted:
  apps that refer to it name what the deletion would lose, so it is refused.

Where the core needs an answer it cannot compute itself, an app provides a
service:

* ``sla_clock``: deadlines and business-hours durations in each queue's SLA
  calendar (routing's policies). Without a provider every queue is always
  open and has no deadlines.
* ``category_exists``: whether triage can ever set a category (monitoring's
  classification rules), for configuration that matches on categories.

Listeners run synchronously, inside the caller's transaction, in the order
they registered; anything slow or over the network they defer with
``transaction.on_commit`` like every other side effect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Hook(Generic[P]):
    """A named notification with any number of listeners."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[P, None]] = []

    def register(self, listener: Callable[P, None]) -> Callable[P, None]:
        """Add ``listener`` (once: an app whose ``ready()`` runs twice registers it once)."""
        if listener not in self._listeners:
            self._listeners.append(listener)
        return listener

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for listener in self._listeners:
            listener(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._listeners)} listener(s)>"


class Service(Generic[T]):
    """A named service one app provides; the core's own default stands in until it does."""

    def __init__(self, name: str, default: T) -> None:
        self.name = name
        self._default = default
        self._provider: T = default

    def provide(self, provider: T) -> None:
        self._provider = provider

    def reset(self) -> None:
        self._provider = self._default

    def get(self) -> T:
        return self._provider


# --- Notifications -------------------------------------------------------------------------------

routing_wanted: Hook[[]] = Hook("routing_wanted")
agent_timed_out: Hook[[int]] = Hook("agent_timed_out")  # the agent's user id
agent_unavailable: Hook[[int]] = Hook("agent_unavailable")  # the agent's user id, in the presence change's transaction
conversation_resolved: Hook[[Any]] = Hook("conversation_resolved")  # the Conversation, in the resolving transaction
notification: Hook[[str, int | None, str, dict[str, Any] | None]] = Hook(
    "notification"  # event (routing.models.NotificationEvent), conversation id, reason, spike figures
)
deletion_blockers: Hook[[Any, list[tuple[str, Any]]]] = Hook(
    "deletion_blockers"  # a configuration row about to be deleted; listeners append (label, queryset) it would lose
)


# --- Services ------------------------------------------------------------------------------------


class SLAClock(Protocol):
    """Deadlines and business durations per queue, each queue's calendar loaded once (one clock per batch)."""

    def load(self, queue_ids: Iterable[int | None]) -> SLAClock: ...

    def first_response_due(self, queue_id: int | None, start: datetime) -> datetime | None: ...

    def next_response_due(self, queue_id: int | None, start: datetime) -> datetime | None: ...

    def business_seconds(self, queue_id: int | None, start: datetime | None, end: datetime) -> float | None: ...


class AlwaysOpen:
    """The clock without SLA policies: no deadlines, and business time is calendar time."""

    def load(self, queue_ids: Iterable[int | None]) -> AlwaysOpen:
        return self

    def first_response_due(self, queue_id: int | None, start: datetime) -> datetime | None:
        return None

    def next_response_due(self, queue_id: int | None, start: datetime) -> datetime | None:
        return None

    def business_seconds(self, queue_id: int | None, start: datetime | None, end: datetime) -> float | None:
        return None if start is None else max(timedelta(0), end - start).total_seconds()


sla_clock: Service[Callable[[], SLAClock]] = Service("sla_clock", AlwaysOpen)
category_exists: Service[Callable[[str], bool]] = Service("category_exists", lambda category: True)


def new_sla_clock() -> SLAClock:
    """A fresh clock for one batch of work (it caches each queue's calendar for the batch's length)."""
    return sla_clock.get()()
