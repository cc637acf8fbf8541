"""Backorder processing: re-confirm the reservations of a sku@site by their segment's strategy after its
supply dropped or its demand rose, re-date them, and emit promise.changed with before and after."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.allocation import Confirmation as ContractConfirmation
from contracts.allocation import PromiseChanged
from services.allocator import store_points, store_promises, store_reserved, store_runs
from services.allocator.domain.backorder import STRATEGIES, OpenLine, reconfirm
from services.allocator.domain.buckets import bucket_date, day_index
from services.allocator.domain.promise import consume, promise
from services.allocator.picture import confirmations_of, dated, load_picture, whole_units
from services.allocator.promise_views import SOURCE, promise_payload
from services.allocator.promising import Promising
from services.runtime import outbox

DEFAULT_TIER = 9
_STEP_ORDER = {"win": 0, "gain": 1, "fill": 1, "redistribute": 2, "lose": 3}


async def reconfirm_point(
    session: AsyncSession, promising: Promising, sku: str, site: str
) -> list[dict[str, Any]]:
    """Re-confirm one sku@site (the caller holds its lock): returns the changes it made and emitted.

    Supply for reservations = what ATP leaves after the open order lines (``promisable_by_day[-1]``);
    ``reconfirm`` decides each reservation's new total; then, in strategy order (win, gain/fill,
    redistribute, lose) and (tier, requested date, id), each is re-dated with the promise rule on the
    picture left by those before it.
    """
    now = promising.clock()
    today = promising.today(now)
    await promising.release_expired(session, now, sku=sku, site=site)
    picture = await load_picture(session, sku, site, today, now, with_promises=True, expired_released=True)
    rows = [r for r in picture.promises if r.reserve]
    if not rows:
        return []
    supply = whole_units(picture.promisable_total(with_reservations=False))
    lines = [
        OpenLine(
            id=r.promise_id,
            tier=r.tier or DEFAULT_TIER,
            due=r.requested_date,
            quantity=whole_units(r.quantity),
            confirmed=min(whole_units(r.confirmed), whole_units(r.quantity)),
            strategy=r.strategy if r.strategy in STRATEGIES else "redistribute",
        )
        for r in rows
    ]
    run = reconfirm(lines, supply)
    after = {change.id: change for change in run.lines}
    by_id = {r.promise_id: r for r in rows}
    order = sorted(lines, key=lambda ln: (_STEP_ORDER[ln.strategy], ln.tier, ln.due, ln.id))
    atp = picture.atp(with_reservations=False)
    changes: list[dict[str, Any]] = []
    for line in order:
        row = by_id[line.id]
        target = after[line.id].after
        requested_day = day_index(today, row.requested_date, picture.days) or 0
        result = promise(atp, target, requested_day)
        atp = consume(atp, list(result.confirmations))
        new = [
            {"date": bucket_date(today, c.day).isoformat(), "quantity": c.quantity}
            for c in result.confirmations
        ]
        old = confirmations_of(row)
        if _same(old, new):
            continue
        await store_promises.update_promise(session, row.promise_id, {
            "confirmations": orjson.dumps(new).decode(), "confirmed": result.confirmed, "updated_at": now})  # fmt: skip
        await store_reserved.add_reserved(session, sku, site, row.segment, dated(old), sign=-1.0)
        await store_reserved.add_reserved(session, sku, site, row.segment, dated(new))
        reason = (
            f"backorder processing ({line.strategy}, {after[line.id].step}): {line.confirmed} -> {target}"
        )
        await outbox.add_event(
            session, topic=topics.ALLOCATION_PROMISES, key=row.promise_id, source=SOURCE,
            type=PromiseChanged.EVENT_TYPE, id=str(uuid.uuid4()),
            payload=PromiseChanged(
                **promise_payload(row, new, reason=reason),
                before=[ContractConfirmation(date=dt.date.fromisoformat(c["date"]), quantity=c["quantity"]) for c in old],
            ),
        )  # fmt: skip
        changes.append({"promise_id": row.promise_id, "sku": sku, "site": site, "strategy": line.strategy,
                        "before": old, "after": new, "reason": reason})  # fmt: skip
    return changes


def _same(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    def key(items: list[dict[str, Any]]) -> list[tuple[str, float]]:
        return [(c["date"], round(float(c["quantity"]), 9)) for c in items]

    return key(old) == key(new)


async def process_point(
    promising: Promising, sku: str, site: str, *, clear_dirty: bool
) -> list[dict[str, Any]]:
    """Lock one sku@site, re-confirm it and (for the worker) clear its backorder flag, in one transaction."""
    async with promising.locks.hold(sku, site), promising.db.unit_of_work() as session:
        await promising.lock_point(session, sku, site)
        if clear_dirty:
            await store_points.clear_dirty(session, sku, site)
        changes = await reconfirm_point(session, promising, sku, site)
    if changes:
        promising.wake_relay()
    return changes


async def process_dirty(promising: Promising) -> int:
    """Worker step: every flagged sku@site is re-confirmed; returns how many promises changed."""
    async with promising.db.read() as session:
        points = await store_points.dirty_points(session)
    changed = 0
    for sku, site in points:
        changed += len(await process_point(promising, sku, site, clear_dirty=True))
    return changed


async def start_run(promising: Promising, sku: str | None, site: str | None, trigger: str = "api") -> str:
    run_id = str(uuid.uuid4())
    async with promising.db.unit_of_work() as session:
        await store_runs.insert_backorder_run(session, {
            "run_id": run_id, "status": "running", "sku": sku, "site": site, "trigger": trigger,
            "created_at": time.time(), "finished_at": None, "stock_points": 0, "changed": 0, "changes": "[]",
            "error": None})  # fmt: skip
    return run_id


async def execute_run(promising: Promising, run_id: str, sku: str | None, site: str | None) -> None:
    """Re-confirm every sku@site with reservations (filtered), then record the outcome on the run."""
    try:
        async with promising.db.read() as session:
            points = await store_promises.points_with_promises(session, sku, site)
        changes: list[dict[str, Any]] = []
        for point_sku, point_site in points:
            changes += await process_point(promising, point_sku, point_site, clear_dirty=False)
        values = {"status": "done", "stock_points": len(points), "changed": len(changes),
                  "changes": orjson.dumps(changes).decode(), "finished_at": time.time()}  # fmt: skip
    except Exception as exc:  # recorded on the run, which the caller polls
        values = {"status": "failed", "error": repr(exc), "finished_at": time.time()}
    async with promising.db.unit_of_work() as session:
        await store_runs.update_backorder_run(session, run_id, values)
