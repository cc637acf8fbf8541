"""Backorder processing: re-confirm open lines after a supply drop or a higher-priority arrival.

Each line's segment strategy decides how it competes: ``win`` must be fully confirmed (served first and
may take from others), ``gain`` keeps what it has and may improve, ``redistribute`` may gain or lose,
``fill`` keeps at most what it has and never gains, ``lose`` gives its confirmation up to the others.
The result carries before/after per line and the changed lines (the service emits promise.changed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from services.allocator.domain.allocate import AllocationLine, allocate_lines
from services.allocator.domain.fair_share import WithinTierMode

Strategy = Literal["win", "gain", "redistribute", "fill", "lose"]
STRATEGIES: tuple[Strategy, ...] = ("win", "gain", "redistribute", "fill", "lose")


@dataclass(frozen=True)
class OpenLine:
    """An open line: ``quantity`` still to deliver, ``confirmed`` units currently promised (<= quantity)."""

    id: str
    tier: int
    due: Any
    quantity: int
    confirmed: int
    strategy: Strategy


@dataclass(frozen=True)
class LineChange:
    id: str
    strategy: Strategy
    before: int
    after: int
    step: str

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class BackorderRun:
    lines: tuple[LineChange, ...]
    changed: tuple[LineChange, ...]
    supply: int
    unallocated: int


def _priority(line: OpenLine) -> tuple[Any, ...]:
    return (line.tier, line.due, line.id)


def reconfirm(lines: Iterable[OpenLine], supply: int, mode: WithinTierMode = "proportional") -> BackorderRun:
    """Re-confirm ``lines`` against ``supply`` units, deterministically, in four steps:

    1. ``win`` lines by (tier, due, id): ``after = min(quantity, remaining)``.
    2. ``gain`` and ``fill`` lines by (tier, due, id): keep ``min(confirmed, remaining)``.
    3. the rest is shared by strict tier priority with ``mode`` fair share (``allocate_lines``) among the
       ``redistribute`` lines (asking ``quantity``) and the ``gain`` lines (asking ``quantity - kept``).
    4. ``lose`` lines by (tier, due, id) take what is still left: ``after = min(quantity, remaining)``.

    ``changed`` lists the lines whose ``after != before``, in input order.
    """
    line_list = list(lines)
    if supply < 0:
        raise ValueError("supply must be >= 0")
    if len({line.id for line in line_list}) != len(line_list):
        raise ValueError("duplicate line id")
    for line in line_list:
        if not 0 <= line.confirmed <= line.quantity:
            raise ValueError(f"line {line.id}: confirmed must be within [0, quantity]")
        if line.strategy not in STRATEGIES:
            raise ValueError(f"line {line.id}: unknown strategy {line.strategy!r}")
    after: dict[str, int] = {}
    step: dict[str, str] = {}
    remaining = supply
    for line in sorted((ln for ln in line_list if ln.strategy == "win"), key=_priority):
        after[line.id], step[line.id] = min(line.quantity, remaining), "win: served first"
        remaining -= after[line.id]
    for line in sorted((ln for ln in line_list if ln.strategy in ("gain", "fill")), key=_priority):
        after[line.id], step[line.id] = min(line.confirmed, remaining), "kept"
        remaining -= after[line.id]
    sharing = [
        AllocationLine(ln.id, ln.tier, ln.quantity - after.get(ln.id, 0), ln.due)
        for ln in line_list
        if ln.strategy in ("gain", "redistribute")
    ]
    shared = allocate_lines(sharing, remaining, mode)
    for share in shared.lines:
        after[share.id] = after.get(share.id, 0) + share.allocated
        step[share.id] = "kept and shared" if share.id in step else "shared"
    remaining -= shared.allocated
    for line in sorted((ln for ln in line_list if ln.strategy == "lose"), key=_priority):
        after[line.id], step[line.id] = min(line.quantity, remaining), "lose: served last"
        remaining -= after[line.id]
    changes = tuple(
        LineChange(ln.id, ln.strategy, ln.confirmed, after[ln.id], step[ln.id]) for ln in line_list
    )
    return BackorderRun(changes, tuple(c for c in changes if c.after != c.before), supply, remaining)
