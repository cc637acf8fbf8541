"""Request and response bodies of the allocator's stateless preview routes (``/v1/atp/preview``,
``/v1/allocate/preview``). Per-field rules (non-negative numbers, tiers >= 1) live here; rules across
fields (duplicate ids, date order, shares summing over 1) are checked by the routes."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_PREVIEW_BUCKETS = 3660
MAX_PREVIEW_LINES = 10_000

AllocationMode = Literal["priority_fair_share", "ranked_shares"]
WithinTier = Literal["proportional", "even", "fifo"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AtpBucketIn(_Strict):
    date: dt.date
    receipts: float = Field(
        default=0.0, ge=0, allow_inf_nan=False, description="scheduled receipts in the bucket"
    )
    orders: float = Field(
        default=0.0, ge=0, allow_inf_nan=False, description="open order quantity due in the bucket"
    )


class AtpPreviewRequest(_Strict):
    on_hand: float = Field(ge=0, allow_inf_nan=False, description="stock on hand, added to the first bucket")
    buckets: list[AtpBucketIn] = Field(
        min_length=1, max_length=MAX_PREVIEW_BUCKETS, description="dates ascending"
    )


class AtpBucketOut(BaseModel):
    date: dt.date
    atp: float = Field(description="ATP of the bucket after backward consumption (negative = over-committed)")
    cumulative_atp: float


class AtpPreviewResponse(BaseModel):
    buckets: list[AtpBucketOut]


class AllocationLineIn(_Strict):
    id: str = Field(min_length=1, max_length=200)
    tier: int = Field(ge=1, description="1 is served first")
    quantity: int = Field(ge=0)
    due: dt.date
    segment: str | None = None


class RankedSegmentIn(_Strict):
    segment: str = Field(min_length=1, max_length=200)
    rank: int = Field(ge=1)
    share: float = Field(ge=0, le=1, allow_inf_nan=False, description="fraction of the pool, in [0, 1]")
    minimum: int = Field(default=0, ge=0)
    demand: int | None = Field(
        default=None, ge=0, description="what the segment wants; absent = its whole share"
    )


class AllocatePreviewRequest(_Strict):
    supply: int = Field(ge=0)
    mode: AllocationMode
    within_tier: WithinTier = "proportional"
    lines: list[AllocationLineIn] | None = Field(default=None, max_length=MAX_PREVIEW_LINES)
    segments: list[RankedSegmentIn] | None = Field(default=None, max_length=MAX_PREVIEW_LINES)
    tier_caps: dict[int, float] | None = Field(
        default=None, description="per tier, the maximum share of supply it may take (anti-hoarding cap)"
    )


class LineExplanationOut(BaseModel):
    tier: int
    mode: WithinTier
    pool: int = Field(description="units the line's tier split")
    share: float = Field(description="the unrounded fair share")
    quota: float | None
    limited_by: Literal["request", "supply", "cap", "quota"]


class LineAllocationOut(BaseModel):
    id: str
    requested: int
    allocated: int
    explanation: LineExplanationOut


class TierSummaryOut(BaseModel):
    tier: int
    requested: int
    allocated: int
    cap: int | None
    uncapped_allocated: int
    distortion: int


class RankedExplanationOut(BaseModel):
    rank: int
    share: float
    minimum: int
    entitlement: int
    carried_in: int
    limited_by: Literal["share", "minimum", "demand", "supply"]


class SegmentAllocationOut(BaseModel):
    segment: str
    allocated: int
    explanation: RankedExplanationOut


class AllocatePreviewResponse(BaseModel):
    mode: AllocationMode
    supply: int
    allocated: int
    unallocated: int
    allocations: list[LineAllocationOut] | None = None
    tiers: list[TierSummaryOut] | None = None
    segments: list[SegmentAllocationOut] | None = None
