"""Request and response bodies of the allocator's stateful routes: promises, ATP, quotas, runs."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.allocator.schemas import AllocationMode, RankedSegmentIn, WithinTier

Id = Field(min_length=1, max_length=256)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromiseRequest(_Strict):
    idempotency_key: str = Field(min_length=1, max_length=256)
    customer_id: str = Field(
        min_length=1,
        max_length=256,
        description="golden customer id, or the source's id with customer_source",
    )
    customer_source: str | None = Field(
        default=None, min_length=1, max_length=256,
        description="source system of customer_id (e.g. SAP-EU): resolved to the golden id like orders are",
    )  # fmt: skip
    sku: str = Field(min_length=1, max_length=256)
    site: str | None = Field(default=None, min_length=1, max_length=256)
    quantity: int = Field(ge=1, le=10**9, description="whole units")
    requested_date: dt.date
    reserve: bool = True
    channel: str | None = Field(default=None, max_length=256)


class ConfirmationOut(BaseModel):
    date: dt.date
    quantity: float


class PromiseExplanationOut(BaseModel):
    segment: str | None
    quota: float | None
    limited_by: Literal["none", "atp", "quota"]
    available_on_requested_day: float
    text: str


class PromiseOut(BaseModel):
    promise_id: str
    idempotency_key: str
    customer_id: str
    sku: str
    site: str
    quantity: float
    requested_date: dt.date
    reserve: bool
    status: Literal["quote", "held", "confirmed", "released", "expired"]
    confirmations: list[ConfirmationOut]
    confirmed: float
    unconfirmed: float
    segment: str | None
    tier: int | None
    strategy: str
    expires_at: dt.datetime | None
    explanation: PromiseExplanationOut


class AtpBucketState(BaseModel):
    date: dt.date
    receipts: float
    orders: float
    reserved: float
    atp: float
    cumulative_atp: float


class AtpOut(BaseModel):
    sku: str
    site: str
    on_hand: float
    promisable: float
    buckets: list[AtpBucketState]


class QuotaIn(_Strict):
    segment: str = Field(min_length=1, max_length=256)
    region: str | None = Field(default=None, max_length=256)
    channel: str | None = Field(default=None, max_length=256)
    kind: Literal["maximum", "minimum"]
    basis: Literal["number", "percent", "ratio"]
    value: float = Field(ge=0, allow_inf_nan=False)
    tier: int = Field(default=1, ge=1)
    period: str | None = Field(default=None, max_length=32, description="e.g. 2025-03; absent = always")


class QuotaOut(QuotaIn):
    quota_id: str


class QuotaList(BaseModel):
    items: list[QuotaOut]


class AllocationRunIn(_Strict):
    sku: str | None = Field(default=None, min_length=1, max_length=256)
    site: str | None = Field(default=None, min_length=1, max_length=256)
    mode: AllocationMode = "priority_fair_share"
    within_tier: WithinTier = "proportional"
    tier_caps: dict[int, float] | None = Field(
        default=None, description="priority_fair_share: per tier, the maximum share of supply in [0, 1]"
    )
    segments: list[RankedSegmentIn] | None = Field(
        default=None, max_length=1000, description="ranked_shares: the segments' shares for every sku"
    )
    segments_by_sku: dict[str, list[RankedSegmentIn]] | None = Field(
        default=None, description="ranked_shares: shares for one sku (replace the global ones)"
    )


class TierResultOut(BaseModel):
    tier: int
    requested: int
    allocated: int
    cap: int | None
    uncapped_allocated: int
    distortion: int = Field(description="allocated - uncapped_allocated (what the caps moved)")


class SegmentResultOut(BaseModel):
    segment: str
    allocated: int
    minimum: float | None = None
    maximum: float | None = None
    distortion: float | None = Field(
        default=None, description="quota distortion: allocated above the maximum (+) or below the minimum (-)"
    )
    rank: int | None = None
    share: float | None = None
    entitlement: int | None = None
    limited_by: str | None = None


class PointResultOut(BaseModel):
    sku: str
    site: str
    supply: int
    allocated: int
    unallocated: int
    units_moved_by_caps: int
    tiers: list[TierResultOut]
    segments: list[SegmentResultOut]


class DecisionOut(BaseModel):
    run_id: str
    order_id: str
    line_id: str
    sku: str
    site: str
    customer_id: str
    tier: int
    requested: float
    allocated: float
    explanation: dict[str, Any]
    decided_at: dt.datetime


class AllocationRunOut(BaseModel):
    run_id: str
    mode: AllocationMode
    stock_points: int
    lines: int
    allocated: float
    points: list[PointResultOut]
    decisions: list[DecisionOut]


class DecisionList(BaseModel):
    items: list[DecisionOut]


class BackorderRunIn(_Strict):
    sku: str | None = Field(default=None, min_length=1, max_length=256)
    site: str | None = Field(default=None, min_length=1, max_length=256)


class BackorderRunStarted(BaseModel):
    run_id: str


class BackorderRunOut(BaseModel):
    run_id: str
    status: Literal["running", "done", "failed"]
    sku: str | None
    site: str | None
    trigger: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    stock_points: int
    changed: int
    changes: list[dict[str, Any]]
    error: str | None
