"""Request and response models of the policy service's stateless HTTP API (compute, simulate).

Service levels are fractions in (0, 1): ``target: 97.5`` is a 400 naming ``items.N.service_level.target``.
All quantities are in the demand's period units (demand per period, lead time and review in periods).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_COMPUTE_ITEMS = 200_000
MAX_SIMULATION_CELLS = 20_000_000  # paths * items * periods accepted by one simulate request


class _Model(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


class ServiceLevel(_Model):
    type: Literal["cycle", "fill_rate"] = Field(description="cycle service level or fill rate (type 2)")
    target: float = Field(gt=0, lt=1, description="a fraction in (0, 1), e.g. 0.975 (97.5 is an error)")


class ComputeItem(_Model):
    id: str = Field(min_length=1, max_length=200, description="the item key, e.g. sku@site")
    demand_mean: float = Field(ge=0, description="mean demand per period")
    demand_std: float = Field(ge=0, description="standard deviation of demand per period")
    lead_time_mean: float = Field(ge=0, description="mean lead time in periods")
    lead_time_std: float = Field(default=0.0, ge=0, description="standard deviation of the lead time")
    service_level: ServiceLevel
    order_quantity: float | None = Field(
        default=None, gt=0, description="Q; required for fill_rate without review"
    )
    review_period: float | None = Field(
        default=None, gt=0, description="R in periods: periodic review (R, S)"
    )
    distribution: Literal["normal", "poisson", "negative_binomial"] = Field(
        default="normal", description="lead-time demand model; discrete for intermittent or lumpy items"
    )


class ComputeRequest(_Model):
    items: list[ComputeItem] = Field(min_length=1, max_length=MAX_COMPUTE_ITEMS)


class ComputeResult(BaseModel):
    id: str
    z: float = Field(description="safety factor (z or k; implied for discrete items)")
    sigma_lt: float = Field(description="std of demand over the protection interval (L, or L + R)")
    safety_stock: float
    reorder_point: float
    order_up_to: float | None = Field(default=None, description="S, for periodic-review items")
    method: str = Field(description="e.g. cycle_service_normal, fill_rate_normal, cycle_service_poisson")


class ComputeResponse(BaseModel):
    results: list[ComputeResult]


class SimulationPolicy(_Model):
    type: Literal["s_S", "rop_q", "order_up_to"]
    reorder_point: float | None = Field(default=None, description="s (s_S, rop_q)")
    order_up_to: float | None = Field(default=None, description="S (s_S, order_up_to)")
    order_quantity: float | None = Field(default=None, gt=0, description="Q (rop_q)")
    review_period: int = Field(default=1, ge=1, le=520, description="review every R periods")


class SimulationDemand(_Model):
    distribution: Literal["normal", "poisson", "negative_binomial", "bootstrap"]
    mean: float | None = Field(
        default=None, ge=0, description="per period (normal, poisson, negative_binomial)"
    )
    std: float | None = Field(default=None, ge=0, description="per period (normal, negative_binomial)")
    history: list[float] | None = Field(
        default=None, min_length=1, max_length=10_000, description="bootstrap"
    )


class SimulationLeadTime(_Model):
    mean: float = Field(ge=0, le=520, description="periods")
    std: float = Field(default=0.0, ge=0, le=520, description="periods; integer draws round(N(mean, std))")


class SimulationItem(_Model):
    id: str = Field(min_length=1, max_length=200)
    policy: SimulationPolicy
    demand: SimulationDemand
    lead_time: SimulationLeadTime
    starting_stock: float | None = Field(
        default=None, description="net stock at start; negative = backorders"
    )
    service_level: ServiceLevel = Field(description="the target the gate checks")


class SimulateRequest(_Model):
    items: list[SimulationItem] = Field(min_length=1, max_length=100_000)
    paths: int = Field(default=500, ge=2, le=100_000)
    periods: int = Field(default=52, ge=1, le=520)
    warmup: int = Field(default=0, ge=0, description="periods simulated but not measured")
    seed: int = Field(default=0, ge=0)


class Estimate(BaseModel):
    mean: float | None
    lower: float | None = Field(description="lower 95 % confidence bound across paths")
    upper: float | None


class GateItem(BaseModel):
    metric: Literal["cycle", "fill_rate"]
    target: float
    lower: float | None
    met: bool


class SimulationResult(BaseModel):
    id: str
    fill_rate: Estimate
    cycle_service_level: Estimate = Field(description="share of receipts with no backorder outstanding")
    period_service_level: Estimate = Field(description="share of periods ending without backorders")
    average_on_hand: Estimate
    stockout_periods: Estimate
    gate: GateItem


class SimulateResponse(BaseModel):
    publish: bool = Field(description="true only when every item's lower bound meets its target")
    paths: int
    periods: int
    seed: int
    results: list[SimulationResult]
