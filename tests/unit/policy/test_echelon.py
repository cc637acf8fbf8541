"""Guaranteed-service DP against brute-force enumeration of every integer service-time vector."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from services.policy.domain import DomainError
from services.policy.domain.capacity import fit_to_capacity
from services.policy.domain.echelon import solve_guaranteed_service


def brute_force(lead, holding, sigma, edges, z, s_max, external=None):  # type: ignore[no-untyped-def]
    """Enumerate S in {0..horizon}^n; SI_j = max S of suppliers (external time for a source)."""
    n = len(lead)
    external = external or [0] * n
    horizon = max(external) + sum(lead)
    suppliers = {j: [i for i, k in edges if k == j] for j in range(n)}
    best = math.inf
    best_s = None
    for s in itertools.product(range(horizon + 1), repeat=n):
        if any(s[j] > s_max[j] for j in range(n)):
            continue
        cost = 0.0
        for j in range(n):
            si = max(s[i] for i in suppliers[j]) if suppliers[j] else external[j]
            tau = si + lead[j] - s[j]
            if tau < 0:
                cost = math.inf
                break
            cost += holding[j] * z * sigma[j] * math.sqrt(tau)
        if cost < best - 1e-12:
            best, best_s = cost, s
    return best, best_s


CASES = [
    # (lead, holding, sigma, edges, s_max)
    ([3, 2], [1.0, 3.0], [10.0, 10.0], [(0, 1)], [99, 0]),
    ([1, 4], [2.0, 2.5], [10.0, 10.0], [(0, 1)], [99, 1]),
    ([3, 2, 1], [1.0, 2.0, 4.0], [10.0, 10.0, 10.0], [(0, 1), (1, 2)], [99, 99, 0]),
    ([2, 1, 3], [1.0, 1.2, 1.3], [8.0, 9.0, 12.0], [(0, 1), (1, 2)], [99, 99, 2]),
    ([1, 1, 1], [5.0, 1.0, 3.0], [10.0, 10.0, 10.0], [(0, 1), (1, 2)], [99, 99, 0]),
]


@pytest.mark.parametrize(("lead", "holding", "sigma", "edges", "s_max"), CASES)
def test_serial_chain_matches_brute_force(lead, holding, sigma, edges, s_max) -> None:  # type: ignore[no-untyped-def]
    solution = solve_guaranteed_service(lead, holding, sigma, edges, z=1.645, max_service_time=s_max)
    best, _ = brute_force(lead, holding, sigma, edges, 1.645, s_max)
    assert solution.total_cost == pytest.approx(best, rel=1e-12)
    # the reported plan is feasible and costs what it says
    assert np.all(solution.net_replenishment >= 0)
    assert np.all(solution.outbound_service <= np.array(s_max))
    recomputed = sum(
        h * 1.645 * s * math.sqrt(t)
        for h, s, t in zip(holding, sigma, solution.net_replenishment, strict=True)
    )
    assert recomputed == pytest.approx(solution.total_cost)


@pytest.mark.parametrize(("lead", "holding", "sigma", "edges", "s_max"), CASES)
def test_serial_solutions_are_all_or_nothing(lead, holding, sigma, edges, s_max) -> None:  # type: ignore[no-untyped-def]
    solution = solve_guaranteed_service(lead, holding, sigma, edges, max_service_time=s_max)
    for j in range(len(lead) - 1):  # internal stages: full buffer (S = 0) or none (tau = 0)
        assert solution.outbound_service[j] == 0 or solution.net_replenishment[j] == 0


def test_distribution_tree_matches_brute_force() -> None:
    # DC 0 feeds stores 1, 2, 3 (customer-facing, quoted service 0, 1, 0)
    lead, holding = [3, 1, 2, 1], [1.0, 1.6, 1.4, 2.0]
    sigma = [20.0, 8.0, 9.0, 12.0]
    edges = [(0, 1), (0, 2), (0, 3)]
    s_max = [99, 0, 1, 0]
    solution = solve_guaranteed_service(lead, holding, sigma, edges, z=2.0, max_service_time=s_max)
    best, _ = brute_force(lead, holding, sigma, edges, 2.0, s_max)
    assert solution.total_cost == pytest.approx(best, rel=1e-12)


def test_assembly_tree_with_external_supply_matches_brute_force() -> None:
    # components 0 and 1 assemble into 2, which feeds customer stage 3
    lead, holding = [2, 3, 1, 1], [1.0, 0.5, 2.0, 3.0]
    sigma = [10.0, 10.0, 10.0, 10.0]
    edges = [(0, 2), (1, 2), (2, 3)]
    s_max = [99, 99, 99, 0]
    external = [1, 0, 0, 0]
    solution = solve_guaranteed_service(
        lead, holding, sigma, edges, max_service_time=s_max, external_inbound=external
    )
    best, _ = brute_force(lead, holding, sigma, edges, 1.6448536269514722, s_max, external)
    assert solution.total_cost == pytest.approx(best, rel=1e-12)
    assert solution.inbound_service[0] == 1


def test_single_stage_holds_the_whole_lead_time() -> None:
    solution = solve_guaranteed_service([4], [1.0], [10.0], [], z=2.0, max_service_time=0)
    assert solution.net_replenishment.tolist() == [4]
    assert solution.safety_stock[0] == pytest.approx(2.0 * 10.0 * 2.0)


def test_network_that_is_not_a_tree_is_rejected() -> None:
    with pytest.raises(DomainError) as caught:
        solve_guaranteed_service([1, 1, 1], [1, 1, 1], [1, 1, 1], [(0, 1)])
    assert caught.value.field == "edges"


def test_capacity_cuts_lowest_priority_first_and_scales_the_marginal_level() -> None:
    buffers = np.array([100.0, 50.0, 200.0, 80.0, 70.0])
    priorities = np.array([3, 1, 2, 1, 2])  # larger = more important
    result = fit_to_capacity(buffers, priorities, capacity=300.0)
    # total 500, excess 200: priority 1 (130) cut entirely, then 70 of priority 2's 270 -> keep 200/270
    assert result.cut
    assert result.kept[[1, 3]].tolist() == [0.0, 0.0]
    assert result.kept[2] == pytest.approx(200 * 200 / 270) and result.kept[4] == pytest.approx(
        70 * 200 / 270
    )
    assert result.kept[0] == 100.0
    assert result.kept.sum() == pytest.approx(300.0)
    assert np.allclose(result.shortfall, buffers - result.kept)


def test_capacity_with_room_cuts_nothing_and_respects_space_per_unit() -> None:
    fits = fit_to_capacity([10.0, 20.0], [1, 2], capacity=100.0)
    assert not fits.cut and fits.shortfall.tolist() == [0.0, 0.0]
    tight = fit_to_capacity([10.0, 20.0], [1, 2], capacity=40.0, space_per_unit=[2.0, 1.0])
    # space 20 + 20 = 40 fits exactly
    assert not tight.cut
    tighter = fit_to_capacity([10.0, 20.0], [1, 2], capacity=30.0, space_per_unit=[2.0, 1.0])
    assert tighter.kept.tolist() == pytest.approx([5.0, 20.0]) and tighter.space_used == pytest.approx(30.0)


def test_zero_capacity_cuts_everything() -> None:
    result = fit_to_capacity([5.0, 7.0], [1, 9], capacity=0.0)
    assert result.kept.tolist() == [0.0, 0.0] and result.shortfall.tolist() == [5.0, 7.0]
