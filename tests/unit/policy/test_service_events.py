"""Policy service (embedded): cancellations, promises, KPIs by product line, the cohort analysis of a
reclassification run, a bootstrap-demand proposal and the demo hook."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from contracts import topics
from contracts.allocation import Confirmation, PromiseMade, PromiseReleased
from contracts.erp import OrderLineCancelled
from contracts.segments import SegmentChanged
from services.policy import app
from services.policy.tables import order_lines, promises
from tests.unit.policy.service_support import (
    MONDAY,
    Record,
    assigned,
    delivered,
    order,
    product,
    record,
    weekly_orders,
)
from tests.unit.policy.test_service import Running, svc  # noqa: F401  (the fixture)


def cancelled(order_id: str, sku: str, qty: float | None, unit: str | None = "EA") -> Record:
    at = datetime(2024, 1, 3, tzinfo=UTC)
    ev = OrderLineCancelled(
        order_id=order_id,
        line_id="1",
        customer_id="C1",
        customer_source="test",
        sku=sku,
        site="S1",
        quantity=qty,
        unit=unit if qty is not None else None,
        cancelled_at=at,
    )
    return record(topics.ERP_ORDERS, order_id, ev.EVENT_TYPE, ev, f"cancel:{order_id}:{qty}", at)


def promise(promise_id: str, order_id: str, sku: str, dates: list[date], released: bool = False) -> Record:
    at = datetime(2024, 1, 2, tzinfo=UTC)
    model = PromiseReleased if released else PromiseMade
    ev = model(
        promise_id=promise_id,
        order_id=order_id,
        customer_id="C1",
        sku=sku,
        site="S1",
        idempotency_key=promise_id,
        confirmations=[Confirmation(date=d, quantity=1) for d in dates],
    )
    kind = ev.EVENT_TYPE
    return record(topics.ALLOCATION_PROMISES, order_id, kind, ev, f"{kind}:{promise_id}", at)


def changed(
    entity: str, old: str | None, new: str, run_id: str, at: datetime, dimension: str = "product"
) -> Record:
    ev = SegmentChanged(
        dimension=dimension,  # type: ignore[arg-type]
        entity_id=entity,
        old_segment=old,
        new_segment=new,
        reasons=["moved"],
        run_id=run_id,
        changed_at=at,
    )
    return record(
        topics.SEGMENTS_CHANGES, f"{dimension}:{entity}", ev.EVENT_TYPE, ev, f"chg:{run_id}:{entity}", at
    )


async def test_partial_and_full_cancellations_reduce_the_open_quantity(svc: Running) -> None:  # noqa: F811
    await svc.publish(
        [product("X1", 7), order("O1", "X1", "S1", 10, MONDAY), order("O2", "X1", "S1", 4, MONDAY)]
    )
    await svc.settle()
    await svc.publish([cancelled("O1", "X1", 1, "CS"), cancelled("O2", "X1", None), cancelled("O9", "X1", 2)])
    await svc.settle()
    async with svc.host.db.read() as session:
        rows = (await session.execute(select(order_lines).order_by(order_lines.c.order_id))).all()
    # O1: 1 CS = 12 EA cancelled, capped at the 10 ordered; O2: everything
    assert [(r.order_id, r.quantity, r.cancelled_quantity) for r in rows] == [("O1", 10, 10), ("O2", 4, 4)]
    dlq = await svc.bus.read_all(topics.DLQ)
    assert len(dlq) == 1 and b"O9" in (dlq[0].header("dlq_error") or b"")


async def test_promise_dates_drive_on_time_and_a_release_keeps_the_date(svc: Running) -> None:  # noqa: F811
    due = MONDAY + timedelta(days=2)
    records = [
        assigned("X2", "GOLD"),
        order("P1", "X2", "S1", 5, MONDAY, requested=due),  # promised later than requested: on time
        order("P2", "X2", "S1", 5, MONDAY, requested=due),  # no promise: late against the requested date
        promise("PR1", "P1", "X2", [due, due + timedelta(days=3)]),
        delivered("P1", "X2", "S1", 5, due + timedelta(days=3)),
        delivered("P2", "X2", "S1", 5, due + timedelta(days=3)),
    ]
    await svc.publish(records)
    await svc.settle()
    await svc.publish([promise("PR1", "P1", "X2", [], released=True)])
    await svc.settle()
    async with svc.host.db.read() as session:
        [row] = (await session.execute(select(promises))).all()
    assert row.released and row.promised_date == due + timedelta(days=3)
    body = (await svc.client.get("/v1/kpis?kpi=otif&window=1", headers=svc.auth("planner"))).json()
    [gold] = body["series"]
    assert [p["value"] for p in gold["points"]] == [0.5]  # P1 on time (promise), P2 late


async def test_kpis_by_product_line_use_the_master_data_category(svc: Running) -> None:  # noqa: F811
    day = MONDAY + timedelta(days=1)
    await svc.publish([product("X3", 7), product("X4", 7)])
    await svc.settle()
    # X3 and X4 share category "c" (service_support); a product without master data is "unknown"
    records = [
        order("L1", "X3", "S1", 4, day),
        order("L2", "X4", "S1", 4, day),
        order("L3", "X5", "S1", 4, day),
    ]
    records += [delivered("L1", "X3", "S1", 4, day), delivered("L2", "X4", "S1", 2, day)]
    records += [delivered("L3", "X5", "S1", 4, day)]
    await svc.publish(records)
    await svc.settle()
    body = (
        await svc.client.get(
            "/v1/kpis?kpi=line_fill_rate&window=1&by=product_line", headers=svc.auth("planner")
        )
    ).json()
    got = {s["group"]: [p["value"] for p in s["points"]] for s in body["series"]}
    assert got == {"c": [0.5], "unknown": [1.0]}  # line fill rate: lines shipped in full / lines


async def test_cohorts_compare_the_weeks_before_and_after_a_reclassification(svc: Running) -> None:  # noqa: F811
    change_at = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday, week 9 of the sample calendar
    records: list[Record] = [changed("Y1", "SILVER", "GOLD", "run-1", change_at)]
    records += [
        changed("Y2", "SILVER", "GOLD", "run-1", change_at),
        changed("Y3", None, "BRONZE", "run-1", change_at),
    ]
    records.append(changed("Y1", "GOLD", "SILVER", "run-0", change_at - timedelta(weeks=20)))
    expected: dict[tuple[str | None, str], dict[str, list[float]]] = {}
    weekly = {"Y1": (10.0, 20.0), "Y2": (5.0, 5.0), "Y3": (0.0, 7.0), "Y9": (100.0, 100.0)}
    n = 0
    for sku, (before, after) in weekly.items():
        for week in range(-6, 6):  # 6 weeks either side; the query asks for 4
            qty = before if week < 0 else after
            if qty <= 0:
                continue
            n += 1
            day = (change_at + timedelta(weeks=week, days=1)).date()
            records.append(order(f"Z{n}", sku, "S1", qty, day))
            shipped = qty if week % 2 == 0 else qty / 2  # every other week half shipped
            records.append(delivered(f"Z{n}", sku, "S1", shipped, day))
            if sku == "Y9" or not -4 <= week < 4:
                continue
            cell = {"Y1": ("SILVER", "GOLD"), "Y2": ("SILVER", "GOLD"), "Y3": (None, "BRONZE")}[sku]
            side = expected.setdefault(cell, {"before": [0, 0, 0], "after": [0, 0, 0]})[
                "before" if week < 0 else "after"
            ]
            side[0] += qty
            side[1] += 1
            side[2] += shipped
    await svc.publish(records)
    await svc.settle()
    response = await svc.client.get("/v1/kpis/cohorts?run_id=run-1&weeks=4", headers=svc.auth("planner"))
    assert response.status_code == 200, response.text
    cells = {(c["old_segment"], c["new_segment"]): c for c in response.json()["cells"]}
    assert set(cells) == set(expected)
    assert cells[("SILVER", "GOLD")]["entities"] == 2 and cells[(None, "BRONZE")]["entities"] == 1
    for key, want in expected.items():
        for side in ("before", "after"):
            volume, lines, shipped = want[side]
            got = cells[key][side]
            assert got["order_volume"] == pytest.approx(volume) and got["order_lines"] == lines
            assert got["lines_per_week"] == pytest.approx(lines / 4)
            assert got["fill_rate"] == (pytest.approx(shipped / volume) if volume else None)
    missing = await svc.client.get("/v1/kpis/cohorts?run_id=nope", headers=svc.auth("planner"))
    assert missing.status_code == 404
    bad = await svc.client.get("/v1/kpis/cohorts?run_id=run-1&weeks=0", headers=svc.auth("planner"))
    assert bad.status_code == 400


async def test_bootstrap_demand_proposal_from_the_stored_history(svc: Running) -> None:  # noqa: F811
    quantities = [0.0 if w % 2 else 200.0 for w in range(26)]
    await svc.publish([product("X6", 7), assigned("X6", "GOLD", 0.9), *weekly_orders("X6", "S1", quantities)])
    await svc.settle()
    proposal = await svc.proposal(
        {"sku": "X6", "simulation": {"paths": 200, "periods": 52, "seed": 1, "demand_model": "bootstrap"}}
    )
    [item] = proposal["items"]
    assert item["demand_model"] == "bootstrap" and proposal["status"] == "passed"
    # bootstrap weeks are 0 or 200: over L + R = 2 weeks S must cover 400 for 90 % cycle service
    assert item["order_up_to"] >= 400.0 - 1e-9 and item["lower"] >= 0.9


async def test_demo_hook_proposes_the_top_stock_points_with_an_assumed_lead_time(svc: Running) -> None:  # noqa: F811
    records: list[Record] = []
    for i in range(5):
        records.append(assigned(f"D{i}", "GOLD", 0.9))
        records += weekly_orders(f"D{i}", "S1", [10.0 * (i + 1), 12.0 * (i + 1)] * 6)
    await svc.publish(records)
    await svc.settle()
    original = app.DEMO_TOP_STOCK_POINTS
    app.DEMO_TOP_STOCK_POINTS = 3
    try:
        await app.on_sample_loaded(svc.host, assignment_wait_s=5)
    finally:
        app.DEMO_TOP_STOCK_POINTS = original
    got = await svc.client.get(
        f"/v1/policy/proposals/{svc.host.state['demo_proposal']}", headers=svc.auth("planner")
    )
    items = got.json()["items"]
    assert [i["sku"] for i in items] == ["D2", "D3", "D4"]  # the three largest volumes
    assert all(i["lead_time_source"] == "assumed" and i["assumed"] == ["lead_time"] for i in items)
    assert all(i["inputs"]["lead_time_mean"] == pytest.approx(app.DEMO_LEAD_TIME_DAYS / 7) for i in items)
