"""Stateless multi-echelon buffer placement: POST /v1/policy/echelon.

The guaranteed-service model (domain.echelon) places safety stock across a serial or tree network (DC and
stores); an optional capacity limit then scales the buffers down by segment priority (domain.capacity),
lowest priority first, and reports the shortfall per stage. Any authenticated role may call it.
"""

from __future__ import annotations

import math

import numpy as np
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import norm

from services.policy.domain.capacity import fit_to_capacity
from services.policy.domain.echelon import solve_guaranteed_service
from services.policy.domain.errors import DomainError
from services.runtime.auth import AUTH_RESPONSES, Principal, require_roles
from services.runtime.problems import Problem, problem_responses

router = APIRouter(prefix="/v1/policy", tags=["policy"])
MAX_STAGES = 200


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128)
    processing_time: int = Field(ge=0, le=365, description="periods from inbound availability to outbound")
    holding_cost: float = Field(ge=0, allow_inf_nan=False)
    demand_std: float = Field(ge=0, allow_inf_nan=False, description="per period")
    service_level: float = Field(0.95, gt=0, lt=1, description="cycle service level of this stage's buffer")
    max_service_time: int | None = Field(None, ge=0, description="promised service time to customers")
    external_inbound: int = Field(0, ge=0, le=365, description="quoted service time of an outside supplier")
    priority: float = Field(1.0, allow_inf_nan=False, description="segment priority: larger is cut last")
    space_per_unit: float = Field(1.0, ge=0, allow_inf_nan=False)


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supplier: str
    customer: str


class EchelonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stages: list[Stage] = Field(min_length=1, max_length=MAX_STAGES)
    edges: list[Edge] = Field(default_factory=list)
    capacity: float | None = Field(None, ge=0, allow_inf_nan=False, description="space for all buffers")


class StageResult(BaseModel):
    id: str
    outbound_service: int
    inbound_service: int
    net_replenishment: int
    safety_stock: float
    kept: float
    shortfall: float


class EchelonResponse(BaseModel):
    stages: list[StageResult]
    total_cost: float
    capacity_binding: bool
    space_used: float


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        status=400,
        title="Invalid network",
        detail=f"{field}: {message}",
        errors=[{"field": field, "message": message}],
    )


@router.post(
    "/echelon", response_model=EchelonResponse, responses={**problem_responses(400), **AUTH_RESPONSES}
)
def place_buffers(
    request: EchelonRequest, principal: Principal = Depends(require_roles())
) -> EchelonResponse:
    """Optimal service times and buffers per stage, then scaled into the capacity by priority."""
    index = {s.id: i for i, s in enumerate(request.stages)}
    if len(index) != len(request.stages):
        raise _invalid("stages", "stage ids must be unique")
    edges: list[tuple[int, int]] = []
    for i, e in enumerate(request.edges):
        if e.supplier not in index or e.customer not in index:
            raise _invalid(f"edges.{i}", "supplier and customer must be stage ids")
        edges.append((index[e.supplier], index[e.customer]))
    stages = request.stages
    try:
        sol = solve_guaranteed_service(
            processing_time=[s.processing_time for s in stages],
            holding_cost=[s.holding_cost for s in stages],
            demand_std=[s.demand_std for s in stages],
            edges=edges,
            z=norm.ppf([s.service_level for s in stages]),
            max_service_time=[math.inf if s.max_service_time is None else s.max_service_time for s in stages],
            external_inbound=[s.external_inbound for s in stages],
        )
    except DomainError as exc:
        raise _invalid(exc.field, exc.message) from exc
    safety = np.asarray(sol.safety_stock, dtype=float)
    if request.capacity is not None:
        fit = fit_to_capacity(
            safety, [s.priority for s in stages], request.capacity, [s.space_per_unit for s in stages]
        )
        kept, shortfall, used, binding = fit.kept, fit.shortfall, fit.space_used, fit.cut
    else:
        kept, shortfall = safety, np.zeros_like(safety)
        used, binding = float(np.sum(safety * [s.space_per_unit for s in stages])), False
    return EchelonResponse(
        stages=[
            StageResult(
                id=s.id,
                outbound_service=int(sol.outbound_service[i]),
                inbound_service=int(sol.inbound_service[i]),
                net_replenishment=int(sol.net_replenishment[i]),
                safety_stock=float(safety[i]),
                kept=float(kept[i]),
                shortfall=float(shortfall[i]),
            )
            for i, s in enumerate(stages)
        ],
        total_cost=float(sol.total_cost),
        capacity_binding=bool(binding),
        space_used=float(used),
    )
