"""Transactional outbox and its relay.

Rules:
- A state change and the events it causes are written in one transaction: ``add_event`` inserts the
  event into the outbox table through the caller's session; nothing is published directly.
- The relay takes unsent rows in ``seq`` order with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite has
  one writer), publishes them (pipelined) and waits for every acknowledgement, then marks them sent in
  the same transaction. On PostgreSQL a transaction-scoped advisory lock per service lets only one
  replica's relay run at a time, so two relays never interleave one key's events. A crash between the acknowledgement and the mark republishes the row: consumers'
  inboxes make that a no-op (same event id).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry.trace import StatusCode
from pydantic import BaseModel
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Envelope, new_envelope, to_headers
from services.runtime import faults, metrics, telemetry
from services.runtime.bus.base import Bus
from services.runtime.db import Database, is_infrastructure_error
from services.runtime.logging import get_logger
from services.runtime.tables import OUTBOX

log = get_logger(__name__)


def _encode_key(key: str | bytes | None) -> str | None:
    if key is None:
        return None
    return key.decode() if isinstance(key, bytes) else key


def envelope_row(topic: str, key: str | None, envelope: Envelope) -> dict[str, Any]:
    """The outbox row of ``envelope``: its CloudEvents headers plus the current trace context (unless the
    envelope carries its own)."""
    headers = list(to_headers(envelope))
    if envelope.traceparent is None:
        telemetry.inject_headers(headers)
    return {
        "id": envelope.id,
        "aggregatetype": topic,
        "aggregateid": _encode_key(key),
        "type": envelope.type,
        "payload": envelope.data,
        "headers": orjson.dumps([[k, v.decode("utf-8")] for k, v in headers]).decode(),
        "created_at": datetime.now(UTC),
    }


async def add_envelope(session: AsyncSession, *, topic: str, key: str | None, envelope: Envelope) -> None:
    """Queue an already built envelope for publication in the caller's transaction."""
    await session.execute(OUTBOX.insert().values(**envelope_row(topic, key, envelope)))


async def add_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Queue many ``envelope_row`` rows with one executemany (batched writers)."""
    if rows:
        await session.execute(OUTBOX.insert(), list(rows))


async def add_tombstone(session: AsyncSession, *, topic: str, key: str, event_id: str) -> None:
    """Queue a Kafka tombstone (no value, no CloudEvents headers) for a compacted topic."""
    await session.execute(
        OUTBOX.insert().values(
            id=event_id, aggregatetype=topic, aggregateid=key, type="tombstone", payload=None, headers="[]",
            created_at=datetime.now(UTC),
        )
    )  # fmt: skip


async def add_event(
    session: AsyncSession,
    *,
    topic: str,
    key: str | None,
    source: str,
    type: str,
    payload: BaseModel | dict | None,
    subject: str | None = None,
    id: str | None = None,
    time: datetime | None = None,
) -> Envelope:
    """Build a CloudEvent and queue it in the outbox; the current trace context travels with it."""
    env = new_envelope(source=source, type=type, subject=subject or key, payload=payload, id=id, time=time)
    await add_envelope(session, topic=topic, key=key, envelope=env)
    return env


class OutboxRelay:
    """Publishes a service's outbox rows in order and marks them sent."""

    def __init__(
        self, service: str, db: Database, bus: Bus, *, batch: int = 500, interval_s: float = 0.05
    ) -> None:
        self.service = service
        self.db = db
        self.bus = bus
        self.batch = batch
        self.interval_s = interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """Ask the relay to run now (called after a unit of work that wrote outbox rows)."""
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name=f"{self.service}-outbox-relay")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        backoff = self.interval_s
        while not self._stopping:
            try:
                sent = await self.relay_once()
                backoff = self.interval_s
                if sent:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep relaying: infrastructure errors heal, others are logged
                log.warning(
                    "outbox relay failed; retrying", error=str(exc), infra=is_infrastructure_error(exc)
                )
                backoff = min(backoff * 2, 5.0)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were sent."""
        async with self.db.unit_of_work() as session:
            if self.db.is_postgres:
                # one active relay per service at a time, so replicas never interleave a key's events
                got = (
                    await session.execute(
                        text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"),
                        {"name": f"outbox:{self.service}"},
                    )
                ).scalar_one()
                if not got:
                    return 0
            rows = (
                await session.execute(
                    select(
                        OUTBOX.c.seq,
                        OUTBOX.c.aggregatetype,
                        OUTBOX.c.aggregateid,
                        OUTBOX.c.payload,
                        OUTBOX.c.headers,
                    )
                    .where(OUTBOX.c.sent_at.is_(None))
                    .order_by(OUTBOX.c.seq)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                metrics.OUTBOX_BACKLOG.labels(self.service).set(0)
                return 0
            batch, spans = [], []
            for row in rows:
                key = row.aggregateid.encode() if row.aggregateid is not None else None
                headers = [(k, v.encode("utf-8")) for k, v in orjson.loads(row.headers)]
                span = telemetry.start_publish_span(row.aggregatetype, key, headers)
                telemetry.inject_headers(headers, span)  # the record's traceparent names its publish span
                spans.append(span)
                batch.append((row.aggregatetype, key, row.payload, headers))
            try:
                await self.bus.publish_many(batch)
            except Exception as exc:
                for span in spans:
                    span.record_exception(exc)
                    span.set_status(StatusCode.ERROR)
                raise
            finally:
                for span in spans:
                    span.end()
            faults.maybe_crash("relay_after_ack")
            sent = [row.seq for row in rows]
            for row in rows:
                metrics.PUBLISHED.labels(self.service, row.aggregatetype).inc()
            await session.execute(
                update(OUTBOX).where(OUTBOX.c.seq.in_(sent)).values(sent_at=datetime.now(UTC))
            )
        return len(sent)

    async def backlog(self) -> int:
        async with self.db.read() as session:
            n = (await session.execute(select(func.count()).where(OUTBOX.c.sent_at.is_(None)))).scalar_one()
        metrics.OUTBOX_BACKLOG.labels(self.service).set(n)
        return int(n)


async def pending_events(db: Database) -> Sequence[tuple[str, str | None, bytes | None]]:
    """Unsent outbox rows (topic, key, payload), oldest first; for tests and diagnostics."""
    async with db.read() as session:
        rows = (
            await session.execute(
                select(OUTBOX.c.aggregatetype, OUTBOX.c.aggregateid, OUTBOX.c.payload)
                .where(OUTBOX.c.sent_at.is_(None))
                .order_by(OUTBOX.c.seq)
            )
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]
