"""Syntetos–Boylan demand pattern (smooth / erratic / intermittent / lumpy) on non-zero buckets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .demand import DemandMoments, demand_moments

PATTERN_LABELS: tuple[str, str, str, str, str] = ("none", "smooth", "erratic", "intermittent", "lumpy")
PATTERN_NONE, PATTERN_SMOOTH, PATTERN_ERRATIC, PATTERN_INTERMITTENT, PATTERN_LUMPY = range(5)
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49


@dataclass(frozen=True)
class PatternResult:
    """Per-entity pattern codes into ``PATTERN_LABELS`` with ADI and CV2 (NaN without demand)."""

    pattern: np.ndarray
    adi: np.ndarray
    cv2: np.ndarray


def pattern_from_moments(
    moments: DemandMoments, *, adi_cutoff: float = ADI_CUTOFF, cv2_cutoff: float = CV2_CUTOFF
) -> PatternResult:
    """Syntetos–Boylan categories from the non-zero buckets of the observed horizon.

    Span: the number of buckets in the observed horizon (every column of the demand matrix, i.e. the
    common "total buckets / non-zero buckets" convention), so ADI = T / c with c the non-zero count.
    CV2 = (sample std / mean)^2 of the c non-zero demand sizes (ddof = 1), which from the sums gives
    CV2 = c * (c*Q - S^2) / ((c - 1) * S^2); with one non-zero bucket CV2 = 0.
    smooth: ADI < 1.32 and CV2 < 0.49; erratic: ADI < 1.32 and CV2 >= 0.49;
    intermittent: ADI >= 1.32 and CV2 < 0.49; lumpy: ADI >= 1.32 and CV2 >= 0.49.
    No non-zero bucket (or a non-positive mean size) -> "none" with ADI and CV2 NaN.
    """
    c = moments.nonzero.astype(np.float64)
    s = moments.total
    has_demand = (c > 0) & (s > 0)
    safe_c = np.where(has_demand, c, 1.0)
    safe_s = np.where(has_demand, s, 1.0)
    adi = np.where(has_demand, moments.horizon / safe_c, np.nan)
    spread = np.maximum(c * moments.sum_squares - s * s, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cv2 = np.where(c > 1, c * spread / (np.maximum(c - 1.0, 1.0) * safe_s * safe_s), 0.0)
    cv2 = np.where(has_demand, cv2, np.nan)
    frequent = adi < adi_cutoff
    steady = cv2 < cv2_cutoff
    codes = np.where(
        frequent,
        np.where(steady, PATTERN_SMOOTH, PATTERN_ERRATIC),
        np.where(steady, PATTERN_INTERMITTENT, PATTERN_LUMPY),
    ).astype(np.int8)
    codes[~has_demand] = PATTERN_NONE
    return PatternResult(pattern=codes, adi=adi, cv2=cv2)


def classify_pattern(
    demand: np.ndarray, *, adi_cutoff: float = ADI_CUTOFF, cv2_cutoff: float = CV2_CUTOFF
) -> PatternResult:
    """Syntetos–Boylan pattern of each row of an entities x buckets matrix (see ``pattern_from_moments``)."""
    return pattern_from_moments(demand_moments(demand), adi_cutoff=adi_cutoff, cv2_cutoff=cv2_cutoff)
