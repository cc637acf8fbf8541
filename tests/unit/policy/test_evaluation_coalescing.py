"""The KPI evaluation is coalesced: after a committed shipment batch it runs at once only when a delivery
may have moved the watermark (a delivery in a later week than the data clock of the last step, or no
step yet), otherwise at most once per ``coalesce_s``; the alerts are the same as stepping every batch."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.policy import app, store
from services.policy.evaluation import AlertSettings
from services.policy.tables import alert_state, alerts, kpi_dirty
from services.runtime.bus.memory import MemoryBus
from services.runtime.settings import Settings
from tests.unit.policy.service_support import MONDAY, Record, assigned, delivered, order, wait_for
from tests.unit.policy.test_evaluation_incremental import caught_up, weekly_records

NEVER = 3600.0  # a coalescing interval no test outlives: a deferred step does not run while it waits


async def publish(host: Any, bus: MemoryBus, records: list[Record]) -> None:
    for topic, key, value, headers in records:
        await bus.publish(topic, key, value, headers)
    await wait_for(lambda: caught_up(host))


async def queued(host: Any) -> set[str]:
    async with host.db.read() as session:
        return {r.order_id for r in (await session.execute(select(kpi_dirty))).all()}


async def evaluated_through(host: Any) -> set[int]:
    async with host.db.read() as session:
        return {r.last_week for r in (await session.execute(select(alert_state))).all()}


def line(order_id: str, due: date, delivered_on: date) -> list[Record]:
    return [
        order(order_id, "K", "S1", 10, due - timedelta(days=1), requested=due),
        delivered(order_id, "K", "S1", 10, delivered_on),
    ]


async def test_a_step_waits_while_the_watermark_cannot_move_and_runs_when_a_delivery_moves_it(
    tmp_path: Path,
) -> None:
    bus = MemoryBus()
    host = app.build(
        Settings(data_dir=tmp_path, mode="embedded"), bus=bus, transaction_batch=10,
        alerts=AlertSettings(coalesce_s=NEVER),
    )  # fmt: skip
    await host.start()
    evaluator = host.state["evaluator"]
    grace = evaluator.config.grace_weeks
    try:
        week3 = MONDAY + timedelta(weeks=3, days=2)  # a Wednesday
        week0 = MONDAY + timedelta(days=2)
        first = [assigned("K", "GOLD", 0.95, otif=0.9), *line("A0", week0, week0), *line("A", week3, week3)]
        await publish(host, bus, first)
        # no step ran yet in this process: the first shipment batch steps at once
        await wait_for(lambda: _equals(queued(host), set()))
        assert evaluator.steps == 1 and evaluator.clock_week == store.week_of(week3)
        assert await evaluated_through(host) == {store.week_of(week3) - 1 - grace}

        # a delivery in the clock's own week cannot move the watermark: the step waits (coalesced)
        await publish(host, bus, line("B", week3, week3 + timedelta(days=1)))
        await asyncio.sleep(0.3)  # room for a wrongly scheduled step to run; none may
        assert evaluator.steps == 1 and await queued(host) == {"B"}

        # a delivery two weeks later moves the watermark: the step runs at once and takes B too
        week5 = week3 + timedelta(weeks=2)
        await publish(host, bus, line("C", week5, week5))
        await wait_for(lambda: _equals(queued(host), set()))
        assert evaluator.steps == 2 and evaluator.clock_week == store.week_of(week5)
        assert await evaluated_through(host) == {store.week_of(week5) - 1 - grace}
    finally:
        await host.stop()


async def test_without_a_delivery_the_step_runs_once_the_interval_has_passed(tmp_path: Path) -> None:
    bus = MemoryBus()
    host = app.build(
        Settings(data_dir=tmp_path, mode="embedded"), bus=bus, transaction_batch=10,
        alerts=AlertSettings(coalesce_s=0.5),
    )  # fmt: skip
    await host.start()
    evaluator = host.state["evaluator"]
    try:
        day = MONDAY + timedelta(weeks=2)
        await publish(host, bus, line("A", day, day))
        await wait_for(lambda: _equals(queued(host), set()))
        steps = evaluator.steps
        await publish(host, bus, line("B", day, day))  # same week: deferred, not dropped
        await wait_for(lambda: _equals(queued(host), set()))
        assert evaluator.steps == steps + 1
    finally:
        await host.stop()


async def alerts_after(tmp: Path, blocks: list[list[Record]], coalesce_s: float) -> tuple[list[Any], int]:
    bus = MemoryBus()
    host = app.build(
        Settings(data_dir=tmp, mode="embedded"), bus=bus, transaction_batch=4,
        alerts=AlertSettings(coalesce_s=coalesce_s),
    )  # fmt: skip
    await host.start()
    try:
        await publish(host, bus, [assigned("K", "GOLD", 0.95, otif=0.9)])
        for block in blocks:
            await publish(host, bus, block)
        async with host.state["evaluator"].lock:  # the automatic steps are done
            pass
        await host.state["evaluator"].evaluate()  # the weeks still due (a deferred step may be pending)
        async with host.db.read() as session:
            rows = (await session.execute(select(alerts).order_by(alerts.c.id))).all()
        return [(r.id, r.kpi, r.status, r.raised_week, round(r.value, 12)) for r in rows], host.state[
            "evaluator"
        ].steps
    finally:
        await host.stop()


async def test_coalesced_steps_raise_the_same_alerts_as_a_step_after_every_batch(tmp_path: Path) -> None:
    blocks = weekly_records(24, range(4, 10))
    every_batch, steps_every = await alerts_after(tmp_path / "every", blocks, 0.0)
    coalesced, steps_coalesced = await alerts_after(tmp_path / "coalesced", blocks, NEVER)
    assert coalesced == every_batch
    assert {(a[1], a[2]) for a in coalesced} >= {("otif", "cleared")}  # late weeks raised, then cleared
    assert steps_coalesced <= steps_every


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected
