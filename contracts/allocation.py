"""Allocation events: per-line results of allocation runs, and the order-promise lifecycle.

Every decision carries its explanation (tier, share, quota, what limited it). A promise's
confirmations are (date, quantity) pairs in ascending date order; ``promise.changed`` carries the
confirmations before the change so customer service can tell the customer what moved.
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.common import (
    EventModel,
    Finite,
    NonEmptyStr,
    NonNegative,
    Part,
    PositiveQuantity,
    Text,
    Tier,
    UnitCode,
)

AllocationMode = Literal["priority_fair_share", "ranked_shares"]
WithinTier = Literal["proportional", "even", "fifo"]


class AllocationExplanation(Part):
    """Why a line got what it got."""

    tier: Tier
    segment: NonEmptyStr | None = None
    mode: AllocationMode | None = None
    within_tier: WithinTier | None = None
    share: Finite | None = Field(default=None, description="fair share before rounding")
    quota: NonNegative | None = Field(default=None, description="segment quota in force, if any")
    limited_by: NonEmptyStr | None = Field(
        default=None, description="what limited the line, e.g. supply, quota_max, higher_tier, rounding"
    )
    text: Text | None = None


class AllocationDecided(EventModel):
    """One order line's result in an allocation run."""

    EVENT_TYPE = "segflow.allocation.decided"

    run_id: NonEmptyStr
    sku: NonEmptyStr
    site: NonEmptyStr
    line_id: NonEmptyStr
    order_id: NonEmptyStr
    customer_id: NonEmptyStr
    tier: Tier
    requested: NonNegative
    allocated: NonNegative
    unit: UnitCode | None = None
    explanation: AllocationExplanation
    decided_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _not_above_requested(self) -> AllocationDecided:
        if self.allocated > self.requested:
            raise ValueError("allocated must not exceed requested")
        return self


class Confirmation(Part):
    """A confirmed quantity available to the customer on a date."""

    date: date
    quantity: PositiveQuantity


def _check_ascending(confirmations: list[Confirmation], label: str) -> None:
    dates = [c.date for c in confirmations]
    if any(a >= b for a, b in pairwise(dates)):
        raise ValueError(f"{label} dates must be strictly ascending")


class _Promise(EventModel):
    """An order promise (an ATP reservation when ``reserved``)."""

    promise_id: NonEmptyStr
    order_id: NonEmptyStr | None = None
    customer_id: NonEmptyStr
    sku: NonEmptyStr
    site: NonEmptyStr
    idempotency_key: NonEmptyStr
    requested_quantity: PositiveQuantity | None = None
    unit: UnitCode | None = None
    segment: NonEmptyStr | None = None
    reserved: bool = True
    confirmations: list[Confirmation] = Field(default_factory=list)
    expires_at: AwareDatetime | None = Field(default=None, description="end of an unconfirmed hold")
    reason: Text | None = None

    @model_validator(mode="after")
    def _ascending(self) -> _Promise:
        _check_ascending(self.confirmations, "confirmations")
        return self


class PromiseMade(_Promise):
    """A promise was given (and stock reserved when ``reserved``)."""

    EVENT_TYPE = "segflow.promise.made"


class PromiseChanged(_Promise):
    """A promise's confirmations changed (e.g. a backorder run after a supply drop)."""

    EVENT_TYPE = "segflow.promise.changed"

    before: list[Confirmation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _before_ascending(self) -> PromiseChanged:
        _check_ascending(self.before, "before")
        return self


class PromiseReleased(_Promise):
    """A promise's reservation was released (expired, cancelled or consumed)."""

    EVENT_TYPE = "segflow.promise.released"
