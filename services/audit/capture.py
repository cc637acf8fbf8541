"""Capture: every record of every segflow topic (DLQ and partner topics included) into the hash chain.

Not the runtime's ``EventConsumer`` (which decodes, validates and dead-letters): the audit must keep the
bytes it receives, valid or not, tombstones included. Per poll the ``WritePipeline`` prepares the batch
(drafts, in-batch dedup, seals on the head predicted after the batch in flight; ``sealing``) while the
previous batch commits, then writes it in ONE transaction: lock the chain head; if it is the predicted one,
COPY the prepared rows (a record stored before trips the unique dedup key: roll back and take the slow
path); else (or for batches with personal fields) drop stored dedup keys, encrypt personal fields with
per-subject keys and seal on the real head (``seq = head.size``, gap-free); store completed Merkle subtree
roots, advance the frontier, sign a tree head when due; commit; only then commit the Kafka offsets.
Dedup keys: ``sealing`` module docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from opentelemetry.trace import Span

from contracts import topics as catalog
from services.audit.config import AuditSettings
from services.audit.sealing import Draft, dedup_key, draft_of, now_us, rfc3339_us, seal_record
from services.audit.writer import ChainWriter, Prepared
from services.runtime import telemetry
from services.runtime.bus.base import Bus, BusConsumer, Record, TopicPartition
from services.runtime.db import is_infrastructure_error
from services.runtime.logging import get_logger

__all__ = [
    "GROUP", "CaptureLoop", "ChainWriter", "Draft", "Prepared", "WritePipeline", "dedup_key", "discover_topics",
    "draft_of", "now_us", "rfc3339_us", "seal_record",
]  # fmt: skip
log = get_logger(__name__)
GROUP = "segflow.audit"


async def discover_topics(bus: Bus) -> list[str]:
    """Every catalog topic plus the partner projections that exist on the bus now."""
    names = [spec.name for spec in catalog.all_topics()]
    found = await bus.list_topics()
    partners = sorted(t for t in found if catalog.partner_id_of(t) is not None)
    return names + partners


class WritePipeline:
    """At most one batch being written while the caller prepares the next: ``push`` seals a batch (CPU, on
    the predicted head), waits for the batch in flight, starts writing the new one and returns the records
    of the batch that finished (whose offsets may now be committed)."""

    def __init__(
        self, writer: ChainWriter, *, write: Callable[[Prepared], Coroutine[Any, Any, object]] | None = None
    ) -> None:
        self.writer = writer
        self._write = write or writer.write
        self._task: asyncio.Task[object] | None = None
        self._records: list[Record] | None = None

    async def push(self, records: list[Record]) -> list[Record] | None:
        done = None
        if not self.writer.predicting:  # the head is unknown until the batch in flight commits
            done = await self.flush()
        prepared = await self.writer.prepare(records)
        if done is None:
            done = await self.flush()
        self._task = asyncio.create_task(self._write(prepared), name="audit-write")
        self._records = records
        return done

    async def flush(self) -> list[Record] | None:
        """Wait for the batch in flight (its error propagates); its records, or None when idle."""
        task, records = self._task, self._records
        if task is None:
            return None
        try:
            await task
        finally:
            self._task, self._records = None, None
        return records

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task, self._records = None, None


class CaptureLoop:
    """The consumer-group member feeding the ChainWriter; offsets committed after the DB commit."""

    def __init__(self, bus: Bus, writer: ChainWriter, audit: AuditSettings, *, group: str = GROUP) -> None:
        self.bus = bus
        self.writer = writer
        self.audit = audit
        self.group = group
        self.topics: list[str] = []
        self._consumer: BusConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._processed: dict[TopicPartition, int] = {}
        # one CONSUMER span per record, child of its traceparent, from its poll until it is durable
        self._spans: dict[tuple[str, int, int], Span] = {}
        self._stopping = False
        self.pipeline = WritePipeline(writer, write=self._write_forever)

    async def start(self) -> None:
        self._stopping = False
        self.topics = await self._discover()
        await self._open()
        self._task = asyncio.create_task(self._run(), name="audit-capture")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def _discover(self) -> list[str]:
        try:
            return await discover_topics(self.bus)
        except Exception as exc:  # listing is best effort; the catalog topics are always captured
            log.warning("topic discovery failed", error=str(exc))
            return [spec.name for spec in catalog.all_topics()]

    async def _open(self) -> None:
        self._consumer = self.bus.consumer(self.group, self.topics)
        self._consumer.set_revoke_hook(self._on_revoke)
        await self._consumer.start()

    async def _close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._commit()
            await self._consumer.stop()
            self._consumer = None

    async def _on_revoke(self, revoked: set[TopicPartition]) -> None:
        await self._commit()

    async def _commit(self) -> None:
        if self._consumer is not None and self._processed:
            pending, self._processed = dict(self._processed), {}
            try:
                await self._consumer.commit(pending)
            except BaseException:
                self._processed = {**pending, **self._processed}
                raise

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self.audit.topic_refresh_s
        try:
            while not self._stopping:
                assert self._consumer is not None
                try:
                    records = await self._consumer.getmany(
                        timeout_ms=200, max_records=self.audit.capture_batch
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("audit poll failed; retrying", error=str(exc))
                    await asyncio.sleep(0.5)
                    continue
                if records:  # sealed while the previous batch commits, written after it
                    self._start_spans(records)
                    self._mark_written(await self.pipeline.push(records))
                    await self._commit_forever()
                else:
                    self._mark_written(await self.pipeline.flush())
                    await self._commit_forever()
                    with contextlib.suppress(Exception):
                        await self.writer.checkpoint_if_due()
                if loop.time() >= next_refresh:
                    next_refresh = loop.time() + self.audit.topic_refresh_s
                    self._mark_written(await self.pipeline.flush())
                    await self.refresh_topics()
        finally:
            self.pipeline.cancel()
            for span in self._spans.values():
                span.end()
            self._spans.clear()

    def _start_spans(self, records: list[Record]) -> None:
        for rec in records:
            key = (rec.topic, rec.partition, rec.offset)
            previous = self._spans.pop(key, None)
            if previous is not None:  # polled again (a rebalance): the earlier delivery's span ends here
                previous.end()
            self._spans[key] = telemetry.start_process_span(rec.topic, rec.partition, rec.offset, rec.headers)

    def _mark_written(self, records: list[Record] | None) -> None:
        for rec in records or ():
            self._processed[TopicPartition(rec.topic, rec.partition)] = rec.offset + 1
            span = self._spans.pop((rec.topic, rec.partition, rec.offset), None)
            if span is not None:
                span.end()

    async def refresh_topics(self) -> bool:
        """Resubscribe when new partner topics appeared (committed offsets carry over)."""
        found = await self._discover()
        if set(found) <= set(self.topics):
            return False
        await self._close()
        self.topics = sorted(set(self.topics) | set(found))
        await self._open()
        log.info("audit now captures new topics", topics=len(self.topics))
        return True

    async def _write_forever(self, prepared: Prepared) -> None:
        """Retry a failing batch forever with backoff: the audit never skips or dead-letters a record."""
        delay = 0.05
        while True:
            try:
                await self.writer.write(prepared)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                level = "infrastructure" if is_infrastructure_error(exc) else "unexpected"
                log.warning("audit append failed; retrying", kind=level, error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _commit_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._commit()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("audit offset commit failed; retrying", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
