"""Shared by the KPI read cache tests (SQLite and PostgreSQL): the uncached reference computation (what
GET /v1/kpis and cost-to-serve computed on every call before the cache) and a counter of the cache's frame
computations."""

from __future__ import annotations

from typing import Any

import pytest

from services.policy import kpi_reads, kpis, store
from services.policy.evaluation import KpiEvaluator
from services.runtime.host import ServiceHost


async def uncached_series(
    host: ServiceHost, by: str = "segment", window: int = 4, kpi: str | None = None
) -> list[dict[str, Any]]:
    """The series straight from every stored row (the route's computation without any cache)."""
    evaluator: KpiEvaluator = host.state["evaluator"]
    async with host.db.read() as session:
        lines, ships, promised = await store.kpi_rows(session)
        assignments = await store.assignment_rows(session)
        categories = {p.sku: p.category for p in await store.product_rows(session) if p.category}
    grace = 7 * evaluator.config.grace_weeks
    data = kpis.collect_lines(lines, ships, promised, assignments, grace, categories)
    return kpis.series(kpis.kpi_table(data, by, window), kpi, None)


async def uncached_cost(host: ServiceHost) -> list[dict[str, Any]]:
    async with host.db.read() as session:
        _, ships, _ = await store.kpi_rows(session)
        positions = await store.position_rows(session)
        products = await store.product_rows(session)
        assignments = await store.assignment_rows(session)
    return kpis.cost_and_turns(ships, positions, products, assignments)


class FrameRuns:
    """Counts the runs of the cached read's frame computation (collect_lines + arrays) in this process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs = 0
        original = kpi_reads._frame

        def counting(*args: Any) -> Any:
            self.runs += 1
            return original(*args)

        monkeypatch.setattr(kpi_reads, "_frame", counting)


def reads_of(host: ServiceHost) -> kpi_reads.KpiReads:
    reads: kpi_reads.KpiReads = host.state["kpi_reads"]
    return reads


def otif_points(body: dict[str, Any], group: str, kpi: str = "otif") -> dict[str, tuple[float, int]]:
    """week_start -> (value, lines) of one group's series of one KPI."""
    [series] = [s for s in body["series"] if s["group"] == group and s["kpi"] == kpi]
    return {p["week_start"]: (p["value"], p["lines"]) for p in series["points"]}
