"""The consumer runner: decode, validate, apply in a unit of work with inbox dedup, commit, or dead-letter.

Rules (DESIGN.md section 4):
- Records of a partition are processed in offset order; the offset (last + 1) is committed only after
  the record's database transaction committed.
- Poison input (malformed envelope, unknown event type, schema violation, a handler's ``PoisonRecord``,
  or any other error that persists after ``max_retries`` attempts) goes to ``segflow.dlq.v1`` with the
  original key, bytes and headers plus dlq_* headers naming topic, partition, offset, consumer and
  error; then the partition keeps flowing.
- Infrastructure errors (database or broker unreachable) are retried forever with backoff, never
  dead-lettered.
- On a rebalance, processed offsets are committed before partitions are revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics as catalog
from contracts.envelope import Envelope, EnvelopeError, from_kafka
from contracts.registry import EventValidationError, parse_event
from services.runtime import faults, inbox, metrics, telemetry
from services.runtime.bus.base import Bus, BusConsumer, Record, TopicPartition
from services.runtime.db import Database, is_infrastructure_error
from services.runtime.logging import get_logger

log = get_logger(__name__)

Handler = Callable[[AsyncSession, Envelope, BaseModel], Awaitable[None]]
TombstoneHandler = Callable[[AsyncSession, Record], Awaitable[None]]


class PoisonRecord(Exception):
    """Raised by a handler when the input can never be processed as it is (goes to the DLQ with reason).

    Example: an order for a product that master data does not know yet; replayable later.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Outcome:
    kind: str  # ok | duplicate | ignored | dlq
    reason: str | None = None


class EventConsumer:
    """Runs one consumer-group member for a service: handlers by CloudEvents type."""

    def __init__(
        self,
        *,
        service: str,
        name: str,
        bus: Bus,
        db: Database,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        tombstone_handler: TombstoneHandler | None = None,
        max_retries: int = 3,
        retry_backoff_s: float = 0.05,
        after_commit: Callable[[], None] | None = None,
        batch: int = 500,
        transaction_batch: int = 1,
    ) -> None:
        self.service = service
        self.name = name
        self.group = f"segflow.{name}"
        self.bus = bus
        self.db = db
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.tombstone_handler = tombstone_handler
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.after_commit = after_commit
        self.batch = batch
        self.transaction_batch = max(1, transaction_batch)
        self._consumer: BusConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._processed: dict[TopicPartition, int] = {}
        self._stopping = False
        self.processed_count = 0

    async def start(self) -> None:
        self._stopping = False
        self._consumer = self.bus.consumer(self.group, self.topics)
        self._consumer.set_revoke_hook(self._on_revoke)
        await self._consumer.start()
        self._task = asyncio.create_task(self._loop(), name=f"{self.name}-consumer")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._commit_processed()
            await self._consumer.stop()
            self._consumer = None

    async def _on_revoke(self, revoked: set[TopicPartition]) -> None:
        await self._commit_processed()

    async def _commit_processed(self) -> None:
        if self._consumer is not None and self._processed:
            pending, self._processed = dict(self._processed), {}
            await self._consumer.commit(pending)

    async def _loop(self) -> None:
        assert self._consumer is not None
        while not self._stopping:
            try:
                records = await self._consumer.getmany(timeout_ms=200, max_records=self.batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("poll failed; retrying", consumer=self.name, error=str(exc))
                await asyncio.sleep(0.5)
                continue
            if self.transaction_batch > 1:
                for start in range(0, len(records), self.transaction_batch):
                    chunk = records[start : start + self.transaction_batch]
                    await self.process_many(chunk)
                    for rec in chunk:
                        self._processed[TopicPartition(rec.topic, rec.partition)] = rec.offset + 1
                    if start > 0:
                        faults.maybe_crash("consumer_mid_batch")
            else:
                for i, rec in enumerate(records):
                    await self.process(rec)
                    self._processed[TopicPartition(rec.topic, rec.partition)] = rec.offset + 1
                    if i == len(records) // 2 and i > 0:
                        faults.maybe_crash("consumer_mid_batch")
            if records:
                await self._commit_with_retry()

    async def _commit_with_retry(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._commit_processed()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("offset commit failed; retrying", consumer=self.name, error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def process(self, rec: Record) -> Outcome:
        """Apply one record exactly once in effect, dead-letter it, or retry infrastructure forever."""
        attempt = 0
        infra_delay = self.retry_backoff_s
        while True:
            started = time.perf_counter()
            try:
                outcome = await self._apply(rec)
                metrics.HANDLER_SECONDS.labels(self.service, rec.topic).observe(time.perf_counter() - started)
                metrics.CONSUMED.labels(self.service, rec.topic, outcome.kind).inc()
                if outcome.kind == "ok":
                    self.processed_count += 1
                    faults.maybe_crash("consumer_after_db_commit")
                    if self.after_commit is not None:
                        self.after_commit()
                return outcome
            except asyncio.CancelledError:
                raise
            except (EnvelopeError, EventValidationError, PoisonRecord) as exc:
                return await self._dead_letter(rec, exc, kind=type(exc).__name__)
            except Exception as exc:
                if is_infrastructure_error(exc):
                    metrics.CONSUMED.labels(self.service, rec.topic, "retry").inc()
                    log.warning("infrastructure error; retrying", consumer=self.name, error=str(exc))
                    await asyncio.sleep(infra_delay)
                    infra_delay = min(infra_delay * 2, 5.0)
                    continue
                attempt += 1
                if attempt > self.max_retries:
                    log.error(
                        "handler failed repeatedly; dead-lettering", consumer=self.name, error=repr(exc)
                    )
                    return await self._dead_letter(rec, exc, kind="HandlerError")
                await asyncio.sleep(self.retry_backoff_s * attempt)

    async def process_many(self, recs: Sequence[Record]) -> None:
        """Apply several records in one transaction (each still inbox-deduplicated).

        Records that fail decoding or validation are dead-lettered individually first. If the shared
        transaction fails for a non-infrastructure reason, every record is retried on its own, so one
        poison record cannot hold back or take down the others.
        """
        ready: list[tuple[Record, Envelope, BaseModel, Handler]] = []
        for rec in recs:
            if rec.value is None and not rec.header("ce_id"):
                await self.process(rec)
                continue
            try:
                env = from_kafka(rec.value, rec.headers)
                handler = self.handlers.get(env.type)
                if handler is None:
                    metrics.CONSUMED.labels(self.service, rec.topic, "ignored").inc()
                    continue
                ready.append((rec, env, parse_event(env), handler))
            except (EnvelopeError, EventValidationError) as exc:
                await self._dead_letter(rec, exc, kind=type(exc).__name__)
        if not ready:
            return
        delay = self.retry_backoff_s
        while True:
            started = time.perf_counter()
            try:
                applied = 0
                async with self.db.unit_of_work() as session:
                    fresh = await inbox.claim_many(session, self.name, [env.id for _, env, _, _ in ready])
                    for rec, env, model, handler in ready:
                        if env.id not in fresh:
                            continue
                        fresh.discard(env.id)  # a duplicate inside the batch applies once
                        with telemetry.consume_span(rec.topic, rec.partition, rec.offset, rec.headers):
                            await handler(session, env, model)
                        applied += 1
                elapsed = time.perf_counter() - started
                for rec, *_ in ready:
                    metrics.HANDLER_SECONDS.labels(self.service, rec.topic).observe(elapsed / len(ready))
                    metrics.CONSUMED.labels(self.service, rec.topic, "ok").inc()
                self.processed_count += applied
                faults.maybe_crash("consumer_after_db_commit")
                if self.after_commit is not None:
                    self.after_commit()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_infrastructure_error(exc):
                    log.warning("infrastructure error; retrying batch", consumer=self.name, error=str(exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                for rec, *_ in ready:
                    await self.process(rec)
                return

    async def _apply(self, rec: Record) -> Outcome:
        if rec.value is None and not rec.header("ce_id"):
            if self.tombstone_handler is None:
                return Outcome("ignored")
            async with self.db.unit_of_work() as session:
                await self.tombstone_handler(session, rec)
            return Outcome("ok")
        env = from_kafka(rec.value, rec.headers)
        handler = self.handlers.get(env.type)
        if handler is None:
            return Outcome("ignored")
        model = parse_event(env)
        with telemetry.consume_span(rec.topic, rec.partition, rec.offset, rec.headers):
            async with self.db.unit_of_work() as session:
                if not await inbox.claim(session, self.name, env.id):
                    return Outcome("duplicate")
                await handler(session, env, model)
        return Outcome("ok")

    async def _dead_letter(self, rec: Record, exc: BaseException, *, kind: str) -> Outcome:
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        headers = [(k, v) for k, v in rec.headers if not k.startswith("dlq_")]
        headers += [
            (catalog.DLQ_HEADER_TOPIC, rec.topic.encode()),
            (catalog.DLQ_HEADER_PARTITION, str(rec.partition).encode()),
            (catalog.DLQ_HEADER_OFFSET, str(rec.offset).encode()),
            (catalog.DLQ_HEADER_ERROR, f"{kind}: {reason}".encode()[:4000]),
            (catalog.DLQ_HEADER_CONSUMER, self.name.encode()),
            (catalog.DLQ_HEADER_FAILED_AT, datetime.now(UTC).isoformat().encode()),
        ]
        delay = 0.1
        while True:
            try:
                await self.bus.publish(catalog.DLQ, rec.key, rec.value, headers)
                break
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("DLQ publish failed; retrying", consumer=self.name, error=str(err))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        metrics.DLQ_RECORDS.labels(self.service, rec.topic, kind).inc()
        metrics.CONSUMED.labels(self.service, rec.topic, "dlq").inc()
        log.warning(
            "record dead-lettered",
            consumer=self.name,
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
            reason=reason,
        )
        return Outcome("dlq", reason)

    async def lag(self) -> dict[TopicPartition, int]:
        """Records behind the end of each partition for this group (also exported as a metric)."""
        out: dict[TopicPartition, int] = {}
        for topic in self.topics:
            ends = await self.bus.end_offsets(topic)
            committed = await self.bus.committed(self.group, topic)
            for p, end in ends.items():
                behind = max(0, end - committed.get(p, 0))
                out[TopicPartition(topic, p)] = behind
                metrics.CONSUMER_LAG.labels(self.service, self.group, topic, str(p)).set(behind)
        return out


async def replay_dlq(bus: Bus, *, original_topic: str | None = None, consumer: str | None = None) -> int:
    """Republish dead-lettered records to their original topic with their original headers and bytes.

    The event ids are unchanged, so anything already applied is a no-op; what failed before is processed
    now that the cause (e.g. missing master data) is fixed. Returns how many records were republished.
    A replay marker group remembers how far the DLQ was replayed, so a second call does not resend.
    """
    group = "segflow.dlq-replay"
    committed = await bus.committed(group, catalog.DLQ)
    count = 0
    new_offsets: dict[int, int] = {}
    for rec in await bus.read_all(catalog.DLQ):
        if rec.offset < committed.get(rec.partition, 0):
            continue
        new_offsets[rec.partition] = rec.offset + 1
        topic = (rec.header(catalog.DLQ_HEADER_TOPIC) or b"").decode()
        who = (rec.header(catalog.DLQ_HEADER_CONSUMER) or b"").decode()
        if not topic or (original_topic and topic != original_topic) or (consumer and who != consumer):
            continue
        headers = [(k, v) for k, v in rec.headers if not k.startswith("dlq_")]
        await bus.publish(topic, rec.key, rec.value, headers)
        count += 1
    await bus.commit_offsets(group, catalog.DLQ, new_offsets)
    return count
