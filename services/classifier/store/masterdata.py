"""Master-data queries: source records, the crosswalk to golden ids, golden customers and products."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.runtime.upsert import upsert_statement

from .tables import aware, customer_sources, customers, product_sources, products


async def golden_customer(session: AsyncSession, golden_id: str) -> Any:
    return (await session.execute(select(customers).where(customers.c.golden_id == golden_id))).first()


async def resolve(session: AsyncSession, kind: str, source: str, source_id: str) -> Any:
    """The golden row of (source, source_id); for products also any source knowing that id."""
    sources, golden = (customer_sources, customers) if kind == "customer" else (product_sources, products)
    query = (
        select(golden)
        .join(sources, sources.c.golden_id == golden.c.golden_id)
        .where(sources.c.source_id == source_id)
        .order_by((sources.c.source != source), sources.c.source)
        .limit(1)
    )
    if kind == "customer":
        query = query.where(sources.c.source == source)
    return (await session.execute(query)).first()


async def customers_by_id(session: AsyncSession, ids: Iterable[str] | None = None) -> dict[str, Any]:
    query = select(customers)
    if ids is not None:
        query = query.where(customers.c.golden_id.in_(list(ids)))
    return {row.golden_id: row for row in (await session.execute(query)).all()}


async def all_products(session: AsyncSession) -> dict[str, Any]:
    return {row.golden_id: row for row in (await session.execute(select(products))).all()}


def _sources(kind: str) -> Table:
    return customer_sources if kind == "customer" else product_sources


def source_rows_sync(
    session: Session, kind: str, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Source records by (source, source_id), in chunks of 500 keys (run at flush)."""
    table = _sources(kind)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        query = select(table).where(tuple_(table.c.source, table.c.source_id).in_(chunk))
        for row in session.execute(query).mappings().all():
            found[(row["source"], row["source_id"])] = {**row, "updated_at": aware(row["updated_at"])}
    return found


def source_rows_by_golden_sync(
    session: Session, kind: str, golden_ids: Sequence[str]
) -> dict[str, list[Any]]:
    table = _sources(kind)
    out: dict[str, list[Any]] = {}
    for start in range(0, len(golden_ids), 500):
        chunk = list(golden_ids[start : start + 500])
        for row in session.execute(select(table).where(table.c.golden_id.in_(chunk))).mappings().all():
            out.setdefault(row["golden_id"], []).append({**row, "updated_at": aware(row["updated_at"])})
    return out


def save_source_rows_sync(session: Session, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        stmt = upsert_statement(
            session, _sources(kind), ["source", "source_id"], ["golden_id", "attributes", "updated_at"]
        )
        session.execute(stmt, list(rows))


def save_golden_sync(session: Session, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        table = customers if kind == "customer" else products
        values = [c.name for c in table.columns if c.name != "golden_id"]
        session.execute(upsert_statement(session, table, ["golden_id"], values), [dict(r) for r in rows])


def delete_golden_sync(session: Session, kind: str, golden_id: str) -> None:
    table = customers if kind == "customer" else products
    session.execute(delete(table).where(table.c.golden_id == golden_id))


async def source_systems(session: AsyncSession, kind: str) -> dict[str, list[str]]:
    """golden id -> the sorted source systems that know it (from the crosswalk)."""
    table = _sources(kind)
    query = select(table.c.golden_id, table.c.source).distinct()
    out: dict[str, list[str]] = {}
    for golden_id, source in (await session.execute(query)).all():
        out.setdefault(golden_id, []).append(source)
    return {golden_id: sorted(sources) for golden_id, sources in out.items()}
