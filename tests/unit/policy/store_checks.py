"""Checks of the policy store's per-transaction write buffer, run on SQLite (unit) and PostgreSQL
(integration) alike: each takes an ``async_sessionmaker`` bound to a database holding the policy tables.

Reference values are computed here independently: the shipment merge is replayed event by event with a
plain dict ("a None field keeps what is stored"), the last upsert of a key wins.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from services.policy import pending, store
from services.policy.tables import kpi_dirty, order_lines, positions, products, shipments
from tests.support.sessions import Sessions

KEYS = ("order_id", "line_id", "shipment_key")


def line(order_id: str, quantity: float) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "line_id": "1",
        "sku": "K",
        "site": "S1",
        "customer_id": "C1",
        "region": None,
        "quantity": quantity,
        "cancelled_quantity": 0.0,
        "requested_date": date(2024, 1, 3),
        "promised_date": None,
        "ordered_at": datetime(2024, 1, 1, 9, tzinfo=UTC),
        "ordered_week": store.week_of(date(2024, 1, 1)),
    }


def shipment(
    order_id: str, shipped: float | None, delivered: float | None, day: date | None
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "line_id": "1",
        "shipment_key": "SH1",
        "sku": "K",
        "site": "S1",
        "customer_id": None,
        "shipped_quantity": shipped,
        "delivered_quantity": delivered,
        "delivered_date": day,
        "scheduled_date": None,
        "freight_cost": 3.0 if shipped is not None else None,
        "handling_cost": None,
    }


def merged(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The reference merge: start from the first event, later non-None fields overwrite."""
    row = dict(events[0])
    for event in events[1:]:
        row.update({k: v for k, v in event.items() if v is not None})
    return row


async def rows(sessions: Sessions, table: Any) -> list[dict[str, Any]]:
    async with sessions() as session:
        return [dict(r._mapping) for r in (await session.execute(select(table))).all()]


async def check_buffered_rows_are_written_at_commit_and_the_last_upsert_wins(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await store.save_order_line(session, line("O1", 5.0))
        await store.save_order_line(session, line("O2", 7.0))
        await store.save_order_line(session, line("O1", 9.0))  # the same key again: the later one wins
        await store.mark_kpi_dirty(session, "O2", "t1")
        await store.mark_kpi_dirty(session, "O1", "t2")
        await store.mark_kpi_dirty(session, "O2", "t3")
        assert (
            pending.pending_rows(session, order_lines) == 2 and pending.pending_rows(session, kpi_dirty) == 2
        )
        assert await rows(sessions, order_lines) == []  # nothing written before the commit
    stored = {r["order_id"]: r["quantity"] for r in await rows(sessions, order_lines)}
    assert stored == {"O1": 9.0, "O2": 7.0}
    assert sorted((r["order_id"], r["token"]) for r in await rows(sessions, kpi_dirty)) == [
        ("O1", "t2"),
        ("O2", "t3"),
    ]
    async with sessions() as session, session.begin():  # an upsert of a stored key updates it
        await store.save_order_line(session, line("O2", 1.0))
        await store.mark_kpi_dirty(session, "O2", "t4")
    assert {r["order_id"]: r["quantity"] for r in await rows(sessions, order_lines)} == {"O1": 9.0, "O2": 1.0}
    assert {r["order_id"]: r["token"] for r in await rows(sessions, kpi_dirty)} == {"O1": "t2", "O2": "t4"}


async def check_a_rolled_back_transaction_writes_nothing(sessions: Sessions) -> None:
    class Boom(Exception):
        pass

    try:
        async with sessions() as session, session.begin():
            await store.save_order_line(session, line("R1", 5.0))
            await store.save_position(
                session, {"sku": "K", "site": "S1", "as_of": datetime(2024, 1, 1, tzinfo=UTC), "on_hand": 3.0}
            )
            raise Boom
    except Boom:
        pass
    assert await rows(sessions, order_lines) == [] and await rows(sessions, positions) == []


async def check_shipment_events_merge_within_and_across_transactions(sessions: Sessions) -> None:
    first = shipment("S1", 4.0, None, None)
    second = shipment("S1", None, 4.0, date(2024, 1, 5))
    third = shipment("S1", 5.0, None, None)  # a corrected shipped quantity; delivery fields are kept
    async with sessions() as session, session.begin():
        await store.save_shipment(session, first)
        await store.save_shipment(session, second)
    assert await rows(sessions, shipments) == [merged([first, second])]
    async with sessions() as session, session.begin():
        await store.save_shipment(session, third)
    assert await rows(sessions, shipments) == [merged([first, second, third])]
    assert (await rows(sessions, shipments))[0]["delivered_date"] == date(2024, 1, 5)


async def check_a_cancellation_reads_a_line_placed_in_the_same_transaction(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await store.save_order_line(session, line("C1", 10.0))
        assert await store.cancel_order_line(session, "C1", "1", 4.0)
        assert not await store.cancel_order_line(session, "C-unknown", "1", 1.0)
    [stored] = await rows(sessions, order_lines)
    assert (stored["quantity"], stored["cancelled_quantity"]) == (10.0, 4.0)


async def check_the_product_is_read_once_per_transaction_and_a_save_refreshes_it(sessions: Sessions) -> None:
    base = {
        "sku": "K",
        "source": "test",
        "base_uom": "EA",
        "conversions": {"CS": 12.0},
        "lead_time_days": 7.0,
        "lead_time_std_days": None,
        "unit_cost": None,
        "erp_safety_stock": None,
        "erp_reorder_point": None,
        "updated_at": datetime(2024, 1, 1, tzinfo=UTC),
        "category": None,
    }
    async with sessions() as session, session.begin():
        assert await store.product(session, "K") is None
        await store.save_product(session, base)
        assert (await store.product(session, "K")).conversions == {"CS": 12.0}
        newer = {**base, "conversions": {"CS": 24.0}, "updated_at": datetime(2024, 2, 1, tzinfo=UTC)}
        await store.save_product(session, newer)
        assert (await store.product(session, "K")).conversions == {"CS": 24.0}
    async with sessions() as session:
        assert [r.conversions for r in (await session.execute(select(products))).all()] == [{"CS": 24.0}]


CHECKS = [
    check_buffered_rows_are_written_at_commit_and_the_last_upsert_wins,
    check_a_rolled_back_transaction_writes_nothing,
    check_shipment_events_merge_within_and_across_transactions,
    check_a_cancellation_reads_a_line_placed_in_the_same_transaction,
    check_the_product_is_read_once_per_transaction_and_a_save_refreshes_it,
]
