"""Monte Carlo: a plain-Python reference recursion, agreement with the closed form, reproducibility, gate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from services.policy.domain import DomainError
from services.policy.domain.demand_draws import DemandModel, draw_demand, draw_lead_times
from services.policy.domain.gate import gate
from services.policy.domain.simulate import InventoryPolicy, confidence_interval, run_inventory, simulate


def policy(
    kind: list[str], s: list[float], big_s: list[float], q: list[float], r: list[int]
) -> InventoryPolicy:
    return InventoryPolicy(
        np.array(kind), np.array(s, float), np.array(big_s, float), np.array(q, float), np.array(r)
    )


def reference_run(kind, s, big_s, q, r, demand, lead, start, warmup):  # type: ignore[no-untyped-def]
    """One path, one item, written as a plain loop over an explicit list of outstanding orders."""
    net, orders = start, []  # orders: (arrival period, quantity)
    served = total = on_hand = stockouts = receipts = good = 0.0
    periods = len(demand)
    for t in range(periods):
        arriving = sum(qty for when, qty in orders if when == t)
        orders = [(w, x) for w, x in orders if w != t]
        if t >= warmup and arriving > 0:
            receipts += 1
            good += net >= 0
        net += arriving
        if t >= warmup:
            total += demand[t]
            served += min(demand[t], max(net, 0.0))
        net -= demand[t]
        if t >= warmup:
            on_hand += max(net, 0.0)
            stockouts += net < 0
        position = net + sum(x for _, x in orders)
        order = 0.0
        if t % r == 0:
            if kind == "order_up_to":
                order = max(big_s - position, 0.0)
            elif kind == "s_S" and position <= s:
                order = big_s - position
            elif kind == "rop_q" and position <= s:
                n = 1
                while position + n * q <= s:
                    n += 1
                order = n * q
        if order > 0:
            orders.append((t + lead[t] + 1, order))
    m = periods - warmup
    return {
        "fill": served / total if total > 0 else 1.0,
        "csl": good / receipts if receipts else math.nan,
        "psl": 1 - stockouts / m,
        "on_hand": on_hand / m,
        "stockouts": stockouts,
    }


def test_vectorised_recursion_matches_the_plain_loop() -> None:
    rng = np.random.default_rng(11)
    paths, periods = 6, 30
    pol = policy(
        ["s_S", "rop_q", "order_up_to", "order_up_to", "rop_q"],
        [40, 35, np.nan, np.nan, 10],
        [90, np.nan, 70, 120, np.nan],
        [np.nan, 25, np.nan, np.nan, 7],
        [1, 1, 1, 3, 2],
    )
    items = 5
    demand = np.round(rng.gamma(2.0, 6.0, size=(paths, items, periods)), 1)
    lead = rng.integers(0, 4, size=(paths, items, periods))
    start = np.array([50.0, -20.0, 0.0, 30.0, 5.0])  # negative = backorders at start
    got = run_inventory(pol, demand, lead, start, warmup=3)
    for p in range(paths):
        for i in range(items):
            ref = reference_run(
                pol.kind[i],
                pol.reorder_point[i],
                pol.order_up_to[i],
                pol.order_quantity[i],
                int(pol.review_period[i]),
                demand[p, i],
                lead[p, i],
                start[i],
                3,
            )
            for key, value in ref.items():
                if math.isnan(value):
                    assert math.isnan(got[key][p, i])
                else:
                    assert got[key][p, i] == pytest.approx(value, abs=1e-9), (key, p, i)


def test_order_up_to_at_95_percent_achieves_95_percent_cycle_service() -> None:
    # Closed form (DESIGN.md 6): S = d (L + R) + z sigma_{L+R}; normal demand, fixed L -> CSL = 0.95 exactly.
    d, sd, lead, review = 100.0, 20.0, 2, 1
    big_s = d * (lead + review) + stats.norm.ppf(0.95) * sd * math.sqrt(lead + review)
    pol = policy(["order_up_to"], [np.nan], [big_s], [np.nan], [review])
    demand = DemandModel(np.array(["normal"]), np.array([d]), np.array([sd]))
    metrics = simulate(pol, demand, lead, 0.0, [big_s], paths=4000, periods=52, seed=7, warmup=4)
    csl = metrics.cycle_service_level
    assert csl.lower[0] <= 0.95 <= csl.upper[0]
    assert csl.upper[0] - csl.lower[0] < 0.01  # enough paths for the check to mean something
    assert gate(metrics, 0.94).publish and not gate(metrics, 0.96).publish


def test_same_seed_same_result_other_seed_other_result() -> None:
    pol = policy(["rop_q", "s_S"], [30, 20], [np.nan, 60], [40, np.nan], [1, 1])
    demand = DemandModel(
        np.array(["poisson", "negative_binomial"]), np.array([10.0, 8.0]), np.array([0.0, 6.0])
    )
    args = (pol, demand, [2.0, 1.0], [1.0, 0.5], [50.0, 40.0])
    first = simulate(*args, paths=50, periods=26, seed=5)
    again = simulate(*args, paths=50, periods=26, seed=5)
    other = simulate(*args, paths=50, periods=26, seed=6)
    assert np.array_equal(first.fill_rate.mean, again.fill_rate.mean)
    assert np.array_equal(first.average_on_hand.mean, again.average_on_hand.mean)
    assert not np.array_equal(first.average_on_hand.mean, other.average_on_hand.mean)


def test_draws_respect_their_distributions() -> None:
    rng = np.random.default_rng(1)
    history = np.array([[0.0, 5.0, 9.0, np.nan], [3.0, 3.0, 4.0, 8.0], [np.nan] * 4])
    model = DemandModel(
        np.array(["bootstrap", "bootstrap", "normal"]),
        np.array([0.0, 0.0, 1.0]),
        np.array([0.0, 0.0, 5.0]),
        history,
    )
    draws = draw_demand(rng, model, paths=200, periods=20)
    assert set(np.unique(draws[:, 0])) == {0.0, 5.0, 9.0}
    assert set(np.unique(draws[:, 1])) == {3.0, 4.0, 8.0}
    assert draws[:, 2].min() >= 0.0  # truncated, not shifted
    # truncated normal mean: mu + sd * phi(a) / (1 - Phi(a)), a = -mu / sd
    a = -1.0 / 5.0
    expected = 1.0 + 5.0 * stats.norm.pdf(a) / stats.norm.sf(a)
    assert draws[:, 2].mean() == pytest.approx(expected, rel=0.03)
    leads = draw_lead_times(rng, np.array([2.0, 3.0]), np.array([0.0, 1.0]), 100, 10)
    assert np.all(leads[:, 0] == 2) and leads[:, 1].min() >= 0 and leads[:, 1].max() <= 7


def test_zero_demand_is_fully_served_and_negative_start_recovers() -> None:
    pol = policy(["order_up_to", "s_S"], [np.nan, 5], [20, 30], [np.nan, np.nan], [1, 1])
    demand = DemandModel(np.array(["normal", "poisson"]), np.array([0.0, 3.0]), np.array([0.0, 0.0]))
    metrics = simulate(pol, demand, 0.0, 0.0, [-10.0, -10.0], paths=20, periods=10, seed=0, warmup=2)
    assert metrics.fill_rate.mean[0] == 1.0
    assert np.all(np.isfinite(metrics.average_on_hand.mean))
    assert metrics.stockout_periods.mean[0] == 0.0  # the backorder is cleared by the first receipt


def test_confidence_interval_is_the_t_interval() -> None:
    samples = np.array([[0.9], [0.95], [1.0], [0.85]])
    estimate = confidence_interval(samples)
    half = stats.t.ppf(0.975, 3) * samples.std(ddof=1) / 2.0
    assert estimate.mean[0] == pytest.approx(0.925)
    assert estimate.lower[0] == pytest.approx(0.925 - half) and estimate.upper[0] == pytest.approx(
        0.925 + half
    )


def test_gate_holds_on_nan_and_names_bad_targets() -> None:
    pol = policy(["order_up_to"], [np.nan], [0.0], [np.nan], [1])
    demand = DemandModel(np.array(["normal"]), np.array([0.0]), np.array([0.0]))
    metrics = simulate(pol, demand, 1.0, 0.0, [0.0], paths=5, periods=5, seed=0)
    decision = gate(metrics, 0.9, "cycle")  # no receipts ever: no evidence, so no publish
    assert not decision.publish and np.isnan(decision.lower[0])
    assert gate(metrics, 0.9, "fill_rate").publish  # no demand: fill rate 1
    with pytest.raises(DomainError) as caught:
        gate(metrics, 95.0)
    assert caught.value.field == "target"


def test_invalid_simulation_inputs_are_named() -> None:
    demand = DemandModel(np.array(["normal"]), np.array([1.0]), np.array([1.0]))
    with pytest.raises(DomainError) as caught:
        simulate(policy(["rop_q"], [5], [np.nan], [np.nan], [1]), demand, 1.0, 0.0, [0.0], 10, 5, 0)
    assert caught.value.field == "policy.order_quantity"
    with pytest.raises(DomainError) as caught:
        simulate(policy(["order_up_to"], [np.nan], [5], [np.nan], [1]), demand, 1.0, 0.0, [0.0], 1, 5, 0)
    assert caught.value.field == "paths"


def test_fixed_lead_time_fast_path_equals_the_general_path() -> None:
    rng = np.random.default_rng(2)
    pol = policy(["order_up_to", "rop_q"], [np.nan, 30], [80, np.nan], [np.nan, 40], [1, 2])
    demand = rng.gamma(2.0, 10.0, size=(7, 2, 20))
    fixed = np.broadcast_to(np.array([2, 0])[None, :, None], demand.shape)  # a view: the fast path
    general = np.ascontiguousarray(fixed)  # same values, a real array: the per-cell path
    a = run_inventory(pol, demand, fixed, np.array([80.0, 10.0]))
    b = run_inventory(pol, demand, general, np.array([80.0, 10.0]))
    for key in a:
        assert np.array_equal(a[key], b[key], equal_nan=True)
