"""The gateway's tables and every query: the segment read model, change history, partner feed,
webhooks with their deliveries, and the last known ATP snapshot per sku@site."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.upsert import dialect_insert, upsert

metadata = MetaData()
assignments = Table(
    "gw_assignments",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("dimension", String(32), nullable=False),
    Column("entity_id", String(256), nullable=False),
    Column("segment", String(256), nullable=False),
    Column("tier", Integer, nullable=False),
    Column("partner_ids", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("valid_from", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)
changes = Table(
    "gw_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(200), nullable=False, unique=True),
    Column("key", String(300), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("old_segment", String(256)),
    Column("new_segment", String(256)),
    Column("reasons", Text, nullable=False),
    Column("at", String(40), nullable=False),
)
feed = Table(
    "gw_feed",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("partner_id", String(64), nullable=False),
    Column("key", String(300), nullable=False),
    Column("op", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("at", String(40), nullable=False),
)
webhooks = Table(
    "gw_webhooks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("partner_id", String(64), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", String(40), nullable=False),
)
deliveries = Table(
    "gw_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("webhook_id", String(40), nullable=False),
    Column("partner_id", String(64), nullable=False),
    Column("feed_seq", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text),
    Column("created_at", String(40), nullable=False),
    Column("delivered_at", String(40)),
)
atp_snapshots = Table(
    "gw_atp_snapshots",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("buckets", Text, nullable=False),
    Column("source", String(32), nullable=False),
    Column("updated_at", String(40), nullable=False),
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


# --------------------------------------------------------------------------- read model


async def current_assignment(session: AsyncSession, key: str) -> dict[str, Any] | None:
    row = (await session.execute(select(assignments).where(assignments.c.key == key))).first()
    return _assignment_row(row) if row else None


def _assignment_row(row: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(row.payload)
    body["partner_ids"] = json.loads(row.partner_ids)
    body["updated_at"] = row.updated_at
    return body


async def upsert_assignment(session: AsyncSession, key: str, payload: dict[str, Any]) -> None:
    values = {
        "key": key,
        "dimension": payload["dimension"],
        "entity_id": payload["entity_id"],
        "segment": payload["segment"],
        "tier": int(payload["tier"]),
        "partner_ids": json.dumps(sorted(payload.get("partner_ids") or [])),
        "payload": json.dumps(payload, default=str),
        "valid_from": str(payload.get("valid_from") or ""),
        "updated_at": now_iso(),
    }
    await upsert(session, assignments, values, ["key"])


async def delete_assignment(session: AsyncSession, key: str) -> dict[str, Any] | None:
    previous = await current_assignment(session, key)
    await session.execute(assignments.delete().where(assignments.c.key == key))
    return previous


async def list_assignments(session: AsyncSession, dimension: str | None = None) -> list[dict[str, Any]]:
    query = select(assignments).order_by(assignments.c.key)
    if dimension:
        query = query.where(assignments.c.dimension == dimension)
    return [_assignment_row(r) for r in (await session.execute(query)).all()]


async def add_change(
    session: AsyncSession,
    *,
    event_id: str,
    key: str,
    kind: str,
    old_segment: str | None,
    new_segment: str | None,
    reasons: list[str],
    at: str,
) -> None:
    stmt = dialect_insert(session, changes).values(
        event_id=event_id,
        key=key,
        kind=kind,
        old_segment=old_segment,
        new_segment=new_segment,
        reasons=json.dumps(reasons),
        at=at,
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["event_id"]))


async def history(session: AsyncSession, key: str, limit: int = 200) -> list[dict[str, Any]]:
    query = select(changes).where(changes.c.key == key).order_by(changes.c.at.desc(), changes.c.id.desc())
    rows = (await session.execute(query.limit(limit))).all()
    return [
        {
            "at": r.at,
            "kind": r.kind,
            "old_segment": r.old_segment,
            "new_segment": r.new_segment,
            "reasons": json.loads(r.reasons),
        }
        for r in rows
    ]


# --------------------------------------------------------------------------- partner feed


async def append_feed(session: AsyncSession, partner_id: str, key: str, op: str, body: dict[str, Any]) -> int:
    stmt = (
        feed.insert()
        .values(partner_id=partner_id, key=key, op=op, body=json.dumps(body, default=str), at=now_iso())
        .returning(feed.c.seq)
    )
    return int((await session.execute(stmt)).scalar_one())


async def read_feed(session: AsyncSession, partner_id: str, after: int, limit: int) -> list[dict[str, Any]]:
    query = (
        select(feed)
        .where(feed.c.partner_id == partner_id, feed.c.seq > after)
        .order_by(feed.c.seq)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return [
        {"seq": r.seq, "key": r.key, "op": r.op, "at": r.at, "assignment": json.loads(r.body)} for r in rows
    ]


# --------------------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class Delivery:
    id: str
    webhook_id: str
    partner_id: str
    url: str
    secret: str
    body: str
    attempts: int


async def create_webhook(session: AsyncSession, partner_id: str, url: str, secret: str) -> dict[str, Any]:
    row = {
        "id": str(uuid.uuid4()),
        "partner_id": partner_id,
        "url": url,
        "secret": secret,
        "active": True,
        "created_at": now_iso(),
    }
    await session.execute(webhooks.insert().values(**row))
    return row


async def list_webhooks(session: AsyncSession, partner_id: str) -> list[dict[str, Any]]:
    query = select(webhooks).where(webhooks.c.partner_id == partner_id).order_by(webhooks.c.created_at)
    return [
        {"id": r.id, "url": r.url, "active": r.active, "created_at": r.created_at}
        for r in (await session.execute(query)).all()
    ]


async def enqueue_deliveries(
    session: AsyncSession, partner_id: str, feed_seq: int, body: dict[str, Any]
) -> int:
    query = select(webhooks.c.id).where(webhooks.c.partner_id == partner_id, webhooks.c.active.is_(True))
    hook_ids = [r.id for r in (await session.execute(query)).all()]
    text = json.dumps(body, default=str, sort_keys=True)
    for hook_id in hook_ids:
        await session.execute(
            deliveries.insert().values(
                id=str(uuid.uuid4()),
                webhook_id=hook_id,
                partner_id=partner_id,
                feed_seq=feed_seq,
                body=text,
                status="pending",
                attempts=0,
                next_attempt_at=time.time(),
                created_at=now_iso(),
            )
        )
    return len(hook_ids)


async def due_deliveries(session: AsyncSession, now: float, limit: int) -> list[Delivery]:
    query = (
        select(deliveries, webhooks.c.url, webhooks.c.secret)
        .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at, deliveries.c.feed_seq)
        .limit(limit)
    )
    return [
        Delivery(r.id, r.webhook_id, r.partner_id, r.url, r.secret, r.body, r.attempts)
        for r in (await session.execute(query)).all()
    ]


async def mark_delivered(session: AsyncSession, delivery_id: str, attempts: int) -> None:
    await session.execute(
        deliveries.update()
        .where(deliveries.c.id == delivery_id)
        .values(status="delivered", attempts=attempts, delivered_at=now_iso(), last_error=None)
    )


async def mark_failed(
    session: AsyncSession, delivery_id: str, attempts: int, status: str, next_at: float, error: str
) -> None:
    await session.execute(
        deliveries.update()
        .where(deliveries.c.id == delivery_id)
        .values(status=status, attempts=attempts, next_attempt_at=next_at, last_error=error[:2000])
    )


def _delivery_public(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "webhook_id": r.webhook_id,
        "feed_seq": r.feed_seq,
        "status": r.status,
        "attempts": r.attempts,
        "last_error": r.last_error,
        "created_at": r.created_at,
        "delivered_at": r.delivered_at,
    }


async def list_deliveries(
    session: AsyncSession, partner_id: str, status: str | None, limit: int
) -> list[dict[str, Any]]:
    query = select(deliveries).where(deliveries.c.partner_id == partner_id)
    if status:
        query = query.where(deliveries.c.status == status)
    rows = (await session.execute(query.order_by(deliveries.c.created_at.desc()).limit(limit))).all()
    return [_delivery_public(r) for r in rows]


async def replay_delivery(session: AsyncSession, partner_id: str, delivery_id: str) -> dict[str, Any] | None:
    """Reset a partner's own delivery to pending with zero attempts; None when it is not theirs."""
    where = (deliveries.c.id == delivery_id) & (deliveries.c.partner_id == partner_id)
    if (await session.execute(select(deliveries.c.id).where(where))).first() is None:
        return None
    await session.execute(
        deliveries.update().where(where).values(status="pending", attempts=0, next_attempt_at=time.time())
    )
    row = (await session.execute(select(deliveries).where(where))).first()
    return _delivery_public(row)


# --------------------------------------------------------------------------- ATP snapshots


async def save_atp(session: AsyncSession, key: str, buckets: list[tuple[str, float]], source: str) -> None:
    values = {"key": key, "buckets": json.dumps(buckets), "source": source, "updated_at": now_iso()}
    await upsert(session, atp_snapshots, values, ["key"])


async def load_atp(session: AsyncSession, key: str) -> tuple[list[tuple[str, float]], str] | None:
    row = (await session.execute(select(atp_snapshots).where(atp_snapshots.c.key == key))).first()
    if row is None:
        return None
    return [(str(d), float(q)) for d, q in json.loads(row.buckets)], row.updated_at


async def segment_summary(session: AsyncSession) -> list[dict[str, Any]]:
    """Per dimension and segment: entity count, tier, and the service policy of the latest assignment."""
    query = select(assignments.c.dimension, assignments.c.segment, func.count().label("n")).group_by(
        assignments.c.dimension, assignments.c.segment
    )
    counts = {(r.dimension, r.segment): int(r.n) for r in (await session.execute(query)).all()}
    out: list[dict[str, Any]] = []
    for (dimension, segment), n in sorted(counts.items()):
        sample = (
            await session.execute(
                select(assignments.c.payload)
                .where(assignments.c.dimension == dimension, assignments.c.segment == segment)
                .order_by(assignments.c.updated_at.desc())
                .limit(1)
            )
        ).first()
        payload = json.loads(sample.payload) if sample else {}
        out.append(
            {
                "dimension": dimension,
                "segment": segment,
                "entities": n,
                "tier": payload.get("tier"),
                "service_policy": payload.get("service_policy") or {},
            }
        )
    return out
