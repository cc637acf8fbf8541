"""Supplier reliability from receipts: on-time rate and lead-time variability (feeds supplier risk)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SupplierStats:
    """Per supplier: received receipts, on-time rate, mean and population std of lead time (days)."""

    receipts: int
    on_time_rate: float
    lead_time_mean: float
    lead_time_std: float
    lead_time_cv: float


def supplier_stats(delay_days: np.ndarray, lead_time_days: np.ndarray) -> SupplierStats:
    """Reliability of one supplier from its received receipts.

    Rules: a receipt is on time when delay = received - (scheduled or due) date <= 0 days;
    on_time_rate = on-time receipts / receipts. Lead time = received - ordered date (receipts without
    an order date are skipped, NaN); lead_time_std is the population std, lead_time_cv = std / mean
    (NaN when the mean is 0 or no lead time is known). No receipts -> NaN rates.
    """
    delays = np.asarray(delay_days, dtype=np.float64)
    leads = np.asarray(lead_time_days, dtype=np.float64)
    leads = leads[~np.isnan(leads)]
    count = int(delays.shape[0])
    on_time = float(np.mean(delays <= 0)) if count else float("nan")
    if leads.size:
        mean, std = float(leads.mean()), float(leads.std())
        cv = std / mean if mean > 0 else float("nan")
    else:
        mean = std = cv = float("nan")
    return SupplierStats(count, on_time, mean, std, cv)
