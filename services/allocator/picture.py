"""The ATP picture of one sku@site: supply, order lines and reservations in force.

``PointState`` is what the store holds for a sku@site, summed by date (read by ``read_state``, five
indexed queries): on hand, open receipts, open order lines, reservations per (segment, day) from the
per-day totals (``reserved_days``: O(segments x days), not O(holds)) and when its first hold expires.
``PointState.picture`` turns it into daily buckets for a given ``today`` (bucket 0): order lines count on
their requested date, reservations on their confirmation dates. The state is immutable, so promising can
keep one per sku@site in memory (point_cache.py) and derive the next one with ``with_reserved``.
``load_picture`` reads it from the store; holds past their expiry that are not released yet are taken
out; the promise rows themselves are loaded only on request (backorder processing re-dates each one).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.allocator import store_promises, store_reserved, store_supply
from services.allocator.domain.atp import available_to_promise
from services.allocator.domain.buckets import bucket_quantities, horizon_days
from services.allocator.domain.promise import promisable_by_day

EPSILON = 1e-9


@dataclass(frozen=True)
class PointPicture:
    sku: str
    site: str
    today: dt.date
    days: int
    on_hand: float
    receipts: NDArray[np.float64]
    orders: NDArray[np.float64]
    reservations: NDArray[np.float64]
    promises: list[Row[Any]]
    reserved_by_segment: dict[str, float]

    def atp(self, *, with_reservations: bool = True) -> NDArray[np.float64]:
        demand = self.orders + self.reservations if with_reservations else self.orders
        return available_to_promise(self.on_hand, self.receipts, demand).atp

    def promisable_total(self, *, with_reservations: bool = True) -> float:
        return float(promisable_by_day(self.atp(with_reservations=with_reservations))[-1])

    def supply(self) -> float:
        """On hand plus receipts inside the horizon (never below 0)."""
        return max(0.0, self.on_hand + float(self.receipts.sum()))


@dataclass(frozen=True)
class PointState:
    """A sku@site's stored inputs summed by date; ``next_expiry`` is at or before its first hold's expiry
    (``None``: no holds), so ``now < next_expiry`` proves no hold is overdue."""

    on_hand: float
    receipts: Mapping[dt.date, float]
    orders: Mapping[dt.date, float]
    reserved: Mapping[tuple[str, dt.date], float] = field(default_factory=dict)
    next_expiry: float | None = None

    def with_reserved(
        self, segment: str | None, dated: Iterable[tuple[dt.date, float]], *, sign: float = 1.0,
        expires_at: float | None = None,
    ) -> PointState:  # fmt: skip
        """The state after adding (``sign=1``) or taking away (``sign=-1``) one segment's dated units, as
        ``store_reserved.add_reserved`` does to the stored totals (totals at or below 1e-9 vanish); a new
        hold's ``expires_at`` lowers ``next_expiry``."""
        reserved = dict(self.reserved)
        name = segment or store_reserved.NO_SEGMENT
        for day, quantity in dated:
            total = reserved.get((name, day), 0.0) + sign * float(quantity)
            if total > EPSILON:
                reserved[(name, day)] = total
            else:
                reserved.pop((name, day), None)
        expiry = self.next_expiry
        if expires_at is not None:
            expiry = expires_at if expiry is None else min(expiry, expires_at)
        return PointState(self.on_hand, self.receipts, self.orders, reserved, expiry)

    def picture(
        self, sku: str, site: str, today: dt.date, *, extra_dates: tuple[dt.date, ...] = (),
        promises: list[Row[Any]] | None = None,
    ) -> PointPicture:  # fmt: skip
        """Daily buckets from ``today``; the horizon covers every dated quantity and ``extra_dates``."""
        active = promises or []
        dates = [*self.receipts, *self.orders, *(day for _, day in self.reserved), *extra_dates]
        days = horizon_days(today, dates + [p.requested_date for p in active])
        by_segment: dict[str, float] = {}
        for (segment, _), quantity in self.reserved.items():
            if segment != store_reserved.NO_SEGMENT:
                by_segment[segment] = by_segment.get(segment, 0.0) + quantity
        return PointPicture(
            sku=sku,
            site=site,
            today=today,
            days=days,
            on_hand=self.on_hand,
            receipts=bucket_quantities(today, days, self.receipts.items()),
            orders=bucket_quantities(today, days, self.orders.items()),
            reservations=bucket_quantities(today, days, ((day, q) for (_, day), q in self.reserved.items())),
            promises=active,
            reserved_by_segment=by_segment,
        )


def _summed(dated: Iterable[tuple[dt.date, float]]) -> dict[dt.date, float]:
    totals: dict[dt.date, float] = {}
    for day, quantity in dated:
        totals[day] = totals.get(day, 0.0) + float(quantity)
    return totals


async def read_state(session: AsyncSession, sku: str, site: str) -> PointState:
    """A sku@site's state as stored (overdue holds still counted: release them first, or see
    ``load_picture``)."""
    on_hand, receipt_rows = await store_supply.point_supply(session, sku, site)
    lines = await store_supply.open_line_quantities(session, sku, site)
    reserved: dict[tuple[str, dt.date], float] = {}
    for segment, day, quantity in await store_reserved.reserved_rows(session, sku, site):
        reserved[(segment, day)] = reserved.get((segment, day), 0.0) + quantity
    return PointState(
        on_hand=on_hand,
        receipts=_summed((r.due_date, r.quantity) for r in receipt_rows),
        orders=_summed(lines),
        reserved=reserved,
        next_expiry=await store_promises.earliest_hold_expiry(session, sku, site),
    )


def confirmations_of(row: Row[Any]) -> list[dict[str, Any]]:
    return list(orjson.loads(row.confirmations))


def dated(confirmations: list[dict[str, Any]]) -> list[tuple[dt.date, float]]:
    """(date, quantity) of stored confirmations."""
    return [(dt.date.fromisoformat(c["date"]), float(c["quantity"])) for c in confirmations]


async def load_picture(
    session: AsyncSession,
    sku: str,
    site: str,
    today: dt.date,
    now: float,
    *,
    extra_dates: tuple[dt.date, ...] = (),
    with_promises: bool = False,
    expired_released: bool = False,
) -> PointPicture:
    """Read one sku@site. ``with_promises`` also loads the promise rows in force (O(holds));
    ``expired_released`` skips the look-up of overdue holds (the caller just released them)."""
    state = await read_state(session, sku, site)
    overdue = [] if expired_released else await store_promises.expired_holds_at(session, sku, site, now)
    for row in overdue:
        state = state.with_reserved(row.segment, dated(confirmations_of(row)), sign=-1.0)
    active = await store_promises.active_promises(session, sku, site, now) if with_promises else []
    return state.picture(sku, site, today, extra_dates=extra_dates, promises=active)


def whole_units(value: float) -> int:
    """Whole units of a quantity for the integer allocation rules: ``floor(value + 1e-9)``, at least 0."""
    return max(0, math.floor(value + 1e-9))
