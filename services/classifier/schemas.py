"""HTTP models of the classifier API (pydantic v2): the stateless classification preview."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

AttributeValue = str | bool | int | float | None


class Measures(BaseModel):
    """An entity's measures over the horizon; an absent value is missing (never read as zero)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    revenue: float | None = None
    margin: float | None = Field(default=None, description="revenue minus cost; absent when cost is unknown")
    volume: float | None = None
    order_lines: float | None = Field(default=None, ge=0)


class EntityIn(BaseModel):
    """One entity to classify."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: str = Field(min_length=1, max_length=200)
    dimension: str = Field(
        min_length=1, max_length=40, description="customer, product, customer_product, ..."
    )
    measures: Measures = Field(default_factory=Measures)
    demand: list[float] = Field(default_factory=list, description="bucket quantities, oldest first")
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    launch_period: int | None = Field(default=None, description="bucket index of first sale (new products)")
    promo_buckets: list[int] = Field(default_factory=list, description="bucket indices hit by a promotion")
    one_time_project_buckets: list[int] = Field(default_factory=list)


class PreviewRequest(BaseModel):
    """Entities and an optional rule set (the default rule set when absent)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    ruleset: dict[str, Any] | None = None
    entities: list[EntityIn] = Field(max_length=100_000)
    period_index: int | None = Field(
        default=None, description="current bucket index for new-product exits; default = number of buckets"
    )


class ResultOut(BaseModel):
    """One entity's classification with its explanation."""

    id: str
    dimension: str
    abc: str
    xyz: str | None
    pattern: str
    segment: str
    policy_segment: str
    tier: int
    driver: str
    driver_value: float | None
    rank: int
    cum_share_before: float | None
    cv: float | None
    adi: float | None
    cv2: float | None
    matched_rule: str
    reasons: list[str]
    flags: list[str]
    source_segment: str | None = Field(
        default=None, description="the entity's local_segment mapped to the standard taxonomy"
    )
    local_name: str | None = Field(
        default=None, description="the segment's local name in the entity's source_system, if it has one"
    )


class PreviewResponse(BaseModel):
    """The rule set's content hash, the engine version and one result per entity (request order)."""

    ruleset_hash: str
    engine_version: str
    results: list[ResultOut]
