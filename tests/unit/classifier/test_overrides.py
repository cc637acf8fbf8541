"""Override lifecycle: reason and future expiry, four-eyes approval by an approver, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.classifier.domain.errors import (
    DomainError,
    FourEyesViolation,
    InvalidExpiry,
    InvalidTransition,
    MissingReason,
    NotAnApprover,
)
from services.classifier.domain.overrides import (
    Override,
    OverrideStatus,
    active_locks,
    approve,
    expire,
    is_active,
    reject,
    request_override,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)


def requested(**changes: Any) -> Override:
    fields: dict[str, Any] = {
        "override_id": "o1",
        "entity_id": "customer:C1",
        "segment": "PLATINUM",
        "reason": "key account launch",
        "requested_by": "alice",
        "now": NOW,
        "expires_at": LATER,
    }
    fields.update(changes)
    return request_override(**fields)


def test_request_needs_reason_and_future_expiry() -> None:
    override = requested()
    assert override.status is OverrideStatus.PENDING
    with pytest.raises(MissingReason):
        requested(reason="   ")
    with pytest.raises(InvalidExpiry, match="must be after"):
        requested(expires_at=NOW)
    with pytest.raises(InvalidExpiry):
        requested(expires_at=None)


def test_four_eyes_and_approver_role() -> None:
    override = requested()
    with pytest.raises(FourEyesViolation, match="alice requested override o1"):
        approve(override, approver="alice", roles={"approver"}, now=NOW)
    with pytest.raises(NotAnApprover):
        approve(override, approver="bob", roles={"planner"}, now=NOW)
    approved = approve(override, approver="bob", roles={"approver", "planner"}, now=NOW, note="ok")
    assert approved.status is OverrideStatus.APPROVED and approved.decided_by == "bob"
    assert is_active(approved, NOW) and not is_active(override, NOW)


def test_reject_follows_the_same_rules_and_is_final() -> None:
    override = requested()
    with pytest.raises(FourEyesViolation):
        reject(override, approver="alice", roles={"approver"}, now=NOW)
    rejected = reject(override, approver="carol", roles={"approver"}, now=NOW, note="no")
    assert rejected.status is OverrideStatus.REJECTED and not is_active(rejected, NOW)
    with pytest.raises(InvalidTransition, match="rejected, not pending"):
        approve(rejected, approver="bob", roles={"approver"}, now=NOW)


def test_expiry_reverts_and_late_decisions_fail() -> None:
    approved = approve(requested(), approver="bob", roles={"approver"}, now=NOW)
    with pytest.raises(InvalidTransition, match="runs until"):
        expire(approved, now=LATER - timedelta(seconds=1))
    expired = expire(approved, now=LATER)
    assert expired.status is OverrideStatus.EXPIRED and not is_active(approved, LATER)
    with pytest.raises(InvalidTransition):
        expire(expired, now=LATER)
    with pytest.raises(InvalidTransition, match="expired at"):
        approve(requested(), approver="bob", roles={"approver"}, now=LATER)


def test_active_locks() -> None:
    first = approve(requested(), approver="bob", roles={"approver"}, now=NOW)
    second = approve(
        requested(override_id="o2", segment="GOLD"),
        approver="bob",
        roles={"approver"},
        now=NOW + timedelta(hours=1),
    )
    pending = requested(override_id="o3", entity_id="customer:C2")
    locks = active_locks([first, second, pending], NOW + timedelta(days=1))
    assert locks == {"customer:C1": "GOLD"}
    assert active_locks([first], LATER) == {}


def test_all_errors_are_domain_errors() -> None:
    for error in (MissingReason, InvalidExpiry, FourEyesViolation, NotAnApprover, InvalidTransition):
        assert issubclass(error, DomainError)
