"""Request models of the policy service's stateful routes (proposals, KPI evaluation, escalation)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")


class Bounds(_Model):
    min_cover: float | None = Field(default=None, ge=0, description="periods of mean demand")
    max_cover: float | None = Field(default=None, ge=0)
    min_quantity: float | None = Field(default=None, ge=0)
    max_quantity: float | None = Field(default=None, ge=0)


class SimulationOptions(_Model):
    paths: int = Field(default=200, ge=2, le=5000)
    periods: int = Field(default=52, ge=2, le=520)
    warmup: int = Field(default=4, ge=0, le=100)
    seed: int = Field(default=0, ge=0)
    demand_model: Literal["fitted", "bootstrap"] = "fitted"


class ProposalRequest(_Model):
    sku: str | None = Field(default=None, min_length=1, max_length=256)
    site: str | None = Field(default=None, min_length=1, max_length=256)
    segment: str | None = Field(default=None, min_length=1, max_length=256)
    review_period: float | None = Field(default=None, gt=0, le=52, description="weeks; none = continuous")
    order_cover_periods: float | None = Field(default=None, gt=0, le=52, description="Q = d x cover")
    bounds: Bounds | None = None
    simulation: SimulationOptions = SimulationOptions()


class EvaluateRequest(_Model):
    through: date | None = Field(default=None, description="evaluate weeks up to the week of this date")


class EscalationRequest(_Model):
    path: list[str] = Field(min_length=1, max_length=10)
