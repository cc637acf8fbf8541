"""The ATP picture of one sku@site read from the store: supply, order lines and reservations in force.

``today`` is bucket 0; order lines count on their requested date, reservations on their confirmation
dates. Reservations come from the per-day totals (``reserved_days``: O(segments x days), not O(holds));
holds past their expiry that are not released yet are taken out of them. The promise rows themselves are
loaded only on request (backorder processing re-dates each one).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.allocator import store, store_reserved
from services.allocator.domain.atp import available_to_promise
from services.allocator.domain.buckets import bucket_quantities, horizon_days
from services.allocator.domain.promise import promisable_by_day


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


def confirmations_of(row: Row[Any]) -> list[dict[str, Any]]:
    return list(orjson.loads(row.confirmations))


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
    on_hand, receipt_rows = await store.point_supply(session, sku, site)
    lines = await store.open_lines(session, sku, site)
    segment_days = await store_reserved.reserved_rows(session, sku, site)
    overdue = [] if expired_released else await store_reserved.expired_holds_at(session, sku, site, now)
    for row in overdue:
        segment = row.segment or store_reserved.NO_SEGMENT
        segment_days += [(segment, dt.date.fromisoformat(c["date"]), -float(c["quantity"]))
                         for c in confirmations_of(row)]  # fmt: skip
    active = await store.active_promises(session, sku, site, now) if with_promises else []
    by_segment: dict[str, float] = {}
    for segment, _, quantity in segment_days:
        by_segment[segment] = by_segment.get(segment, 0.0) + quantity
    dates = [r.due_date for r in receipt_rows] + [ln.requested_date for ln in lines]
    dates += [day for _, day, _ in segment_days] + [p.requested_date for p in active] + list(extra_dates)
    days = horizon_days(today, dates)
    return PointPicture(
        sku=sku,
        site=site,
        today=today,
        days=days,
        on_hand=on_hand,
        receipts=bucket_quantities(today, days, ((r.due_date, r.quantity) for r in receipt_rows)),
        orders=bucket_quantities(today, days, ((ln.requested_date, ln.quantity) for ln in lines)),
        reservations=bucket_quantities(today, days, ((day, q) for _, day, q in segment_days)),
        promises=active,
        reserved_by_segment={k: v for k, v in by_segment.items() if k != store_reserved.NO_SEGMENT},
    )


def whole_units(value: float) -> int:
    """Whole units of a quantity for the integer allocation rules: ``floor(value + 1e-9)``, at least 0."""
    return max(0, math.floor(value + 1e-9))
