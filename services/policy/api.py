"""HTTP routes of the policy service under /v1/policy: the stateless compute and simulate (any
authenticated role), parameters and reconciliation (any authenticated role), proposals (planner, admin).

The stateless routes are plain ``def`` so FastAPI runs them in its worker thread pool, never on the event
loop; a proposal's simulation runs in a worker thread (``ProposalRunner``).
Errors are RFC 9457 problems: 400 names the offending field (``items.3.order_quantity``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends

from services.policy.domain.compute import compute_policies
from services.policy.domain.demand_draws import DemandModel
from services.policy.domain.errors import DomainError
from services.policy.domain.gate import gate
from services.policy.domain.simulate import Estimate as DomainEstimate
from services.policy.domain.simulate import InventoryPolicy, simulate
from services.policy.schemas import (
    MAX_SIMULATION_CELLS,
    ComputeRequest,
    ComputeResponse,
    ComputeResult,
    Estimate,
    GateItem,
    SimulateRequest,
    SimulateResponse,
    SimulationItem,
    SimulationResult,
)
from services.runtime.auth import AUTH_RESPONSES, Principal, require_roles
from services.runtime.problems import Problem, problem_responses

router = APIRouter(prefix="/v1/policy", tags=["policy"])
any_role = require_roles()
STATELESS = {**problem_responses(400), **AUTH_RESPONSES}


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        status=400,
        title="Invalid policy input",
        detail=f"{field}: {message}",
        errors=[{"field": field, "message": message}],
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@router.post("/compute", response_model=ComputeResponse, responses=STATELESS)
def compute(request: ComputeRequest, principal: Principal = Depends(any_role)) -> ComputeResponse:
    """Safety stock, reorder point and (periodic review) order-up-to level for each item."""
    items = request.items
    for i, item in enumerate(items):
        if (
            item.service_level.type == "fill_rate"
            and item.review_period is None
            and item.order_quantity is None
        ):
            raise _invalid(
                f"items.{i}.order_quantity", "is required for a fill_rate target without review_period"
            )
    column = lambda name: np.array([getattr(item, name) for item in items], dtype=np.float64)  # noqa: E731
    try:
        computed = compute_policies(
            column("demand_mean"),
            column("demand_std"),
            column("lead_time_mean"),
            column("lead_time_std"),
            np.array([item.service_level.target for item in items]),
            np.array([item.service_level.type == "fill_rate" for item in items]),
            np.array([np.nan if item.order_quantity is None else item.order_quantity for item in items]),
            np.array([0.0 if item.review_period is None else item.review_period for item in items]),
            np.array([item.distribution for item in items]),
        )
    except DomainError as error:
        raise _invalid(error.field, error.message) from error
    p = computed.parameters
    results = [
        ComputeResult(
            id=item.id,
            z=float(p.z[i]),
            sigma_lt=float(p.sigma_lt[i]),
            safety_stock=float(p.safety_stock[i]),
            reorder_point=float(p.reorder_point[i]),
            order_up_to=_finite(float(p.order_up_to[i])),
            method=str(computed.method[i]),
        )
        for i, item in enumerate(items)
    ]
    return ComputeResponse(results=results)


def _check_simulation_item(i: int, item: SimulationItem) -> None:
    policy, demand = item.policy, item.demand
    needs = {
        "s_S": ("reorder_point", "order_up_to"),
        "rop_q": ("reorder_point", "order_quantity"),
        "order_up_to": ("order_up_to",),
    }
    for name in needs[policy.type]:
        if getattr(policy, name) is None:
            raise _invalid(f"items.{i}.policy.{name}", f"is required for a {policy.type} policy")
    low, high = policy.reorder_point, policy.order_up_to
    if policy.type == "s_S" and low is not None and high is not None and high < low:
        raise _invalid(f"items.{i}.policy.order_up_to", "must be >= reorder_point")
    if demand.distribution == "bootstrap":
        if demand.history is None:
            raise _invalid(f"items.{i}.demand.history", "is required for bootstrap demand")
        if any(not math.isfinite(x) or x < 0 for x in demand.history):
            raise _invalid(f"items.{i}.demand.history", "must hold finite values >= 0")
        return
    if demand.mean is None:
        raise _invalid(f"items.{i}.demand.mean", f"is required for {demand.distribution} demand")
    if demand.distribution in ("normal", "negative_binomial") and demand.std is None:
        raise _invalid(f"items.{i}.demand.std", f"is required for {demand.distribution} demand")


def _starting_stock(item: SimulationItem) -> float:
    if item.starting_stock is not None:
        return item.starting_stock
    policy = item.policy
    if policy.type == "rop_q":
        return float(policy.reorder_point or 0.0) + float(policy.order_quantity or 0.0)
    return float(policy.order_up_to or 0.0)


def _estimate(estimate: DomainEstimate, i: int) -> Estimate:
    return Estimate(
        mean=_finite(float(estimate.mean[i])),
        lower=_finite(float(estimate.lower[i])),
        upper=_finite(float(estimate.upper[i])),
    )


@router.post("/simulate", response_model=SimulateResponse, responses=STATELESS)
def simulate_policy(request: SimulateRequest, principal: Principal = Depends(any_role)) -> SimulateResponse:
    """Monte Carlo of the proposed policies and the gate: publish only when every lower bound meets its target."""
    items = request.items
    cells = request.paths * len(items) * request.periods
    if cells > MAX_SIMULATION_CELLS:
        raise _invalid(
            "paths", f"paths * items * periods = {cells} exceeds the limit of {MAX_SIMULATION_CELLS}"
        )
    if request.warmup >= request.periods:
        raise _invalid("warmup", "must be less than periods")
    for i, item in enumerate(items):
        _check_simulation_item(i, item)
    longest = max((len(item.demand.history or []) for item in items), default=0)
    history = np.full((len(items), max(longest, 1)), np.nan)
    for i, item in enumerate(items):
        if item.demand.history:
            history[i, : len(item.demand.history)] = item.demand.history
    value = lambda get: np.array([get(item) for item in items], dtype=np.float64)  # noqa: E731
    policy = InventoryPolicy(
        kind=np.array([item.policy.type for item in items]),
        reorder_point=value(
            lambda it: np.nan if it.policy.reorder_point is None else it.policy.reorder_point
        ),
        order_up_to=value(lambda it: np.nan if it.policy.order_up_to is None else it.policy.order_up_to),
        order_quantity=value(
            lambda it: np.nan if it.policy.order_quantity is None else it.policy.order_quantity
        ),
        review_period=np.array([item.policy.review_period for item in items], dtype=np.int64),
    )
    demand = DemandModel(
        distribution=np.array([item.demand.distribution for item in items]),
        mean=value(lambda it: it.demand.mean or 0.0),
        std=value(lambda it: it.demand.std or 0.0),
        history=history,
    )
    try:
        metrics = simulate(
            policy,
            demand,
            value(lambda it: it.lead_time.mean),
            value(lambda it: it.lead_time.std),
            value(_starting_stock),
            paths=request.paths,
            periods=request.periods,
            seed=request.seed,
            warmup=request.warmup,
        )
        decision = gate(
            metrics,
            np.array([item.service_level.target for item in items]),
            np.array([item.service_level.type for item in items]),
        )
    except DomainError as error:
        raise _invalid(error.field, error.message) from error
    results: list[SimulationResult] = []
    for i, item in enumerate(items):
        fields: dict[str, Any] = {
            name: _estimate(getattr(metrics, name), i)
            for name in (
                "fill_rate",
                "cycle_service_level",
                "period_service_level",
                "average_on_hand",
                "stockout_periods",
            )
        }
        gate_item = GateItem(
            metric=item.service_level.type,
            target=item.service_level.target,
            lower=_finite(float(decision.lower[i])),
            met=bool(decision.met[i]),
        )
        results.append(SimulationResult(id=item.id, gate=gate_item, **fields))
    return SimulateResponse(
        publish=decision.publish,
        paths=request.paths,
        periods=request.periods,
        seed=request.seed,
        results=results,
    )
