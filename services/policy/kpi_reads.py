"""The KPI routes' whole-history reads, cached per version of their inputs (services.runtime.versioned_cache):
the KPI frame (every KPI line as arrays, kpis.frame) and the rolling table per (grouping, window) behind
GET /v1/kpis, and the cost-to-serve items behind GET /v1/kpis/cost-to-serve.

Validity: a call first reads the change counters of its input tables (services.policy.versions; one small
query), then reuses a result only if it was loaded at counters covering those. Every transaction that writes
an input table, on any replica, bumps its counter when it commits, so a write committed before the call is
always in the answer: the same freshness as recomputing on every call.

Inputs: the frame and tables depend on order lines, shipments, promises, assignments (segment) and products
(category); cost-to-serve on shipments, positions, products (unit cost) and assignments. Loads use their own
read session; the joins and numpy work run in a thread, one computation at a time per key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table

from services.policy import kpis, store
from services.policy.tables import assignments, order_lines, positions, products, promises, shipments
from services.runtime.db import Database
from services.runtime.versioned_cache import Version, VersionedCache

KPI_INPUTS: tuple[Table, ...] = (order_lines, shipments, promises, assignments, products)
COST_INPUTS: tuple[Table, ...] = (shipments, positions, products, assignments)
SERVICE = "policy"


def _frame(
    lines: Sequence[Any],
    ships: Sequence[Any],
    promised: Sequence[Any],
    assigned: Sequence[Any],
    grace_days: int,
    categories: dict[str, str],
) -> kpis.KpiFrame | None:
    return kpis.frame(kpis.collect_lines(lines, ships, promised, assigned, grace_days, categories))


class KpiReads:
    """The cached reads of one app instance: one frame, up to ``tables`` (grouping, window) tables, one
    cost-to-serve result; each valid for the input counters it was loaded at."""

    def __init__(self, db: Database, grace_days: int, *, tables: int = 8) -> None:
        self.db = db
        self.grace_days = grace_days
        self.frames: VersionedCache[kpis.KpiFrame | None] = VersionedCache(SERVICE, "kpi_frame", 1)
        self.tables: VersionedCache[kpis.KpiTable | None] = VersionedCache(SERVICE, "kpi_table", tables)
        self.costs: VersionedCache[list[dict[str, Any]]] = VersionedCache(SERVICE, "cost_to_serve", 1)

    async def version(self, tables: Sequence[Table]) -> Version:
        async with self.db.read() as session:
            return await store.data_versions_of(session, tables)

    async def table(self, by: str, window: int) -> kpis.KpiTable | None:
        """Rolling KPIs per group of ``by`` over ``window`` weeks, as of now."""
        version = await self.version(KPI_INPUTS)

        async def compute() -> kpis.KpiTable | None:
            data = await self.frames.get(self.grace_days, version, self._load_frame)
            return await asyncio.to_thread(kpis.frame_table, data, by, window)

        return await self.tables.get((by, window), version, compute)

    async def _load_frame(self) -> kpis.KpiFrame | None:
        async with self.db.read() as session:
            lines, ships, promised = await store.kpi_rows(session)
            assigned = await store.assignment_rows(session)
            categories = await store.product_categories(session)
        return await asyncio.to_thread(_frame, lines, ships, promised, assigned, self.grace_days, categories)

    async def cost(self) -> list[dict[str, Any]]:
        """Cost-to-serve and inventory turns per segment (unmasked; callers mask, never mutate)."""
        return await self.costs.get("items", await self.version(COST_INPUTS), self._load_cost)

    async def _load_cost(self) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            ships = await store.shipment_rows(session)
            stock = await store.position_rows(session)
            master = await store.product_rows(session)
            assigned = await store.assignment_rows(session)
        return await asyncio.to_thread(kpis.cost_and_turns, ships, stock, master, assigned)

    async def close(self) -> None:
        for cache in (self.tables, self.frames, self.costs):
            await cache.close()
