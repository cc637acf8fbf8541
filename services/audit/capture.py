"""Capture: every record of every segflow topic (DLQ and partner topics included) into the hash chain.

Not the runtime's ``EventConsumer`` (which decodes, validates and dead-letters): the audit must keep the
bytes it receives, valid or not, tombstones included. Per poll: build the draft of each record, then in
ONE transaction lock the chain head, drop records already stored (dedup key), encrypt personal fields
with per-subject keys, seal each entry (``seq = head.size``, gap-free), insert them, advance the Merkle
frontier, sign a tree head when due; commit; only then commit the Kafka offsets.

Dedup key (hex SHA-256 of): ``topic|ce_id`` for events; on the DLQ also the ``dlq_consumer``,
``dlq_topic``, ``dlq_partition`` and ``dlq_offset`` headers (one event rejected by two consumers, or again
after a replay, is two facts); for records without ``ce_id`` (tombstones, garbage) ``topic|partition|offset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts import topics as catalog
from contracts.envelope import EnvelopeError, parse_time
from services.audit import personal, store
from services.audit.config import AuditSettings
from services.audit.domain.chain import ChainEntry, b64, canonical_metadata, chain_hash, payload_digest
from services.audit.domain.checkpoint import should_checkpoint, sign_tree_head
from services.audit.domain.erasure import ErasureError, protect_payload, subject_key_id, subjects_for
from services.audit.keys import SigningKey
from services.runtime.bus.base import Bus, BusConsumer, Record, TopicPartition
from services.runtime.db import Database, is_infrastructure_error
from services.runtime.logging import get_logger

log = get_logger(__name__)
GROUP = "segflow.audit"


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def rfc3339_us(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat().replace("+00:00", "Z")


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class Draft:
    """A received record plus the metadata the chain stores about it (before seq and hashing)."""

    record: Record
    dedup_key: str
    event_id: str
    type: str | None
    subject: str | None
    event_time: str
    event_us: int


def dedup_key(rec: Record) -> tuple[str, str]:
    """(dedup key, event id) of a record (module docstring rule)."""
    ce_id = _text(rec.header("ce_id"))
    if not ce_id:
        fallback = hashlib.sha256(f"{rec.topic}|{rec.partition}|{rec.offset}".encode()).hexdigest()
        return fallback, fallback
    parts = [rec.topic, ce_id]
    if rec.topic == catalog.DLQ:
        for name in (
            catalog.DLQ_HEADER_CONSUMER,
            catalog.DLQ_HEADER_TOPIC,
            catalog.DLQ_HEADER_PARTITION,
            catalog.DLQ_HEADER_OFFSET,
        ):
            parts.append(_text(rec.header(name)) or "")
    return hashlib.sha256("|".join(parts).encode("utf-8", errors="replace")).hexdigest(), ce_id


def draft_of(rec: Record) -> Draft:
    key, event_id = dedup_key(rec)
    ce_time = _text(rec.header("ce_time"))
    event_time, event_us = None, None
    if ce_time:
        try:
            event_us = int(parse_time(ce_time).timestamp() * 1_000_000)
            event_time = ce_time
        except EnvelopeError:
            pass
    if event_time is None or event_us is None:  # no usable ce_time: the broker's record timestamp
        event_us = rec.timestamp_ms * 1000
        event_time = rfc3339_us(event_us)
    return Draft(
        record=rec,
        dedup_key=key,
        event_id=event_id,
        type=_text(rec.header("ce_type")),
        subject=_text(rec.header("ce_subject")),
        event_time=event_time,
        event_us=event_us,
    )


def seal_record(prev_hash: bytes, seq: int, d: Draft, payload: bytes | None) -> ChainEntry:
    """``domain.chain.seal_entry`` for a consumed record, without its generic shape checks: every field
    here is an int from the broker or text decoded from bytes, so the shape holds by construction (the
    equality with ``seal_entry`` is tested)."""
    rec = d.record
    key = None if rec.key is None else b64(rec.key)
    headers = tuple((name, b64(value)) for name, value in rec.headers)
    digest = payload_digest(payload)
    draft = ChainEntry(
        seq, rec.topic, rec.partition, rec.offset, key, headers, d.type, d.subject, d.event_time,
        d.event_id, digest, payload, b"",
    )  # fmt: skip
    entry_hash = chain_hash(prev_hash, canonical_metadata(draft))
    return ChainEntry(
        seq, rec.topic, rec.partition, rec.offset, key, headers, d.type, d.subject, d.event_time,
        d.event_id, digest, payload, entry_hash,
    )  # fmt: skip


class ChainWriter:
    """Appends drafts to the log in one transaction per batch; signs tree heads when due."""

    def __init__(
        self,
        db: Database,
        signing: SigningKey,
        audit: AuditSettings,
        *,
        clock_us: Callable[[], int] = now_us,
    ) -> None:
        self.db = db
        self.signing = signing
        self.audit = audit
        self.clock_us = clock_us
        self.lock = asyncio.Lock()  # one writer per process (SQLite: one writer per file)
        self.appended = 0

    async def append(self, records: list[Record]) -> list[ChainEntry]:
        """Store the records not stored before; returns the new entries (in seq order)."""
        drafts: list[Draft] = []
        seen: set[str] = set()
        for rec in records:
            d = draft_of(rec)
            if d.dedup_key not in seen:  # a duplicate inside the batch is stored once
                seen.add(d.dedup_key)
                drafts.append(d)
        async with self.lock, self.db.unit_of_work() as session:
            await store.set_role(session, self.audit.db_role)
            head = await store.lock_head(session)
            stored = await store.existing_dedup_keys(session, [d.dedup_key for d in drafts])
            fresh = [d for d in drafts if d.dedup_key not in stored]
            payloads = await self._protect(session, fresh)
            captured = self.clock_us()
            rows, sealed = [], []
            for d, payload in zip(fresh, payloads, strict=True):
                rec = d.record
                entry = seal_record(head.last_hash, head.size, d, payload)
                rows.append(
                    store.entry_row(entry, dedup_key=d.dedup_key, event_us=d.event_us, captured_us=captured)
                )
                sealed.append(entry)
                head.frontier.append(entry.entry_hash)
                head.last_hash, head.size = entry.entry_hash, head.size + 1
            await store.insert_entries(session, rows)
            checkpointed = await self._maybe_checkpoint(session, head, captured)
            if sealed or checkpointed:
                await store.save_head(session, head)
        self.appended += len(sealed)
        return sealed

    async def checkpoint_if_due(self) -> bool:
        """Sign a tree head when the time rule says so even without new records (idle log)."""
        async with self.lock, self.db.unit_of_work() as session:
            await store.set_role(session, self.audit.db_role)
            head = await store.lock_head(session)
            now = self.clock_us()
            if await self._maybe_checkpoint(session, head, now):
                await store.save_head(session, head)
                return True
        return False

    async def checkpoint_now(self) -> bool:
        """Sign a tree head for the current size if it has none (e.g. before an export or on demand)."""
        async with self.lock, self.db.unit_of_work() as session:
            await store.set_role(session, self.audit.db_role)
            head = await store.lock_head(session)
            if head.size == head.checkpoint_size:
                return False
            await self._sign(session, head, self.clock_us())
            await store.save_head(session, head)
            return True

    async def _maybe_checkpoint(self, session: store.AsyncSession, head: store.Head, now: int) -> bool:
        since = head.size - head.checkpoint_size
        seconds = (now - head.checkpoint_us) / 1e6 if head.checkpoint_us else float("inf")
        if not should_checkpoint(
            since, seconds, self.audit.checkpoint_every_n, self.audit.checkpoint_every_s
        ):
            return False
        await self._sign(session, head, now)
        return True

    async def _sign(self, session: store.AsyncSession, head: store.Head, now: int) -> None:
        sth = sign_tree_head(self.signing.private, head.size, head.frontier.root(), rfc3339_us(now))
        await store.insert_checkpoint(session, sth, self.signing.public_raw, now)
        head.checkpoint_size, head.checkpoint_us = head.size, now

    async def _protect(self, session: store.AsyncSession, drafts: list[Draft]) -> list[bytes | None]:
        """Each draft's bytes to store: personal fields encrypted per data subject, else the exact bytes."""
        plans: list[tuple[tuple[str, ...], str] | None] = []
        needed: set[str] = set()
        for d in drafts:
            value = d.record.value
            paths = personal.paths_for(d.type or "")
            plan = None
            if value is not None and paths:
                try:
                    doc = json.loads(value)
                except ValueError:
                    doc = None  # not JSON: nothing can be located, kept as received
                if isinstance(doc, dict):
                    subject = personal.data_subject(doc, _text(d.record.key) or d.subject)
                    if subject is not None and subjects_for(doc, paths, subject):
                        plan = (paths, subject)
                        needed.add(subject)
            plans.append(plan)
        if not needed:
            return [d.record.value for d in drafts]
        keys = {s: k for s, (_kid, k) in (await store.keys_for_subjects(session, needed)).items()}
        for subject in sorted(needed - set(keys)):
            key = secrets.token_bytes(32)
            await store.insert_subject_key(session, subject_key_id(key), subject, key, self.clock_us())
            keys[subject] = key
        out: list[bytes | None] = []
        for d, plan in zip(drafts, plans, strict=True):
            if plan is None or d.record.value is None:
                out.append(d.record.value)
                continue
            try:
                out.append(protect_payload(d.record.value, plan[0], plan[1], keys))
            except (ErasureError, ValueError, TypeError):
                log.warning("personal fields could not be protected; stored as received", seq_hint=d.event_id)
                out.append(d.record.value)
        return out


async def discover_topics(bus: Bus) -> list[str]:
    """Every catalog topic plus the partner projections that exist on the bus now."""
    names = [spec.name for spec in catalog.all_topics()]
    found = await bus.list_topics()
    partners = sorted(t for t in found if catalog.partner_id_of(t) is not None)
    return names + partners


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
        self._stopping = False

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
        while not self._stopping:
            assert self._consumer is not None
            try:
                records = await self._consumer.getmany(timeout_ms=200, max_records=self.audit.capture_batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("audit poll failed; retrying", error=str(exc))
                await asyncio.sleep(0.5)
                continue
            if records:
                await self._append_forever(records)
                for rec in records:
                    self._processed[TopicPartition(rec.topic, rec.partition)] = rec.offset + 1
                await self._commit_forever()
            else:
                with contextlib.suppress(Exception):
                    await self.writer.checkpoint_if_due()
            if loop.time() >= next_refresh:
                next_refresh = loop.time() + self.audit.topic_refresh_s
                await self.refresh_topics()

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

    async def _append_forever(self, records: list[Record]) -> None:
        """Retry a failing batch forever with backoff: the audit never skips or dead-letters a record."""
        delay = 0.05
        while True:
            try:
                await self.writer.append(records)
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
