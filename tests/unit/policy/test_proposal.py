"""Proposals: the closed form matches what the gate simulates (weekly review, R = 1 bucket), calibration of
the safety stock when the closed form misses the gate, bounds, bootstrap demand, reproducibility."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from services.policy.domain.gate import gate
from services.policy.domain.gate_simulation import demand_model, simulate_order_up_to
from services.policy.domain.proposal import (
    CALIBRATION_SEED_OFFSET,
    ProposalInputs,
    ProposalSettings,
    propose,
)


def inputs(
    d: list[float],
    sd: list[float],
    lead: list[float],
    lead_sd: list[float],
    target: list[float],
    fill: list[bool] | None = None,
    distribution: str = "normal",
    history: np.ndarray | None = None,
) -> ProposalInputs:
    n = len(d)
    return ProposalInputs(
        demand_mean=np.array(d, dtype=float),
        demand_std=np.array(sd, dtype=float),
        lead_time_mean=np.array(lead, dtype=float),
        lead_time_std=np.array(lead_sd, dtype=float),
        target=np.array(target, dtype=float),
        fill_rate=np.array(fill or [False] * n),
        review_period=np.zeros(n),
        distribution=np.array([distribution] * n),
        history=history,
    )


BIG = ProposalSettings(paths=400, periods=104, seed=11)


def test_closed_form_for_normal_demand_at_095_agrees_with_the_simulation_and_passes() -> None:
    [item] = propose(inputs([100], [30], [2], [0], [0.95]), BIG)
    closed = item.closed_form or {
        "safety_stock": item.safety_stock,
        "order_up_to": item.order_up_to,
        "evidence": item.evidence,
    }
    # independent: R = 1, sigma_{L+R} = sqrt(3) * 30, S = d (L + R) + z sigma
    z = NormalDist().inv_cdf(0.95)
    assert closed["safety_stock"] == pytest.approx(z * math.sqrt(3) * 30)
    assert closed["order_up_to"] == pytest.approx(300 + z * math.sqrt(3) * 30)
    e = closed["evidence"]
    assert e["cycle_service_level_ci_low"] <= 0.95 <= e["cycle_service_level_ci_high"]
    assert item.met and item.lower is not None and item.lower >= 0.95
    if item.calibration is not None:  # a policy exactly at target needs a sliver more stock to pass
        assert item.calibration["multiplier"] < 0.25 and item.safety_stock > closed["safety_stock"]


def test_fill_rate_closed_form_agrees_with_the_simulated_fill_rate() -> None:
    [item] = propose(inputs([100], [30], [2], [0], [0.95], fill=[True]), BIG)
    e = (item.closed_form or {"evidence": item.evidence})["evidence"]
    assert abs(e["fill_rate"] - 0.95) < 0.005
    assert item.met and item.lower >= 0.95  # type: ignore[operator]


def test_calibration_finds_the_smallest_safety_stock_whose_lower_bound_meets_the_target() -> None:
    # lead-time variability in whole weeks makes the closed form miss 0.90 by a few points
    config = ProposalSettings(paths=300, periods=80, seed=5)
    problem = inputs([100], [30], [2], [0.5], [0.9])
    [item] = propose(problem, config)
    assert item.closed_form is not None and item.calibration is not None
    assert not item.closed_form["met"] and item.closed_form["lower"] < 0.9
    assert item.met and item.lower >= 0.9 and item.method.endswith("_calibrated")  # type: ignore[operator]
    m, scale = item.calibration["multiplier"], item.calibration["scale"]
    assert item.safety_stock == pytest.approx(item.closed_form["safety_stock"] + m * scale)
    assert item.order_up_to == pytest.approx(300 + item.safety_stock)
    assert item.calibration["simulations"] <= 4 + config.calibration_steps

    def lower_at(multiplier: float) -> float:
        ss = item.closed_form["safety_stock"] + multiplier * scale  # type: ignore[index]
        metrics = simulate_order_up_to(
            np.array([300 + ss]),
            np.array([1.0]),
            demand_model(problem.distribution, problem.demand_mean, problem.demand_std, None, False),
            problem.lead_time_mean,
            problem.lead_time_std,
            paths=config.paths,
            periods=config.periods,
            warmup=config.warmup,
            seed=config.seed + CALIBRATION_SEED_OFFSET,
            chunk_items=config.chunk_items,
        )
        return float(gate(metrics, 0.9, "cycle").lower[0])

    step = 1.0 / 2**config.calibration_steps
    assert lower_at(m) == pytest.approx(item.lower)  # the evidence belongs to the published value
    assert lower_at(max(m - step, 0.0)) < 0.9  # one resolution step less misses (smallest, to resolution)


def test_calibration_respects_the_safety_stock_ceiling_and_holds_with_evidence() -> None:
    config = ProposalSettings(paths=200, periods=60, seed=1, max_cover=0.5)  # SS <= 0.5 * d = 50
    [item] = propose(inputs([100], [30], [2], [0], [0.95]), config)
    assert not item.met and item.safety_stock <= 50.0 + 1e-9
    assert item.calibration is not None and item.calibration["met"] is False
    assert item.calibration["multiplier"] is None and item.evidence is not None
    assert item.evidence["cycle_service_level_ci_low"] < 0.95


def test_without_calibration_the_closed_form_is_published_or_held_as_is() -> None:
    config = ProposalSettings(paths=300, periods=80, seed=5, calibrate=False)
    [item] = propose(inputs([100], [30], [2], [0.5], [0.9]), config)
    assert item.calibration is None and item.closed_form is None and not item.met


def test_proposals_are_reproducible_for_a_seed() -> None:
    problem = inputs([100, 40], [30, 25], [2, 1], [0.5, 0.2], [0.9, 0.97])
    config = ProposalSettings(paths=100, periods=40, seed=9)
    assert propose(problem, config) == propose(problem, config)


def test_no_demand_items_pass_trivially_and_constant_demand_needs_no_stock() -> None:
    [none, flat] = propose(inputs([0, 50], [0, 0], [2, 1], [0, 0], [0.95, 0.99]), BIG)
    assert none.met and none.evidence is None and none.safety_stock == 0.0
    assert flat.met and flat.safety_stock == 0.0 and flat.order_up_to == pytest.approx(100.0)
    assert flat.evidence is not None and flat.evidence["fill_rate"] == 1.0


def test_bootstrap_demand_resamples_the_history() -> None:
    # demand alternates 0 / 200: mean 100, but a bootstrap path only ever sees 0 or 200 a week
    history = np.array([[0.0, 200.0] * 13])
    mean, std = float(history.mean()), float(history.std(ddof=1))
    problem = inputs([mean], [std], [1], [0], [0.9], history=history)
    config = ProposalSettings(paths=300, periods=60, seed=2, demand_model="bootstrap")
    [item] = propose(problem, config)
    assert item.met and item.lower >= 0.9  # type: ignore[operator]
    # the demand over L + R = 2 weeks is 0, 200 or 400 (prob 1/4, 1/2, 1/4): S >= 400 never runs short,
    # 200 <= S < 400 is short whenever both weeks order (cycle service 3/4 < 0.9), so S must reach 400
    assert item.order_up_to is not None and item.order_up_to >= 400.0 - 1e-9
    fitted = propose(problem, ProposalSettings(paths=300, periods=60, seed=2))
    assert fitted[0].evidence != item.evidence


def test_discrete_items_are_calibrated_in_whole_units() -> None:
    problem = inputs([2.0], [2.5], [2], [0.5], [0.95], distribution="negative_binomial")
    [item] = propose(problem, ProposalSettings(paths=300, periods=80, seed=4))
    assert item.met
    if item.calibration is not None:
        assert item.order_up_to is not None and item.order_up_to == math.ceil(item.order_up_to)
        assert item.safety_stock == pytest.approx(item.order_up_to - 2.0 * 3)
