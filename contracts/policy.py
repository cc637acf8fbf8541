"""Policy events: published inventory parameters per stock point, and service KPI alerts.

A ``policy.published`` carries the inputs it was computed from and, when the simulation gate ran,
the simulated service with its confidence interval, so a reader can check the gate's decision.
All quantities are in the demand's period units and the product's base unit.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.common import (
    EventModel,
    Finite,
    Fraction,
    NonEmptyStr,
    NonNegative,
    Part,
    PositiveQuantity,
    ServiceLevel,
    ServiceLevelType,
    UnitCode,
)

Period = Literal["day", "week", "month"]
Kpi = Literal["line_fill_rate", "otif", "perfect_order"]


class PolicyInputs(Part):
    """The statistics a policy was computed from."""

    demand_mean: NonNegative
    demand_std: NonNegative
    period: Period
    lead_time_mean: NonNegative = Field(description="in periods")
    lead_time_std: NonNegative = Field(description="in periods")
    order_quantity: PositiveQuantity | None = None
    review_period: NonNegative | None = None
    distribution: NonEmptyStr | None = Field(default=None, description="normal, poisson, negative_binomial")
    z: Finite | None = None
    sigma_lt: NonNegative | None = None


class SimulationSummary(Part):
    """Monte Carlo evidence for a policy: achieved service with confidence bounds."""

    paths: int = Field(ge=1)
    periods: int = Field(ge=1)
    seed: int | None = None
    fill_rate: Fraction
    fill_rate_ci_low: Fraction
    fill_rate_ci_high: Fraction
    cycle_service_level: Fraction | None = None
    cycle_service_level_ci_low: Fraction | None = None
    cycle_service_level_ci_high: Fraction | None = None
    average_on_hand: NonNegative | None = None
    stockout_periods: NonNegative | None = None

    @model_validator(mode="after")
    def _ordered_bounds(self) -> SimulationSummary:
        if not self.fill_rate_ci_low <= self.fill_rate <= self.fill_rate_ci_high:
            raise ValueError("fill_rate must lie within [fill_rate_ci_low, fill_rate_ci_high]")
        return self


class ErpDelta(Part):
    """Computed vs current ERP MRP values, flagged beyond the configured threshold."""

    erp_safety_stock: NonNegative | None = None
    erp_reorder_point: NonNegative | None = None
    safety_stock_delta: Finite | None = None
    reorder_point_delta: Finite | None = None
    flagged: bool = False


class PolicyPublished(EventModel):
    """The inventory policy in force for a sku at a site."""

    EVENT_TYPE = "segflow.policy.published"

    sku: NonEmptyStr
    site: NonEmptyStr
    segment: NonEmptyStr | None = None
    method: NonEmptyStr = Field(description="calculator used, e.g. cycle_service_level, fill_rate, poisson")
    service_level_type: ServiceLevelType
    service_level_target: ServiceLevel
    safety_stock: NonNegative
    reorder_point: Finite
    order_up_to: Finite | None = None
    unit: UnitCode | None = None
    inputs: PolicyInputs
    simulation: SimulationSummary | None = None
    erp_delta: ErpDelta | None = None
    proposal_id: NonEmptyStr | None = None
    published_at: AwareDatetime


class _KpiAlert(EventModel):
    """A KPI of a segment against its target over rolling windows."""

    segment: NonEmptyStr
    kpi: Kpi
    value: Fraction = Field(description="the smoothed (EWMA) KPI value at the time of the alert")
    target: ServiceLevel
    windows_below: int = Field(ge=0)
    escalation: list[NonEmptyStr] = Field(default_factory=list, description="who is notified, in order")
    region: NonEmptyStr | None = None
    at: AwareDatetime


class KpiAlertRaised(_KpiAlert):
    """The KPI stayed below target for k consecutive windows."""

    EVENT_TYPE = "segflow.kpi.alert.raised"


class KpiAlertCleared(_KpiAlert):
    """The KPI recovered past the target plus hysteresis."""

    EVENT_TYPE = "segflow.kpi.alert.cleared"
