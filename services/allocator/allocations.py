"""Constrained allocation runs over the stored picture: the current free supply of each sku@site
(on hand + open receipts - reservations in force) shared across its open order lines by tier with the
domain rule (``allocate_lines``, segment quotas applied), stored and emitted as allocation.decided."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from contracts import topics
from contracts.allocation import AllocationDecided, AllocationExplanation
from services.allocator import store
from services.allocator.domain.allocate import AllocationLine, AllocationRun, allocate_lines
from services.allocator.domain.fair_share import WithinTierMode
from services.allocator.picture import load_picture, whole_units
from services.allocator.promising import SOURCE, Promising, segment_bounds
from services.runtime import outbox

DEFAULT_TIER = 9
LIMIT_TEXT = {"request": "fully covered", "supply": "supply ran out in its tier", "cap": "tier cap",
              "quota": "segment quota maximum"}  # fmt: skip


@dataclass(frozen=True)
class PointWork:
    sku: str
    site: str
    supply: int
    lines: list[AllocationLine]
    rows: dict[str, Any]
    quotas: dict[str, Any]


def _compute(work: list[PointWork], mode: WithinTierMode) -> list[AllocationRun]:
    return [allocate_lines(w.lines, w.supply, mode, segment_quotas=w.quotas) for w in work]


async def run_allocation(
    promising: Promising, sku: str | None, site: str | None, mode: WithinTierMode
) -> dict[str, Any]:
    """Read each sku@site's picture, allocate in a worker thread, store and emit the decisions."""
    now = promising.clock()
    today = promising.today(now)
    work: list[PointWork] = []
    async with promising.db.read() as session:
        quota_rows = await store.all_quotas(session)
        for point_sku, point_site in await store.stock_points_with_demand(session, sku, site):
            picture = await load_picture(session, point_sku, point_site, today, now)
            supply = whole_units(picture.supply() - float(picture.reservations.sum()))
            rows = {
                f"{r.order_id}/{r.line_id}": r for r in await store.open_lines(session, point_sku, point_site)
            }
            lines = [
                AllocationLine(
                    key, r.tier or DEFAULT_TIER, whole_units(r.quantity), r.requested_date, r.segment
                )
                for key, r in rows.items()
            ]
            bounds = segment_bounds(quota_rows, float(supply), today.strftime("%Y-%m"), None, None)
            work.append(PointWork(point_sku, point_site, supply, lines, rows, bounds))
    runs = await asyncio.to_thread(_compute, work, mode)
    run_id = str(uuid.uuid4())
    decided_at = dt.datetime.fromtimestamp(now, tz=dt.UTC)
    decisions: list[dict[str, Any]] = []
    async with promising.db.unit_of_work() as session:
        for point, run in zip(work, runs, strict=True):
            for line in run.lines:
                row = point.rows[line.id]
                segment = row.segment
                why = line.explanation
                explanation = AllocationExplanation(
                    tier=why.tier, segment=segment, mode="priority_fair_share", within_tier=why.mode,
                    share=why.share, quota=why.quota, limited_by=why.limited_by,
                    text=f"tier {why.tier} split {why.pool} units {why.mode}: {LIMIT_TEXT[why.limited_by]}",
                )  # fmt: skip
                decision = {
                    "run_id": run_id, "order_id": row.order_id, "line_id": row.line_id, "sku": point.sku,
                    "site": point.site, "customer_id": row.customer_id, "tier": why.tier,
                    "requested": float(line.requested), "allocated": float(line.allocated),
                    "explanation": explanation.model_dump(mode="json"), "decided_at": now,
                }  # fmt: skip
                decisions.append(decision)
                await outbox.add_event(
                    session, topic=topics.ALLOCATION_DECISIONS, key=f"{point.sku}@{point.site}", source=SOURCE,
                    type=AllocationDecided.EVENT_TYPE, id=f"{run_id}:{line.id}",
                    payload=AllocationDecided(
                        run_id=run_id, sku=point.sku, site=point.site, line_id=row.line_id, order_id=row.order_id,
                        customer_id=row.customer_id, tier=why.tier, requested=line.requested,
                        allocated=line.allocated, explanation=explanation, decided_at=decided_at,
                    ),
                )  # fmt: skip
        await store.insert_decisions(
            session, [{**d, "explanation": orjson.dumps(d["explanation"]).decode()} for d in decisions]
        )
    promising.wake_relay()
    return {
        "run_id": run_id,
        "stock_points": len(work),
        "lines": len(decisions),
        "allocated": float(sum(d["allocated"] for d in decisions)),
        "decisions": [{**d, "decided_at": decided_at} for d in decisions],
    }
