"""Independent plain-Python reference implementations the classifier tests compare against.

Written from DESIGN.md section 6 only, one entity at a time, without numpy vectorisation.
"""

from __future__ import annotations

import math
from fractions import Fraction


def abc_reference(
    values: list[float],
    ids: list[str],
    cutoffs: tuple[float, float] = (0.8, 0.95),
    groups: list[str] | None = None,
) -> dict[str, tuple[str, float, int]]:
    """id -> (class, cum_share_before, rank within group) by the DESIGN.md rule."""
    a, b = cutoffs
    group_of = groups or ["*"] * len(values)
    out: dict[str, tuple[str, float, int]] = {}
    for group in sorted(set(group_of)):
        members = [i for i in range(len(values)) if group_of[i] == group]

        def key(i: int) -> tuple[float, str]:
            v = values[i]
            return (-(v if not math.isnan(v) else -math.inf), ids[i])

        members.sort(key=key)
        total = sum(values[i] for i in members if values[i] > 0)
        running = 0.0
        for rank, i in enumerate(members, start=1):
            v = values[i]
            if not v > 0:
                out[ids[i]] = ("C", 1.0, rank)
                continue
            share = running / total
            label = "A" if share < a else "B" if share < b else "C"
            out[ids[i]] = (label, share, rank)
            running += v
    return out


def population_cv(row: list[float]) -> float | None:
    """Population std / mean with zeros included; None when the mean is not positive."""
    n = len(row)
    if n == 0:
        return None
    mean = sum(row) / n
    if mean <= 0:
        return None
    var = sum((x - mean) ** 2 for x in row) / n
    return math.sqrt(var) / mean


def xyz_reference(row: list[float], cutoffs: tuple[float, float] = (0.5, 1.0)) -> str | None:
    cv = population_cv(row)
    if cv is None:
        return None
    return "X" if cv <= cutoffs[0] else "Y" if cv <= cutoffs[1] else "Z"


def sb_reference(row: list[float]) -> tuple[str, float | None, float | None]:
    """(pattern, ADI, CV2) with exact rational arithmetic for the boundaries."""
    sizes = [Fraction(x) for x in row if x != 0]
    if not sizes or sum(sizes) <= 0:
        return ("none", None, None)
    adi = Fraction(len(row), len(sizes))
    mean = Fraction(sum(sizes), len(sizes))
    cv2: Fraction
    if len(sizes) == 1:
        cv2 = Fraction(0)
    else:
        var = Fraction(sum(((s - mean) ** 2 for s in sizes), Fraction(0)), len(sizes) - 1)
        cv2 = var / (mean * mean)
    frequent = adi < Fraction(132, 100)
    steady = cv2 < Fraction(49, 100)
    label = {
        (True, True): "smooth",
        (True, False): "erratic",
        (False, True): "intermittent",
        (False, False): "lumpy",
    }[(frequent, steady)]
    return (label, float(adi), float(cv2))
