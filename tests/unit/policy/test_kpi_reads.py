"""GET /v1/kpis and /v1/kpis/cost-to-serve (embedded: MemoryBus + SQLite) are computed once per version of
their input tables: an unchanged database is answered from the cache, and every write through the real
handlers (order line, shipment, promise, assignment, product, position) bumps its table's change counter so
the next call recomputes and shows it. Cached answers equal the uncached computation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.policy import kpi_reads, versions
from tests.unit.policy.kpi_reads_support import (
    FrameRuns,
    otif_points,
    reads_of,
    uncached_cost,
    uncached_series,
)
from tests.unit.policy.service_support import MONDAY, Record, assigned, delivered, order, position, product
from tests.unit.policy.test_service import Running, svc  # noqa: F401  (the fixture)

WEEK = [(MONDAY + timedelta(weeks=w)).isoformat() for w in range(6)]


def due(week: int) -> datetime:
    day = MONDAY + timedelta(weeks=week, days=2)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def history() -> list[Record]:
    """GOLD (A1): 2 lines a week in weeks 0-3, on time. SILVER (B1): 1 line a week, late in week 2."""
    records = [assigned("A1", "GOLD"), assigned("B1", "SILVER")]
    for week in range(4):
        day = due(week).date()
        for n in range(2):
            oid = f"A1-{week}-{n}"
            records += [order(oid, "A1", "S1", 10, day - timedelta(days=1), requested=day, region="EU")]
            records += [delivered(oid, "A1", "S1", 10, day, freight=5.0)]
        oid = f"B1-{week}"
        late = timedelta(days=1 if week == 2 else 0)
        records += [order(oid, "B1", "S1", 4, day - timedelta(days=1), requested=day, region="US")]
        records += [delivered(oid, "B1", "S1", 4, day + late)]
    return records


@pytest.fixture
async def frames(svc: Running, monkeypatch: pytest.MonkeyPatch) -> FrameRuns:  # noqa: F811
    """history() consumed by the service; counts the frame computations from here on."""
    await svc.publish(history())
    await svc.settle()
    return FrameRuns(monkeypatch)


async def kpis_body(running: Running, query: str = "") -> dict[str, Any]:
    response = await running.client.get(f"/v1/kpis{query}", headers=running.auth("planner"))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_second_call_on_unchanged_data_is_not_recomputed(svc: Running, frames: FrameRuns) -> None:  # noqa: F811
    reads = reads_of(svc.host)
    first = await kpis_body(svc)
    second = await kpis_body(svc)
    assert second == first and first["series"] == await uncached_series(svc.host)
    assert frames.runs == 1 and (reads.frames.misses, reads.tables.misses, reads.tables.hits) == (1, 1, 1)
    # another grouping and window on the same data: a new table from the cached frame, no new load
    by_region = await kpis_body(svc, "?by=region&window=2")
    assert by_region["series"] == await uncached_series(svc.host, "region", 2)
    assert frames.runs == 1 and reads.frames.hits == 1 and reads.tables.misses == 2
    metrics = (await svc.client.get("/metrics")).text
    assert 'segflow_cache_lookups_total{cache="kpi_table",outcome="hit",service="policy"}' in metrics


async def test_writes_through_the_handlers_show_in_the_next_answer(svc: Running, frames: FrameRuns) -> None:  # noqa: F811
    query = "?window=1"
    before = await kpis_body(svc, query)
    assert otif_points(before, "GOLD") == {WEEK[w]: (1.0, 2) for w in range(4)}
    assert otif_points(before, "SILVER") == {
        WEEK[0]: (1.0, 1),
        WEEK[1]: (1.0, 1),
        WEEK[2]: (0.0, 1),
        WEEK[3]: (1.0, 1),
    }
    assert frames.runs == 1

    # a new GOLD order line due in week 1, not delivered: overdue against the data clock (week 3)
    day = due(1).date()
    await svc.publish([order("A1-new", "A1", "S1", 6, day - timedelta(days=1), requested=day)])
    await svc.settle()
    body = await kpis_body(svc, query)
    assert otif_points(body, "GOLD")[WEEK[1]] == (pytest.approx(2 / 3), 3)
    assert otif_points(body, "GOLD", "line_fill_rate")[WEEK[1]] == (pytest.approx(2 / 3), 3)
    assert body["series"] == await uncached_series(svc.host, window=1) and frames.runs == 2

    # its shipment, delivered in full but 3 days late: in full now, still not on time
    await svc.publish([delivered("A1-new", "A1", "S1", 6, day + timedelta(days=3))])
    await svc.settle()
    body = await kpis_body(svc, query)
    assert otif_points(body, "GOLD", "line_fill_rate")[WEEK[1]] == (1.0, 3)
    assert otif_points(body, "GOLD")[WEEK[1]] == (pytest.approx(2 / 3), 3)
    assert body["series"] == await uncached_series(svc.host, window=1) and frames.runs == 3

    # A1 moves to SILVER: its lines count there now
    await svc.publish([assigned("A1", "SILVER", event_key="assigned:A1:again")])
    await svc.settle()
    body = await kpis_body(svc, query)
    assert {s["group"] for s in body["series"]} == {"SILVER"}
    assert otif_points(body, "SILVER")[WEEK[1]] == (pytest.approx(3 / 4), 4)
    assert otif_points(body, "SILVER")[WEEK[2]] == (pytest.approx(2 / 3), 3)
    assert body["series"] == await uncached_series(svc.host, window=1) and frames.runs == 4

    # unchanged again: served from the cache
    assert await kpis_body(svc, query) == body and frames.runs == 4


async def test_concurrent_first_calls_share_one_computation(svc: Running, frames: FrameRuns) -> None:  # noqa: F811
    bodies = await asyncio.gather(*(kpis_body(svc) for _ in range(5)))
    reads = reads_of(svc.host)
    assert all(b == bodies[0] for b in bodies) and bodies[0]["series"] == await uncached_series(svc.host)
    assert frames.runs == 1 and reads.frames.misses == 1 and reads.tables.misses == 1
    assert reads.tables.hits + reads.tables.shared == 4


async def test_cost_to_serve_is_cached_and_follows_shipments_and_positions(svc: Running) -> None:  # noqa: F811
    await svc.publish([product("A1", 7, unit_cost=2.0), *history()])
    await svc.publish([position("A1", 40.0, datetime(2024, 1, 1, tzinfo=UTC))])
    await svc.settle()
    reads = reads_of(svc.host)

    async def cost() -> list[dict[str, Any]]:
        response = await svc.client.get("/v1/kpis/cost-to-serve", headers=svc.auth("finance"))
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    first = await cost()
    assert await cost() == first and first == await uncached_cost(svc.host)
    assert (reads.costs.misses, reads.costs.hits) == (1, 1)
    [gold] = [i for i in first if i["segment"] == "GOLD"]
    assert gold["cost"]["total"] == 40.0  # 8 lines x 5.0 freight
    # a planner's masked view comes from the same cached items and leaves them unmasked
    planner = (await svc.client.get("/v1/kpis/cost-to-serve", headers=svc.auth("planner"))).json()
    assert planner["items"][0]["cost"] is None and await cost() == first and reads.costs.misses == 1

    await svc.publish(
        [order("A1-x", "A1", "S1", 10, MONDAY), delivered("A1-x", "A1", "S1", 10, MONDAY, freight=7.0)]
    )
    await svc.settle()
    [gold] = [i for i in await cost() if i["segment"] == "GOLD"]
    assert gold["cost"]["total"] == 47.0 and reads.costs.misses == 2
    turns = gold["inventory_turns"]
    await svc.publish([position("A1", 160.0, datetime(2024, 1, 8, tzinfo=UTC))])
    await svc.settle()
    items = await cost()
    [gold] = [i for i in items if i["segment"] == "GOLD"]
    # COGS: 90 units x 2.0; mean stock value: 40 x 2.0, then (40 + 160) / 2 x 2.0
    assert turns == pytest.approx(180 / 80)
    assert gold["inventory_turns"] == pytest.approx(180 / 200)
    assert items == await uncached_cost(svc.host) and reads.costs.misses == 3


def test_the_cached_reads_depend_only_on_counted_tables() -> None:
    assert set(kpi_reads.KPI_INPUTS) | set(kpi_reads.COST_INPUTS) <= set(versions.COUNTED)
