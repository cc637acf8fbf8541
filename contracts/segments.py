"""Segmentation events: current assignments, applied changes and the override lifecycle.

An assignment carries the segment's service policy so downstream services never look up rule sets.
Revenue and margin are financials: present on the internal topic, omitted on partner topics
(``without_financials``). Overrides are four-eyes: the decider is never the requester.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.common import (
    FINANCIAL,
    Dimension,
    EventModel,
    Finite,
    NonEmptyStr,
    Part,
    ServiceLevel,
    ServiceLevelType,
    Text,
    Tier,
)

BackorderStrategy = Literal["win", "gain", "redistribute", "fill", "lose"]
DemandPattern = Literal["smooth", "erratic", "intermittent", "lumpy"]


class ServicePolicy(Part):
    """What a segment is promised: service-level target, OTIF target, lead time, backorder strategy."""

    service_level_type: ServiceLevelType
    service_level_target: ServiceLevel
    otif_target: ServiceLevel
    promise_lead_time_days: int = Field(ge=0)
    backorder_strategy: BackorderStrategy
    delivery_window_days: int | None = Field(default=None, ge=0)


class SegmentAssigned(EventModel):
    """The current segment of an entity (compacted: the latest per dimension:entity wins)."""

    EVENT_TYPE = "segflow.segment.assigned"

    dimension: Dimension
    entity_id: NonEmptyStr
    segment: NonEmptyStr
    tier: Tier
    abc: Literal["A", "B", "C"] | None = None
    xyz: Literal["X", "Y", "Z"] | None = None
    pattern: DemandPattern | None = None
    service_policy: ServicePolicy
    ruleset_version: NonEmptyStr
    ruleset_hash: NonEmptyStr
    reasons: list[Text] = Field(default_factory=list)
    partner_ids: list[NonEmptyStr] = Field(default_factory=list)
    region: NonEmptyStr | None = None
    valid_from: AwareDatetime
    run_id: NonEmptyStr | None = None
    revenue: Finite | None = Field(default=None, json_schema_extra=FINANCIAL)
    margin: Finite | None = Field(default=None, json_schema_extra=FINANCIAL)

    def without_financials(self) -> SegmentAssigned:
        """The partner-topic projection: the same assignment with revenue and margin removed."""
        return self.model_copy(update={"revenue": None, "margin": None})


class SegmentChanged(EventModel):
    """An applied segment change, with its reasons and the account owner to notify."""

    EVENT_TYPE = "segflow.segment.changed"

    dimension: Dimension
    entity_id: NonEmptyStr
    old_segment: NonEmptyStr | None = Field(default=None, description="None for a first assignment")
    new_segment: NonEmptyStr
    old_tier: Tier | None = None
    new_tier: Tier | None = None
    reasons: list[Text] = Field(min_length=1)
    account_owner: NonEmptyStr | None = None
    run_id: NonEmptyStr | None = None
    changed_at: AwareDatetime


class _OverrideEvent(EventModel):
    """One step of a manual override's lifecycle."""

    override_id: NonEmptyStr
    dimension: Dimension
    entity_id: NonEmptyStr
    segment: NonEmptyStr
    reason: Text = Field(min_length=1)
    requested_by: NonEmptyStr
    decided_by: NonEmptyStr | None = None
    expires_at: AwareDatetime

    @model_validator(mode="after")
    def _four_eyes(self) -> _OverrideEvent:
        if self.decided_by is not None and self.decided_by == self.requested_by:
            raise ValueError("decided_by must differ from requested_by (four-eyes)")
        return self


class OverrideRequested(_OverrideEvent):
    """A user asked to pin an entity to a segment until ``expires_at``."""

    EVENT_TYPE = "segflow.override.requested"


class OverrideApproved(_OverrideEvent):
    """A different user with the approver role approved the override."""

    EVENT_TYPE = "segflow.override.approved"

    decided_by: NonEmptyStr


class OverrideRejected(_OverrideEvent):
    """A different user with the approver role rejected the override."""

    EVENT_TYPE = "segflow.override.rejected"

    decided_by: NonEmptyStr
    decision_reason: Text | None = None


class OverrideExpired(_OverrideEvent):
    """An approved override reached ``expires_at``; rules apply again."""

    EVENT_TYPE = "segflow.override.expired"
