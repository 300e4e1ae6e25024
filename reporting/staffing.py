"""Erlang C staffing: how many agents an interval needs, and how a given staffing performs.

The model (M/M/n): contacts arrive at random (Poisson) at ``volume`` per
``interval_seconds``, each takes ``aht_seconds`` of an agent's time (talk or
typing plus wrap-up), waiting contacts are never abandoned, and the first free
agent takes the longest-waiting contact. With traffic ``A`` in erlangs and
``n`` agents:

* ``A = volume * AHT / interval``;
* ``P(wait)`` is Erlang C, the chance a contact finds every agent busy;
* service level ``SL(t) = 1 - P(wait) · e^(-(n - A) · t / AHT)``, the share
  answered within ``t`` seconds;
* ``ASA = P(wait) · AHT / (n - A)``, the mean wait over all contacts;
* occupancy ``= A / n``, the share of agents' logged-in time spent working.

**Concurrency.** Digital work lets an agent hold ``concurrency`` conversations
at once (chat, messages, social posts; default 1, as for calls). The model
treats such an agent as one server that works ``concurrency`` times faster:
the effective AHT of one agent slot is ``AHT / concurrency``, and that effective
AHT is used everywhere above (traffic, service level, ASA). It is the usual
planning approximation; it assumes the agent really keeps that many
conversations going whenever the queue is not empty.

**Numerical stability.** Erlang C is never computed from ``A^n / n!`` (which
overflows a float from n ≈ 170): Erlang B comes from the recursion
``B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1))``, whose values stay in [0, 1],
and then ``C = n·B / (n - A·(1 - B))``. Searching for the required agents steps
the same recursion forward one agent at a time, so the whole search is linear
in the answer and stays fast at thousands of erlangs.

Invalid inputs raise :class:`core.errors.Invalid` naming the field,
with the names the REST API uses for its query parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from core.errors import Invalid

MAX_AGENTS = 100_000
"""No interval is staffed beyond this; a target that needs more is reported as unreachable."""


@dataclass(frozen=True)
class Staffing:
    """One staffing figure and how it performs; ``asa_seconds`` is None when the queue is unstable."""

    agents: int
    """Agents needed on the floor (or given, when evaluating)."""
    scheduled_agents: int
    """Agents to schedule so that ``agents`` remain after shrinkage."""
    service_level: float
    """Share of contacts answered within ``answer_seconds``."""
    asa_seconds: float | None
    """Average speed of answer over all contacts; None when ``agents ≤ traffic`` (the wait grows without bound)."""
    occupancy: float
    p_wait: float
    traffic_erlangs: float


# --- The formulas ----------------------------------------------------------------------


def traffic_intensity(volume: float, interval_seconds: float, aht_seconds: float) -> float:
    """Offered traffic in erlangs: the average number of contacts being handled at once."""
    return volume * aht_seconds / interval_seconds


def erlang_b(agents: int, traffic: float) -> float:
    """Erlang B (blocking probability) for ``agents`` servers, by the stable recursion."""
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = _next_erlang_b(n, traffic, blocking)
    return blocking


def _next_erlang_b(n: int, traffic: float, previous: float) -> float:
    """B(n) from B(n-1)."""
    carried = traffic * previous
    return carried / (n + carried)


def _erlang_c_from_b(agents: int, traffic: float, blocking: float) -> float:
    if agents <= traffic:
        return 1.0  # every contact waits: the queue grows without bound
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def probability_of_waiting(agents: int, traffic: float) -> float:
    """Erlang C: the probability that a contact has to wait (1 when ``agents ≤ traffic``)."""
    if agents <= traffic:
        return 1.0
    return _erlang_c_from_b(agents, traffic, erlang_b(agents, traffic))


def service_level(agents: int, traffic: float, aht_seconds: float, answer_seconds: float) -> float:
    """Share of contacts answered within ``answer_seconds`` (0 when ``agents ≤ traffic``)."""
    return _service_level(agents, traffic, probability_of_waiting(agents, traffic), aht_seconds, answer_seconds)


def _service_level(agents: int, traffic: float, p_wait: float, aht_seconds: float, answer_seconds: float) -> float:
    if agents <= traffic:
        return 1.0 if traffic == 0 else 0.0
    # The exponent is ≤ 0, so exp() can only underflow to 0, never overflow.
    return max(0.0, 1.0 - p_wait * math.exp(-(agents - traffic) * answer_seconds / aht_seconds))


def average_speed_of_answer(agents: int, traffic: float, aht_seconds: float) -> float | None:
    """Mean wait in seconds over all contacts; None when ``agents ≤ traffic`` (unbounded)."""
    return _asa(agents, traffic, probability_of_waiting(agents, traffic), aht_seconds)


def _asa(agents: int, traffic: float, p_wait: float, aht_seconds: float) -> float | None:
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return None
    return p_wait * aht_seconds / (agents - traffic)


def occupancy(agents: int, traffic: float) -> float:
    """Share of agents' time spent handling contacts (capped at 1: an overloaded floor is always busy)."""
    if agents == 0:
        return 0.0 if traffic == 0 else 1.0
    return min(1.0, traffic / agents)


def scheduled_agents(agents: int, shrinkage: float) -> int:
    """Agents to schedule so that ``agents`` are available after ``shrinkage`` (breaks, training, absence).

    Computed on the decimal the caller wrote (``repr`` of the float), so that
    14 agents at 30 % shrinkage give exactly 20, not 21 from 14 / 0.7 =
    20.000000000000004 in binary floating point.
    """
    return math.ceil(Fraction(agents) / (1 - Fraction(repr(float(shrinkage)))))


# --- Planning ------------------------------------------------------------------------


def required_agents(
    *,
    volume: float,
    interval_seconds: float,
    aht_seconds: float,
    answer_seconds: float,
    target_service_level: float | None = None,
    target_asa_seconds: float | None = None,
    shrinkage: float = 0.0,
    concurrency: float = 1.0,
) -> Staffing:
    """The fewest agents that meet every target given, and how they perform.

    Targets: ``target_service_level`` (a share in (0, 1) of contacts answered
    within ``answer_seconds``) and/or ``target_asa_seconds``; at least one is
    required. With no traffic no agents are needed. Otherwise the search starts
    at the smallest n greater than the traffic (fewer agents never empty the
    queue) and steps the Erlang B recursion one agent at a time up to
    ``MAX_AGENTS``; a target not met by then raises ``Invalid``.
    """
    errors = _input_errors(volume, interval_seconds, aht_seconds, answer_seconds, shrinkage, concurrency)
    if target_service_level is None and target_asa_seconds is None:
        errors["target_service_level"] = ["Give target_service_level or target_asa_seconds (or agents to evaluate)."]
    if target_service_level is not None and not (0 < target_service_level < 1):
        errors["target_service_level"] = ["target_service_level must be a share between 0 and 1, exclusive."]
    if target_asa_seconds is not None and not (0 < target_asa_seconds < math.inf):
        errors["target_asa_seconds"] = ["target_asa_seconds must be greater than 0."]
    _raise_if_any(errors)

    aht = aht_seconds / concurrency
    traffic = _traffic(volume, interval_seconds, aht)
    if traffic == 0:
        return _staffing(0, traffic, 1.0, aht, answer_seconds, shrinkage)

    first = math.floor(traffic) + 1
    if first <= MAX_AGENTS:
        blocking = erlang_b(first - 1, traffic)
        for agents in range(first, MAX_AGENTS + 1):
            blocking = _next_erlang_b(agents, traffic, blocking)
            p_wait = _erlang_c_from_b(agents, traffic, blocking)
            meets_service_level = target_service_level is None or (
                _service_level(agents, traffic, p_wait, aht, answer_seconds) >= target_service_level
            )
            asa = _asa(agents, traffic, p_wait, aht)
            meets_asa = target_asa_seconds is None or (asa is not None and asa <= target_asa_seconds)
            if meets_service_level and meets_asa:
                return _staffing(agents, traffic, p_wait, aht, answer_seconds, shrinkage)

    field = "target_service_level" if target_service_level is not None else "target_asa_seconds"
    message = (
        f"The target cannot be met with {MAX_AGENTS:,} agents or fewer "
        f"(the traffic is {traffic:,.1f} erlangs); check volume, aht_seconds and the target."
    )
    raise Invalid(message, fields={field: [message]})


def evaluate(
    *,
    agents: int,
    volume: float,
    interval_seconds: float,
    aht_seconds: float,
    answer_seconds: float,
    shrinkage: float = 0.0,
    concurrency: float = 1.0,
) -> Staffing:
    """How ``agents`` on the floor would perform against the given workload.

    Fewer agents than the traffic is a valid question with a grim answer:
    everyone waits, the service level is 0 and ``asa_seconds`` is None.
    """
    errors = _input_errors(volume, interval_seconds, aht_seconds, answer_seconds, shrinkage, concurrency)
    if not (0 <= agents <= MAX_AGENTS):
        errors["agents"] = [f"agents must be between 0 and {MAX_AGENTS:,}."]
    _raise_if_any(errors)

    aht = aht_seconds / concurrency
    traffic = _traffic(volume, interval_seconds, aht)
    return _staffing(agents, traffic, probability_of_waiting(agents, traffic), aht, answer_seconds, shrinkage)


# --- Helpers -------------------------------------------------------------------------


def _staffing(
    agents: int, traffic: float, p_wait: float, aht: float, answer_seconds: float, shrinkage: float
) -> Staffing:
    if traffic == 0:
        p_wait = 0.0
    return Staffing(
        agents=agents,
        scheduled_agents=scheduled_agents(agents, shrinkage),
        service_level=_service_level(agents, traffic, p_wait, aht, answer_seconds),
        asa_seconds=_asa(agents, traffic, p_wait, aht),
        occupancy=occupancy(agents, traffic),
        p_wait=p_wait,
        traffic_erlangs=traffic,
    )


def _traffic(volume: float, interval_seconds: float, aht: float) -> float:
    traffic = traffic_intensity(volume, interval_seconds, aht)
    if not math.isfinite(traffic):
        message = "volume * aht_seconds / interval_seconds is too large to compute."
        raise Invalid(message, fields={"volume": [message]})
    return traffic


def _input_errors(
    volume: float,
    interval_seconds: float,
    aht_seconds: float,
    answer_seconds: float,
    shrinkage: float,
    concurrency: float,
) -> dict[str, list[str]]:
    """Every invalid workload input, by field (``not (... )`` so that NaN fails too)."""
    errors: dict[str, list[str]] = {}
    if not (0 <= volume < math.inf):
        errors["volume"] = ["volume must be zero or more."]
    if not (0 < interval_seconds < math.inf):
        errors["interval_seconds"] = ["interval_seconds must be greater than 0."]
    if not (0 < aht_seconds < math.inf):
        errors["aht_seconds"] = ["aht_seconds must be greater than 0."]
    if not (0 <= answer_seconds < math.inf):
        errors["answer_seconds"] = ["answer_seconds must be zero or more."]
    if not (0 <= shrinkage < 1):
        errors["shrinkage"] = ["shrinkage must be at least 0 and less than 1."]
    if not (1 <= concurrency <= 100):
        errors["concurrency"] = ["concurrency must be between 1 and 100 conversations at once."]
    return errors


def _raise_if_any(errors: dict[str, list[str]]) -> None:
    if errors:
        raise Invalid(" ".join(message for messages in errors.values() for message in messages), fields=errors)
