"""The classifier's tables and every query it runs (SQLAlchemy Core, PostgreSQL and SQLite alike).

Owns: master data (source records, crosswalk to golden ids, golden customers/products), order-line
state, demand buckets (per dimension x entity x grain x period, additive upserts), supplier receipts,
stream position, rule sets and their history, runs, assignments and their history, overrides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

metadata = MetaData()
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
Time = DateTime(timezone=True)

customer_sources = Table(
    "customer_sources",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("source_id", String(256), primary_key=True),
    Column("golden_id", String(300), nullable=False, index=True),
    Column("attributes", JSON, nullable=False),
    Column("updated_at", Time, nullable=False),
)
customers = Table(
    "customers",
    metadata,
    Column("golden_id", String(300), primary_key=True),
    Column("name", String(256)),
    Column("region", String(256)),
    Column("country", String(2)),
    Column("strategic", Boolean, nullable=False, default=False),
    Column("partner_ids", JSON, nullable=False),
    Column("account_owner", String(256)),
    Column("min_tier", Integer),
    Column("min_service_level", Float),
    Column("parents", JSON, nullable=False),
    Column("anonymous", Boolean, nullable=False, default=False),
    Column("updated_at", Time, nullable=False),
)
product_sources = Table(
    "product_sources",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("source_id", String(256), primary_key=True),
    Column("golden_id", String(300), nullable=False, index=True),
    Column("attributes", JSON, nullable=False),
    Column("updated_at", Time, nullable=False),
)
products = Table(
    "products",
    metadata,
    Column("golden_id", String(300), primary_key=True),
    Column("name", String(256)),
    Column("base_uom", String(3), nullable=False),
    Column("uom_conversions", JSON, nullable=False),
    Column("lifecycle", String(16)),
    Column("launch_date", String(10)),
    Column("category", String(256)),
    Column("unit_cost", Float),
    Column("list_price", Float),
    Column("currency", String(3)),
    Column("supplier_id", String(256)),
    Column("lead_time_days", Float),
    Column("lead_time_std_days", Float),
    Column("updated_at", Time, nullable=False),
)
order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(256), primary_key=True),
    Column("line_id", String(256), primary_key=True),
    Column("customer_id", String(300), nullable=False),
    Column("product_id", String(300), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("cancelled_quantity", Float, nullable=False),
    Column("shipped_quantity", Float, nullable=False),
    Column("unit_price", Float, nullable=False),
    Column("unit_cost", Float),
    Column("ordered_at", Time, nullable=False),
    Column("promo", Boolean, nullable=False),
    Column("project", Boolean, nullable=False),
)
demand_buckets = Table(
    "demand_buckets",
    metadata,
    Column("dimension", String(20), primary_key=True),
    Column("entity_id", String(600), primary_key=True),
    Column("grain", String(5), primary_key=True),
    Column("period", Integer, primary_key=True),
    Column("quantity", Float, nullable=False),
    Column("revenue", Float, nullable=False),
    Column("margin", Float, nullable=False),
    Column("missing_cost_lines", Integer, nullable=False),
    Column("lines", Integer, nullable=False),
    Column("promo_lines", Integer, nullable=False),
    Column("project_lines", Integer, nullable=False),
    Column("shipped_quantity", Float, nullable=False),
)
supplier_receipts = Table(
    "supplier_receipts",
    metadata,
    Column("receipt_id", String(256), primary_key=True),
    Column("supplier_id", String(256), nullable=False, index=True),
    Column("sku", String(256), nullable=False),
    Column("due_date", String(10), nullable=False),
    Column("scheduled_date", String(10)),
    Column("ordered_date", String(10)),
    Column("received_date", String(10)),
)
stream_state = Table(
    "stream_state",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("max_event_time", Time),
    Column("last_processed_at", Time),
    Column("events", BigInteger, nullable=False),
)
rulesets = Table(
    "rulesets",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("body", JSON, nullable=False),
    Column("schedule", String(16)),
    Column("active", Boolean, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", Time, nullable=False),
)
ruleset_history = Table(
    "ruleset_history",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("version", Integer, nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("at", Time, nullable=False),
    Column("detail", JSON, nullable=False),
)
runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("dimension", String(20), nullable=False),
    Column("ruleset_version", Integer, nullable=False),
    Column("ruleset_hash", String(64), nullable=False),
    Column("engine_version", String(32)),
    Column("status", String(16), nullable=False),
    Column("progress", Float, nullable=False),
    Column("stage", String(64)),
    Column("trigger", String(32), nullable=False),
    Column("requested_by", String(256)),
    Column("created_at", Time, nullable=False),
    Column("finished_at", Time),
    Column("data_cutoff", Time),
    Column("stream_lag", JSON),
    Column("counts", JSON),
    Column("migration", JSON),
    Column("notes", JSON),
    Column("error", Text),
)
assignments = Table(
    "assignments",
    metadata,
    Column("dimension", String(20), primary_key=True),
    Column("entity_id", String(600), primary_key=True),
    Column("segment", String(64), nullable=False, index=True),
    Column("computed_segment", String(64), nullable=False),
    Column("tier", Integer, nullable=False),
    Column("abc", String(1)),
    Column("xyz", String(1)),
    Column("pattern", String(16)),
    Column("region", String(256)),
    Column("name", String(256)),
    Column("pending_segment", String(64)),
    Column("pending_runs", Integer, nullable=False),
    Column("overridden", Boolean, nullable=False),
    Column("revenue", Float),
    Column("margin", Float),
    Column("explanation", JSON, nullable=False),
    Column("service_policy", JSON, nullable=False),
    Column("partner_ids", JSON, nullable=False),
    Column("ruleset_version", Integer, nullable=False),
    Column("ruleset_hash", String(64), nullable=False),
    Column("run_id", String(64)),
    Column("updated_at", Time, nullable=False),
)
assignment_history = Table(
    "assignment_history",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("dimension", String(20), nullable=False),
    Column("entity_id", String(600), nullable=False),
    Column("at", Time, nullable=False),
    Column("old_segment", String(64)),
    Column("new_segment", String(64)),
    Column("reasons", JSON, nullable=False),
    Column("run_id", String(64)),
)
Index("ix_assignment_history_entity", assignment_history.c.dimension, assignment_history.c.entity_id)
overrides = Table(
    "overrides",
    metadata,
    Column("override_id", String(64), primary_key=True),
    Column("dimension", String(20), nullable=False),
    Column("entity_id", String(600), nullable=False),
    Column("segment", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", String(256), nullable=False),
    Column("requested_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("decided_by", String(256)),
    Column("decided_at", Time),
    Column("decision_note", Text),
)

BUCKET_VALUES = (
    "quantity",
    "revenue",
    "margin",
    "missing_cost_lines",
    "lines",
    "promo_lines",
    "project_lines",
    "shipped_quantity",
)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _insert(session: AsyncSession | Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _upsert(session: AsyncSession | Session, table: Table, keys: Sequence[str], values: Sequence[str]) -> Any:
    stmt = _insert(session, table)
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={v: stmt.excluded[v] for v in values})


# ---------------------------------------------------------------- master data


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
        stmt = _upsert(
            session, _sources(kind), ["source", "source_id"], ["golden_id", "attributes", "updated_at"]
        )
        session.execute(stmt, list(rows))


def save_golden_sync(session: Session, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        table = customers if kind == "customer" else products
        values = [c.name for c in table.columns if c.name != "golden_id"]
        session.execute(_upsert(session, table, ["golden_id"], values), [dict(r) for r in rows])


def delete_golden_sync(session: Session, kind: str, golden_id: str) -> None:
    table = customers if kind == "customer" else products
    session.execute(delete(table).where(table.c.golden_id == golden_id))


# ---------------------------------------------------------------- order lines and buckets (sync: run at flush)


def load_lines(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Stored state of the given (order_id, line_id) lines, in chunks of 500 keys."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        orders = sorted({k[0] for k in chunk})
        rows = session.execute(select(order_lines).where(order_lines.c.order_id.in_(orders))).mappings().all()
        wanted = set(chunk)
        for row in rows:
            key = (row["order_id"], row["line_id"])
            if key in wanted:
                found[key] = {**row, "ordered_at": aware(row["ordered_at"])}
    return found


def save_lines(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        values = [c.name for c in order_lines.columns if c.name not in ("order_id", "line_id")]
        session.execute(_upsert(session, order_lines, ["order_id", "line_id"], values), list(rows))


def add_to_buckets(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Additive upsert: each value column += the row's delta."""
    if not rows:
        return
    stmt = _insert(session, demand_buckets)
    stmt = stmt.on_conflict_do_update(
        index_elements=["dimension", "entity_id", "grain", "period"],
        set_={v: demand_buckets.c[v] + stmt.excluded[v] for v in BUCKET_VALUES},
    )
    session.execute(stmt, list(rows))


def advance_stream(
    session: Session, stream: str, max_event_time: datetime, events: int, now: datetime
) -> None:
    stmt = _insert(session, stream_state)
    stmt = stmt.on_conflict_do_update(
        index_elements=["stream"],
        set_={
            "max_event_time": func.max(stream_state.c.max_event_time, stmt.excluded.max_event_time)
            if session.get_bind().dialect.name == "sqlite"
            else func.greatest(stream_state.c.max_event_time, stmt.excluded.max_event_time),
            "last_processed_at": stmt.excluded.last_processed_at,
            "events": stream_state.c.events + stmt.excluded.events,
        },
    )
    session.execute(
        stmt,
        [{"stream": stream, "max_event_time": max_event_time, "last_processed_at": now, "events": events}],
    )


async def line_exists(session: AsyncSession, order_id: str, line_id: str) -> bool:
    query = select(order_lines.c.order_id).where(
        order_lines.c.order_id == order_id, order_lines.c.line_id == line_id
    )
    return (await session.execute(query)).first() is not None


async def save_receipt(session: AsyncSession, row: Mapping[str, Any]) -> None:
    values = [c.name for c in supplier_receipts.columns if c.name != "receipt_id"]
    await session.execute(_upsert(session, supplier_receipts, ["receipt_id"], values), [dict(row)])


async def receipts(session: AsyncSession) -> list[Any]:
    query = select(supplier_receipts).where(supplier_receipts.c.received_date.is_not(None))
    return list((await session.execute(query)).all())


async def stream_position(session: AsyncSession) -> Any:
    return (await session.execute(select(stream_state).where(stream_state.c.stream == "orders"))).first()


async def measure_totals(session: AsyncSession, dimension: str) -> list[Any]:
    """Per entity over all monthly buckets: revenue, margin, missing-cost lines, lines, quantity."""
    b = demand_buckets.c
    query = (
        select(
            b.entity_id,
            func.sum(b.revenue).label("revenue"),
            func.sum(b.margin).label("margin"),
            func.sum(b.missing_cost_lines).label("missing_cost_lines"),
            func.sum(b.lines).label("lines"),
            func.sum(b.quantity).label("quantity"),
        )
        .where(b.dimension == dimension, b.grain == "month")
        .group_by(b.entity_id)
    )
    return list((await session.execute(query)).all())


async def bucket_series(session: AsyncSession, dimension: str, grain: str) -> list[Any]:
    b = demand_buckets.c
    query = select(b.entity_id, b.period, b.quantity, b.promo_lines, b.project_lines).where(
        b.dimension == dimension, b.grain == grain
    )
    return list((await session.execute(query)).all())


async def period_range(session: AsyncSession, grain: str) -> tuple[int | None, int | None]:
    b = demand_buckets.c
    row = (
        await session.execute(
            select(func.min(b.period), func.max(b.period)).where(b.grain == grain, b.dimension == "product")
        )
    ).first()
    return (row[0], row[1]) if row else (None, None)


async def customer_partners_of_products(session: AsyncSession) -> dict[str, set[str]]:
    """product id -> partner ids of the customers buying it (from customer x product buckets)."""
    b = demand_buckets.c
    query = (
        select(b.entity_id)
        .where(b.dimension == "customer_product", b.grain == "month", b.lines > 0)
        .distinct()
    )
    buyers: dict[str, set[str]] = {}
    partnered = {
        row.golden_id: set(row.partner_ids or [])
        for row in (await session.execute(select(customers.c.golden_id, customers.c.partner_ids))).all()
        if row.partner_ids
    }
    if not partnered:
        return buyers
    for (entity,) in (await session.execute(query)).all():
        customer, _, product = entity.partition("|")
        if customer in partnered:
            buyers.setdefault(product, set()).update(partnered[customer])
    return buyers


# ---------------------------------------------------------------- rule sets


async def ruleset_rows(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(rulesets).order_by(rulesets.c.version))).all())


async def ruleset_row(session: AsyncSession, version: int) -> Any:
    return (await session.execute(select(rulesets).where(rulesets.c.version == version))).first()


async def active_ruleset(session: AsyncSession) -> Any:
    return (await session.execute(select(rulesets).where(rulesets.c.active.is_(True)))).first()


async def ruleset_by_hash(session: AsyncSession, content_hash: str) -> Any:
    return (await session.execute(select(rulesets).where(rulesets.c.hash == content_hash))).first()


async def next_ruleset_version(session: AsyncSession) -> int:
    current = (await session.execute(select(func.max(rulesets.c.version)))).scalar()
    return int(current or 0) + 1


async def insert_ruleset(session: AsyncSession, row: Mapping[str, Any]) -> None:
    await session.execute(rulesets.insert().values(**row))


async def activate_ruleset(session: AsyncSession, version: int) -> None:
    await session.execute(update(rulesets).values(active=False).where(rulesets.c.version != version))
    await session.execute(update(rulesets).values(active=True).where(rulesets.c.version == version))


async def record_ruleset_action(
    session: AsyncSession, version: int, action: str, actor: str, at: datetime, detail: Mapping[str, Any]
) -> None:
    await session.execute(
        ruleset_history.insert().values(
            version=version, action=action, actor=actor, at=at, detail=dict(detail)
        )
    )


async def ruleset_actions(session: AsyncSession, version: int) -> list[Any]:
    query = (
        select(ruleset_history).where(ruleset_history.c.version == version).order_by(ruleset_history.c.seq)
    )
    return list((await session.execute(query)).all())


# ---------------------------------------------------------------- runs


async def insert_run(session: AsyncSession, row: Mapping[str, Any]) -> None:
    await session.execute(runs.insert().values(**row))


async def update_run(session: AsyncSession, run_id: str, **values: Any) -> None:
    await session.execute(update(runs).where(runs.c.run_id == run_id).values(**values))


async def run_row(session: AsyncSession, run_id: str) -> Any:
    return (await session.execute(select(runs).where(runs.c.run_id == run_id))).first()


async def latest_run(session: AsyncSession, dimension: str | None = None, trigger: str | None = None) -> Any:
    query = select(runs).order_by(runs.c.created_at.desc(), runs.c.run_id.desc()).limit(1)
    if dimension is not None:
        query = query.where(runs.c.dimension == dimension)
    if trigger is not None:
        query = query.where(runs.c.trigger == trigger)
    return (await session.execute(query)).first()


async def unfinished_runs(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(runs).where(runs.c.status.in_(["queued", "running"])))).all())


# ---------------------------------------------------------------- assignments


async def assignment_rows(session: AsyncSession, dimension: str) -> dict[str, Any]:
    query = select(assignments).where(assignments.c.dimension == dimension)
    return {row.entity_id: row for row in (await session.execute(query)).all()}


async def save_assignments(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    values = [c.name for c in assignments.columns if c.name not in ("dimension", "entity_id")]
    for start in range(0, len(rows), 500):
        chunk = list(rows[start : start + 500])
        await session.execute(_upsert(session, assignments, ["dimension", "entity_id"], values), chunk)


async def delete_assignments(session: AsyncSession, dimension: str, entity_ids: Sequence[str]) -> None:
    for start in range(0, len(entity_ids), 500):
        chunk = list(entity_ids[start : start + 500])
        await session.execute(
            delete(assignments).where(
                assignments.c.dimension == dimension, assignments.c.entity_id.in_(chunk)
            )
        )


async def add_history(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await session.execute(assignment_history.insert(), list(rows))


async def assignment(session: AsyncSession, dimension: str, entity_id: str) -> Any:
    query = select(assignments).where(
        assignments.c.dimension == dimension, assignments.c.entity_id == entity_id
    )
    return (await session.execute(query)).first()


async def history(session: AsyncSession, dimension: str, entity_id: str) -> list[Any]:
    h = assignment_history.c
    query = (
        select(assignment_history).where(h.dimension == dimension, h.entity_id == entity_id).order_by(h.seq)
    )
    return list((await session.execute(query)).all())


async def search_assignments(
    session: AsyncSession,
    *,
    dimension: str | None,
    segment: str | None,
    abc: str | None,
    xyz: str | None,
    region: str | None,
    text: str | None,
    after: tuple[str, str] | None,
    limit: int,
    entity_ids: Sequence[str] | None = None,
) -> list[Any]:
    """Filtered assignments in (dimension, entity_id) order, keyset-paged after ``after``."""
    a = assignments.c
    conditions: list[Any] = []
    for column, value in (
        (a.dimension, dimension),
        (a.segment, segment),
        (a.abc, abc),
        (a.xyz, xyz),
        (a.region, region),
    ):
        if value is not None:
            conditions.append(column == value)
    if text:
        pattern = f"%{text.lower()}%"
        conditions.append(or_(func.lower(a.entity_id).like(pattern), func.lower(a.name).like(pattern)))
    if after is not None:
        conditions.append(tuple_(a.dimension, a.entity_id) > tuple_(*after))
    if entity_ids is not None:
        conditions.append(a.entity_id.in_(list(entity_ids)))
    query = select(assignments).where(*conditions).order_by(a.dimension, a.entity_id).limit(limit)
    return list((await session.execute(query)).all())


async def abc_xyz_counts(session: AsyncSession, dimension: str) -> list[Any]:
    a = assignments.c
    query = (
        select(a.abc, a.xyz, func.count().label("count"))
        .where(a.dimension == dimension)
        .group_by(a.abc, a.xyz)
        .order_by(a.abc, a.xyz)
    )
    return list((await session.execute(query)).all())


# ---------------------------------------------------------------- overrides


async def insert_override(session: AsyncSession, row: Mapping[str, Any]) -> None:
    await session.execute(overrides.insert().values(**row))


async def override_row(session: AsyncSession, override_id: str) -> Any:
    return (await session.execute(select(overrides).where(overrides.c.override_id == override_id))).first()


async def save_override(session: AsyncSession, override_id: str, **values: Any) -> None:
    await session.execute(update(overrides).where(overrides.c.override_id == override_id).values(**values))


async def override_rows(
    session: AsyncSession, *, status: str | None = None, dimension: str | None = None
) -> list[Any]:
    query = select(overrides).order_by(overrides.c.requested_at, overrides.c.override_id)
    if status is not None:
        query = query.where(overrides.c.status == status)
    if dimension is not None:
        query = query.where(overrides.c.dimension == dimension)
    return list((await session.execute(query)).all())


async def add_tombstone(session: AsyncSession, *, topic: str, key: str, event_id: str) -> None:
    """Queue a Kafka tombstone (no value, no CloudEvents headers) for a compacted topic via the outbox."""
    from services.runtime.tables import OUTBOX

    await session.execute(
        OUTBOX.insert().values(
            id=event_id,
            aggregatetype=topic,
            aggregateid=key,
            type="tombstone",
            payload=None,
            headers="[]",
            created_at=datetime.now(UTC),
        )
    )
