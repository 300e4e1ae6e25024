"""Erlang C staffing (reporting.staffing) against worked examples and an independent exact formula."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest

from core.errors import Invalid
from reporting import staffing

# The standard Erlang C worked example used in call-centre textbooks and in
# Call Centre Helper's "Erlang C Formula - Made Simple": 100 calls in 30 minutes,
# AHT 180 s, target 80 % answered in 20 s, 30 % shrinkage. Traffic A = 10 erlangs;
# 13 agents fall just short (SL 79.6 %), 14 meet it with P(wait) 17.41 %,
# SL = 1 - 0.1741 · e^(-4 · 20 / 180) = 88.83 %, ASA = 0.1741 · 180 / 4 = 7.84 s,
# occupancy 10 / 14 = 71.4 %, and 14 / (1 - 0.3) = 20 agents scheduled.
CLASSIC = {"volume": 100, "interval_seconds": 1800, "aht_seconds": 180, "answer_seconds": 20}


def exact_erlang_c(agents: int, traffic: int) -> Fraction:
    """Erlang C straight from its textbook definition, in exact rationals (fine for small n)."""
    queue_term = Fraction(traffic**agents, math.factorial(agents)) * Fraction(agents, agents - traffic)
    below = sum(Fraction(traffic**k, math.factorial(k)) for k in range(agents))
    return queue_term / (below + queue_term)


def test_it_staffs_the_classic_worked_example_with_14_agents() -> None:
    result = staffing.required_agents(**CLASSIC, target_service_level=0.8, shrinkage=0.3)

    assert result.agents == 14
    assert result.scheduled_agents == 20
    assert result.traffic_erlangs == 10
    assert result.p_wait == pytest.approx(0.1741, abs=1e-4)
    assert result.service_level == pytest.approx(0.8883, abs=1e-4)
    assert result.asa_seconds == pytest.approx(7.836, abs=1e-3)
    assert result.occupancy == pytest.approx(10 / 14)


def test_13_agents_fall_just_short_of_80_in_20() -> None:
    result = staffing.evaluate(agents=13, **CLASSIC)

    assert result.service_level == pytest.approx(0.7956, abs=1e-4)
    assert result.service_level < 0.8


@pytest.mark.parametrize(
    ("agents", "published_p_wait"),
    [(11, 0.6821), (12, 0.4494), (13, 0.2853), (14, 0.1741), (15, 0.1020)],
)
def test_p_wait_for_10_erlangs_matches_the_exact_factorial_formula(agents: int, published_p_wait: float) -> None:
    p_wait = staffing.probability_of_waiting(agents, 10.0)

    assert p_wait == pytest.approx(float(exact_erlang_c(agents, 10)), rel=1e-12)
    assert p_wait == pytest.approx(published_p_wait, abs=1e-4)


def test_erlang_b_recursion_matches_its_closed_form() -> None:
    # B(n) = (A^n / n!) / Σ_{k≤n} A^k / k!, exact, for A = 7 and n = 9.
    exact = Fraction(7**9, math.factorial(9)) / sum(Fraction(7**k, math.factorial(k)) for k in range(10))

    assert staffing.erlang_b(9, 7.0) == pytest.approx(float(exact), rel=1e-12)


def test_it_meets_a_target_asa_instead_of_a_service_level() -> None:
    # ASA with 13 agents is 17.1 s and with 14 agents 7.8 s: a 10 s target needs 14.
    result = staffing.required_agents(**CLASSIC, target_asa_seconds=10)

    assert result.agents == 14
    assert result.asa_seconds is not None and result.asa_seconds <= 10


def test_with_both_targets_it_meets_the_stricter() -> None:
    result = staffing.required_agents(**CLASSIC, target_service_level=0.8, target_asa_seconds=5)

    assert result.agents == 15  # ASA 3.7 s; 14 agents give 7.8 s


def test_it_stays_finite_for_5000_erlangs() -> None:
    # 5,000 erlangs: A^n / n! would overflow a float long before n = 5,000.
    workload = {"volume": 50_000, "interval_seconds": 1800, "aht_seconds": 180, "answer_seconds": 20}

    result = staffing.required_agents(**workload, target_service_level=0.8)

    assert result.traffic_erlangs == 5000
    assert 5000 < result.agents < 5100  # economies of scale: far fewer spare agents per erlang than at A = 10
    assert result.service_level >= 0.8
    assert all(
        math.isfinite(value) for value in (result.p_wait, result.service_level, result.occupancy, result.asa_seconds)
    )
    below = staffing.evaluate(agents=result.agents - 1, **workload)
    assert below.service_level < 0.8


def test_p_wait_is_monotonic_and_bounded_at_scale() -> None:
    values = [staffing.probability_of_waiting(agents, 5000.0) for agents in range(5001, 5200, 10)]

    assert all(0 <= value <= 1 for value in values)
    assert values == sorted(values, reverse=True)


def test_shrinkage_rounds_scheduled_agents_up() -> None:
    assert staffing.scheduled_agents(14, 0.3) == 20  # exactly 20: not 21 from 14 / 0.7 in binary floating point
    assert staffing.scheduled_agents(9, 0.1) == 10
    assert staffing.scheduled_agents(14, 0.25) == 19  # 18.67 rounds up
    assert staffing.scheduled_agents(14, 0) == 14


def test_concurrency_divides_the_effective_handle_time() -> None:
    # Two conversations at once at 360 s each is the classic example's workload again.
    digital = staffing.required_agents(
        volume=100, interval_seconds=1800, aht_seconds=360, answer_seconds=20, target_service_level=0.8, concurrency=2
    )
    classic = staffing.required_agents(**CLASSIC, target_service_level=0.8)

    assert digital == classic


def test_concurrency_lowers_the_agents_needed() -> None:
    single = staffing.required_agents(**CLASSIC, target_service_level=0.8)
    triple = staffing.required_agents(**CLASSIC, target_service_level=0.8, concurrency=3)

    assert triple.traffic_erlangs == pytest.approx(10 / 3)
    assert triple.agents < single.agents


def test_no_volume_needs_no_agents() -> None:
    result = staffing.required_agents(
        volume=0, interval_seconds=1800, aht_seconds=180, answer_seconds=20, target_service_level=0.8
    )

    assert (result.agents, result.scheduled_agents, result.p_wait, result.service_level) == (0, 0, 0.0, 1.0)
    assert result.asa_seconds == 0.0


def test_evaluating_too_few_agents_reports_an_unstable_queue() -> None:
    result = staffing.evaluate(agents=10, **CLASSIC)

    assert result.p_wait == 1.0
    assert result.service_level == 0.0
    assert result.asa_seconds is None
    assert result.occupancy == 1.0


def test_result_is_frozen() -> None:
    result = staffing.evaluate(agents=14, **CLASSIC)

    with pytest.raises(AttributeError):
        result.agents = 15  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"interval_seconds": -1800}, "interval_seconds"),
        ({"volume": -1}, "volume"),
        ({"volume": math.nan}, "volume"),
        ({"aht_seconds": 0}, "aht_seconds"),
        ({"aht_seconds": math.inf}, "aht_seconds"),
        ({"answer_seconds": -5}, "answer_seconds"),
        ({"shrinkage": 1}, "shrinkage"),
        ({"shrinkage": -0.1}, "shrinkage"),
        ({"concurrency": 0.5}, "concurrency"),
        ({"target_service_level": 0}, "target_service_level"),
        ({"target_service_level": 1}, "target_service_level"),
        ({"target_service_level": 1.5}, "target_service_level"),
        ({"target_service_level": None}, "target_service_level"),
        ({"target_service_level": None, "target_asa_seconds": 0}, "target_asa_seconds"),
        ({"target_service_level": None, "target_asa_seconds": -3}, "target_asa_seconds"),
    ],
)
def test_it_refuses_invalid_inputs_naming_the_field(change: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {**CLASSIC, "target_service_level": 0.8, **change}

    with pytest.raises(Invalid) as raised:
        staffing.required_agents(**arguments)

    assert field in raised.value.fields
    assert field in raised.value.message


def test_it_reports_every_invalid_field_at_once() -> None:
    with pytest.raises(Invalid) as raised:
        staffing.required_agents(
            volume=-1, interval_seconds=0, aht_seconds=180, answer_seconds=20, target_service_level=0.8
        )

    assert set(raised.value.fields) == {"volume", "interval_seconds"}


def test_a_target_beyond_100000_agents_cannot_be_met() -> None:
    # 200,000 erlangs: no staffing up to the bound even keeps the queue finite.
    with pytest.raises(Invalid) as raised:
        staffing.required_agents(
            volume=2_000_000, interval_seconds=1800, aht_seconds=180, answer_seconds=20, target_service_level=0.8
        )

    assert "target_service_level" in raised.value.fields
    assert "cannot be met" in raised.value.message


def test_traffic_too_large_for_a_float_is_refused() -> None:
    with pytest.raises(Invalid) as raised:
        staffing.required_agents(
            volume=1e308, interval_seconds=1e-300, aht_seconds=1e10, answer_seconds=20, target_service_level=0.8
        )

    assert "volume" in raised.value.fields


@pytest.mark.parametrize("agents", [-1, staffing.MAX_AGENTS + 1])
def test_evaluate_refuses_agents_out_of_range(agents: int) -> None:
    with pytest.raises(Invalid) as raised:
        staffing.evaluate(agents=agents, **CLASSIC)

    assert "agents" in raised.value.fields
