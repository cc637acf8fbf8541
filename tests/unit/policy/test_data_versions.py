"""The change counters of the KPI input tables (services.policy.versions) in the embedded service (MemoryBus +
SQLite): every event type's handler bumps, once per transaction, the counter of each counted table its
statements really wrote (observed independently of the store's marks), writes of other tables bump
nothing, and a rolled-back transaction leaves the counters as they were."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session

from contracts import topics
from contracts.allocation import Confirmation, PromiseChanged
from contracts.erp import InventoryReceiptScheduled, OrderLineChanged, OrderLinePlaced, ShipmentLineShipped
from services.policy import handlers, pending, store, versions
from services.policy.tables import data_versions, order_lines, receipts, shipments
from tests.unit.policy.service_support import (
    MONDAY,
    Record,
    assigned,
    counters,
    delivered,
    order,
    position,
    product,
    record,
)
from tests.unit.policy.test_service import Running, svc  # noqa: F401  (the fixture)
from tests.unit.policy.test_service_events import cancelled, changed, promise

AT = datetime(2024, 1, 2, tzinfo=UTC)


def receipt(receipt_id: str, sku: str) -> Record:
    ev = InventoryReceiptScheduled(
        receipt_id=receipt_id, sku=sku, site="S1", quantity=5, unit="EA", due_date=MONDAY
    )
    return record(topics.WMS_INVENTORY, f"{sku}@S1", ev.EVENT_TYPE, ev, f"rcpt:{receipt_id}", AT)


def order_changed(order_id: str, sku: str, qty: float) -> Record:
    placed = OrderLinePlaced.model_validate_json(order(order_id, sku, "S1", qty, MONDAY)[2])
    ev = OrderLineChanged(**placed.model_dump(), changed_at=AT)
    return record(topics.ERP_ORDERS, order_id, ev.EVENT_TYPE, ev, f"changed:{order_id}", AT)


def shipped(order_id: str, sku: str, qty: float) -> Record:
    ev = ShipmentLineShipped(
        order_id=order_id, line_id="1", shipment_id="S-2", sku=sku, site="S1", quantity=qty, unit="EA",
        shipped_at=AT,
    )  # fmt: skip
    return record(topics.WMS_SHIPMENTS, order_id, ev.EVENT_TYPE, ev, f"shipped:{order_id}", AT)


def promise_changed(promise_id: str, order_id: str, sku: str) -> Record:
    ev = PromiseChanged(
        promise_id=promise_id, order_id=order_id, customer_id="C1", sku=sku, site="S1",
        idempotency_key=promise_id, confirmations=[Confirmation(date=MONDAY, quantity=1)],
    )  # fmt: skip
    return record(topics.ALLOCATION_PROMISES, order_id, ev.EVENT_TYPE, ev, f"pchanged:{promise_id}", AT)


# one event of every type the policy consumes, in an order that makes each valid; the counted table it
# writes (None: it writes no KPI input)
WRITES = [
    (product("H1", 7), "policy_products"),
    (assigned("H1", "GOLD"), "policy_assignments"),
    (order("H-1", "H1", "S1", 5, MONDAY), "policy_order_lines"),
    (order_changed("H-1", "H1", 6), "policy_order_lines"),
    (cancelled("H-1", "H1", 1), "policy_order_lines"),
    (shipped("H-1", "H1", 2), "policy_shipments"),
    (delivered("H-1", "H1", "S1", 4, MONDAY), "policy_shipments"),
    (promise("PR-H", "H-1", "H1", [MONDAY]), "policy_promises"),
    (promise_changed("PR-H", "H-1", "H1"), "policy_promises"),
    (promise("PR-H", "H-1", "H1", [], released=True), "policy_promises"),
    (position("H1", 3.0, datetime(2024, 1, 1, tzinfo=UTC)), "policy_positions"),
    (receipt("R-H", "H1"), None),
    (changed("H1", None, "GOLD", "run-1", datetime(2024, 1, 1, tzinfo=UTC)), None),
]


def kind(rec: Record) -> str:
    return dict(rec[3])["ce_type"].decode()


class CountedStatements:
    """Records the counted tables that INSERT / UPDATE / DELETE statements run through any Session touch:
    what the database really received, independent of the store's marks."""

    def __init__(self) -> None:
        self.tables: set[str] = set()

    def __call__(self, state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            name = getattr(getattr(state.statement, "table", None), "name", None)
            if name in versions.COUNTED_NAMES:
                self.tables.add(name)


def test_every_event_type_the_policy_consumes_is_checked() -> None:
    assert {kind(rec) for rec, _ in WRITES} == set(handlers.HANDLERS)


async def test_each_handler_bumps_once_exactly_the_counted_tables_it_writes(svc: Running) -> None:  # noqa: F811
    seen = CountedStatements()
    event.listen(Session, "do_orm_execute", seen)
    try:
        for rec, table in WRITES:
            before = await counters(svc.host)
            seen.tables.clear()
            await svc.publish([rec])
            await svc.settle()
            after = await counters(svc.host)
            bumped = {t: after[t] - before[t] for t in after if after[t] != before[t]}
            assert seen.tables == ({table} if table else set()), kind(rec)  # the handler wrote what we think
            assert bumped == {t: 1 for t in seen.tables}, kind(rec)  # ... and bumped exactly that, once
    finally:
        event.remove(Session, "do_orm_execute", seen)
    assert await svc.bus.read_all(topics.DLQ) == []  # every event was handled, none rejected


async def test_a_transaction_bumps_once_and_a_rolled_back_one_not_at_all(svc: Running) -> None:  # noqa: F811
    def line(order_id: str) -> dict[str, object]:
        at = datetime(2024, 1, 2, tzinfo=UTC)
        return {
            "order_id": order_id, "line_id": "1", "sku": "T1", "site": "S1", "customer_id": "C1",
            "region": None, "quantity": 1.0, "cancelled_quantity": 0.0, "requested_date": MONDAY,
            "promised_date": None, "ordered_at": at, "ordered_week": store.week_of(MONDAY),
        }  # fmt: skip

    async with svc.host.db.unit_of_work() as session:
        for n in range(3):
            await store.save_order_line(session, line(f"T-{n}"))  # buffered: written at the commit
        await store.cancel_order_line(session, "T-0", "1", 1.0)  # flushes the buffer, then an UPDATE
    assert (await counters(svc.host))["policy_order_lines"] == 1
    with pytest.raises(RuntimeError):
        async with svc.host.db.unit_of_work() as session:
            await store.save_order_line(session, line("T-9"))
            await pending.flush(session)
            raise RuntimeError("the batch fails")
    async with svc.host.db.read() as session:
        rows = (await session.execute(select(data_versions.c.name, data_versions.c.version))).all()
    assert [tuple(r) for r in rows] == [("policy_order_lines", 1)]


async def test_counters_exist_only_for_the_counted_tables(svc: Running) -> None:  # noqa: F811
    async with svc.host.db.read() as session:
        with pytest.raises(ValueError, match="policy_receipts"):
            await store.data_versions_of(session, [receipts])
        assert await store.data_versions_of(session, [shipments, order_lines]) == (0, 0)
