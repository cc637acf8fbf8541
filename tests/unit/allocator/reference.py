"""Plain-Python reference of the allocation rule, written independently of the domain code for tests:
exact fractions for proportional, unit-by-unit round robin for even, a simple walk for FIFO."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

Line = tuple[str, int, int, Any]  # id, tier, quantity, due


def reference_allocation(lines: Sequence[Line], supply: int, mode: str) -> dict[str, int]:
    out = {line[0]: 0 for line in lines}
    left = supply
    for tier in sorted({line[1] for line in lines}):
        group = sorted((ln for ln in lines if ln[1] == tier), key=lambda ln: (ln[3], ln[0]))
        demand = sum(ln[2] for ln in group)
        if demand <= left:
            for ln in group:
                out[ln[0]] = ln[2]
            left -= demand
            continue
        if mode == "proportional":
            exact = {ln[0]: Fraction(left * ln[2], demand) for ln in group}
            for ln in group:
                out[ln[0]] = math.floor(exact[ln[0]])
            extra = left - sum(out[ln[0]] for ln in group)
            by_fraction = sorted(group, key=lambda ln: (-(exact[ln[0]] - out[ln[0]]), ln[3], ln[0]))
            for ln in by_fraction[:extra]:
                out[ln[0]] += 1
        elif mode == "even":
            pool = left
            while pool > 0:
                for ln in group:
                    if pool > 0 and out[ln[0]] < ln[2]:
                        out[ln[0]] += 1
                        pool -= 1
        else:
            pool = left
            for ln in group:
                out[ln[0]] = min(ln[2], pool)
                pool -= out[ln[0]]
        left = 0
    return out
