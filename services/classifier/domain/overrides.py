"""Override lifecycle: request (reason, future expiry) -> approve / reject by a different user with the
approver role (four-eyes) -> expiry reverts. Pure state transitions on immutable ``Override`` values;
times are passed in, never read from a clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from .errors import FourEyesViolation, InvalidExpiry, InvalidTransition, MissingReason, NotAnApprover

APPROVER_ROLE = "approver"


class OverrideStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Override:
    """A request to pin an entity to a segment until ``expires_at``."""

    override_id: str
    entity_id: str
    segment: str
    reason: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    status: OverrideStatus = OverrideStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None


def request_override(
    *,
    override_id: str,
    entity_id: str,
    segment: str,
    reason: str,
    requested_by: str,
    now: datetime,
    expires_at: datetime | None,
) -> Override:
    """Rule: a request needs a non-blank reason and an expiry strictly after ``now``; it starts pending."""
    if not reason or not reason.strip():
        raise MissingReason("an override needs a reason")
    if expires_at is None:
        raise InvalidExpiry("an override needs an expiry")
    if expires_at <= now:
        raise InvalidExpiry(f"expiry {expires_at.isoformat()} must be after {now.isoformat()}")
    if not segment:
        raise InvalidTransition("an override needs a target segment")
    return Override(override_id, entity_id, segment, reason.strip(), requested_by, now, expires_at)


def _decide(
    override: Override,
    *,
    user: str,
    roles: Collection[str],
    now: datetime,
    note: str | None,
    status: OverrideStatus,
) -> Override:
    if override.status is not OverrideStatus.PENDING:
        raise InvalidTransition(f"override {override.override_id} is {override.status.value}, not pending")
    if now >= override.expires_at:
        raise InvalidTransition(
            f"override {override.override_id} expired at {override.expires_at.isoformat()}"
        )
    if user == override.requested_by:
        raise FourEyesViolation(f"{user} requested override {override.override_id} and cannot also decide it")
    if APPROVER_ROLE not in roles:
        raise NotAnApprover(f"{user} does not hold the {APPROVER_ROLE} role")
    return replace(override, status=status, decided_by=user, decided_at=now, decision_note=note)


def approve(
    override: Override, *, approver: str, roles: Collection[str], now: datetime, note: str | None = None
) -> Override:
    """Rule: pending, not expired, approver != requester (four-eyes) and approver holds the approver role."""
    return _decide(override, user=approver, roles=roles, now=now, note=note, status=OverrideStatus.APPROVED)


def reject(
    override: Override, *, approver: str, roles: Collection[str], now: datetime, note: str | None = None
) -> Override:
    """Rule: the same conditions as ``approve``; the override then never takes effect."""
    return _decide(override, user=approver, roles=roles, now=now, note=note, status=OverrideStatus.REJECTED)


def expire(override: Override, *, now: datetime) -> Override:
    """Rule: a pending or approved override with now >= expires_at becomes expired (the entity reverts)."""
    if override.status not in (OverrideStatus.PENDING, OverrideStatus.APPROVED):
        raise InvalidTransition(
            f"override {override.override_id} is {override.status.value}; it cannot expire"
        )
    if now < override.expires_at:
        raise InvalidTransition(
            f"override {override.override_id} runs until {override.expires_at.isoformat()}"
        )
    return replace(override, status=OverrideStatus.EXPIRED)


def is_active(override: Override, now: datetime) -> bool:
    """Rule: active = approved and now < expires_at."""
    return override.status is OverrideStatus.APPROVED and now < override.expires_at


def active_locks(overrides: Iterable[Override], now: datetime) -> dict[str, str]:
    """entity id -> override segment for every active override (the latest decided wins on a clash)."""
    active = sorted(
        (o for o in overrides if is_active(o, now)),
        key=lambda o: (o.decided_at or o.requested_at, o.override_id),
    )
    return {o.entity_id: o.segment for o in active}
