"""Daily buckets of one sku@site: turning dated receipts and demand into the arrays ATP works on.

Bucket 0 is the service's "today"; anything dated earlier (an overdue receipt or order line) falls into
bucket 0; the horizon runs to the latest dated quantity, at least ``minimum_days`` and at most
``maximum_days`` (later quantities are dropped from the picture).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

DEFAULT_HORIZON_DAYS = 60
MAX_HORIZON_DAYS = 366


def horizon_days(
    today: dt.date,
    dates: Iterable[dt.date],
    minimum_days: int = DEFAULT_HORIZON_DAYS,
    maximum_days: int = MAX_HORIZON_DAYS,
) -> int:
    """Number of daily buckets: ``clip(max(latest - today + 1, minimum_days), 1, maximum_days)``."""
    latest = max((d for d in dates), default=today)
    return int(min(max((latest - today).days + 1, minimum_days, 1), maximum_days))


def day_index(today: dt.date, date: dt.date, days: int) -> int | None:
    """Bucket of ``date``: ``max(0, (date - today).days)``, or ``None`` when it is past the horizon."""
    index = max(0, (date - today).days)
    return index if index < days else None


def bucket_quantities(
    today: dt.date, days: int, dated: Iterable[tuple[dt.date, float]]
) -> NDArray[np.float64]:
    """Sum of quantities per bucket: ``out[day_index(date)] += quantity`` (past-horizon ones dropped)."""
    out = np.zeros(days, dtype=np.float64)
    for date, quantity in dated:
        index = day_index(today, date, days)
        if index is not None:
            out[index] += float(quantity)
    return out


def bucket_date(today: dt.date, index: int) -> dt.date:
    """The calendar date of bucket ``index``: ``today + index days``."""
    return today + dt.timedelta(days=index)
