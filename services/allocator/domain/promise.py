"""Order promising against an ATP picture: confirmations by date, and consuming them after a reservation.

A store calls ``promise`` with the current post-consumption ATP buckets of one sku@site (and the
customer's remaining segment quota), reserves the confirmations it gets back, then calls ``consume`` to
obtain the new picture. Both are pure: the caller owns locking and persistence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

PromiseLimit = Literal["none", "atp", "quota"]


@dataclass(frozen=True)
class Confirmation:
    """``quantity`` units confirmed for bucket (day index) ``day``."""

    day: int
    quantity: float


@dataclass(frozen=True)
class PromiseExplanation:
    """Why a promise came out as it did: the segment, its quota and what limited it."""

    segment: str | None
    quota: float | None
    limited_by: PromiseLimit
    available_on_requested_day: float


@dataclass(frozen=True)
class PromiseResult:
    """Confirmations (earliest first), the unconfirmable rest and the explanation."""

    confirmations: tuple[Confirmation, ...]
    confirmed: float
    unconfirmed: float
    explanation: PromiseExplanation


def promisable_by_day(atp_buckets: ArrayLike) -> NDArray[np.float64]:
    """Quantity a new order could take by each day without hurting existing ones.

    ``available[d] = max(0, min(cumulative_atp[d..end]))``: supply up to day ``d`` is usable on day ``d``,
    and a later dip of cumulative ATP (an over-commitment) reserves what it needs. Non-decreasing in ``d``.
    """
    cumulative = np.cumsum(np.asarray(atp_buckets, dtype=np.float64))
    if cumulative.size == 0:
        return cumulative
    suffix_min = np.minimum.accumulate(cumulative[::-1])[::-1]
    return np.maximum(0.0, suffix_min)


def promise(
    atp_buckets: ArrayLike,
    quantity: float,
    requested_day: int,
    quota_remaining: float | None = None,
    segment: str | None = None,
) -> PromiseResult:
    """Confirm the earliest days ``>= requested_day`` whose cumulative ATP, within the quota, covers the order.

    ``bound[d] = min(quantity, quota_remaining, promisable_by_day[d])`` for ``d >= requested_day``; the
    confirmation on day ``d`` is ``bound[d] - bound[d-1]`` (with ``bound[requested_day - 1] = 0``), kept when
    positive. ``unconfirmed = quantity - bound[last day]``. ``limited_by`` is ``none`` when everything is
    confirmed on the requested day, ``quota`` when the quota is what stops the rest, otherwise ``atp``.
    """
    if quantity < 0:
        raise ValueError("quantity must be >= 0")
    if quota_remaining is not None and quota_remaining < 0:
        raise ValueError("quota_remaining must be >= 0")
    available = promisable_by_day(atp_buckets)
    if not 0 <= requested_day < max(1, available.size):
        raise ValueError(f"requested_day {requested_day} outside the horizon of {available.size} buckets")
    quota_cap = np.inf if quota_remaining is None else float(quota_remaining)
    horizon = available[requested_day:] if available.size else np.zeros(1)
    bound = np.minimum(np.minimum(horizon, quota_cap), float(quantity))
    increments = np.diff(bound, prepend=0.0)
    confirmations = tuple(
        Confirmation(day=requested_day + int(offset), quantity=float(increments[offset]))
        for offset in np.flatnonzero(increments > 0)
    )
    confirmed = float(bound[-1])
    unconfirmed = float(quantity) - confirmed
    if unconfirmed <= 0 and (not confirmations or confirmations[-1].day == requested_day):
        limited_by: PromiseLimit = "none"
    elif unconfirmed > 0 and quota_cap < float(horizon[-1]):
        limited_by = "quota"
    else:
        limited_by = "atp"
    explanation = PromiseExplanation(
        segment=segment,
        quota=quota_remaining,
        limited_by=limited_by,
        available_on_requested_day=float(horizon[0]),
    )
    return PromiseResult(confirmations, confirmed, max(0.0, unconfirmed), explanation)


def consume(
    atp_buckets: ArrayLike, confirmations: tuple[Confirmation, ...] | list[Confirmation]
) -> NDArray[np.float64]:
    """The ATP picture after reserving ``confirmations``: each takes from its own day, then earlier days.

    Same backward-consumption rule as ATP (latest earlier bucket first, never a later one), so
    ``consume(atp(on_hand, receipts, orders), [(d, q)]) == atp(on_hand, receipts, orders + q on day d)``.
    Raises ``ValueError`` when a confirmation is not covered (it was not produced by ``promise`` on this
    picture): reserving it would oversell.
    """
    atp = np.array(atp_buckets, dtype=np.float64)
    for confirmation in sorted(confirmations, key=lambda c: c.day):
        if not 0 <= confirmation.day < atp.size:
            raise ValueError(f"confirmation day {confirmation.day} outside the horizon")
        if confirmation.quantity < 0:
            raise ValueError("a confirmation quantity must be >= 0")
        if confirmation.quantity > float(promisable_by_day(atp)[confirmation.day]) + 1e-9:
            raise ValueError(f"confirmation of {confirmation.quantity} on day {confirmation.day} exceeds ATP")
        needed = float(confirmation.quantity)
        for bucket in range(confirmation.day, -1, -1):
            if needed <= 0:
                break
            taken = min(needed, max(0.0, float(atp[bucket])))
            atp[bucket] -= taken
            needed -= taken
    return atp
