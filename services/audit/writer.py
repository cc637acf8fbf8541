"""The chain writer: appends batches of consumed records to the log, one transaction per batch.

``prepare`` (CPU) seals a batch on the head predicted after the batches prepared before it; ``write``
locks the real head and COPYs the prepared rows when the prediction holds, else re-seals (see
``ChainWriter``). Personal fields are encrypted per data subject before the bytes are hashed.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from services.audit import personal, store
from services.audit.config import AuditSettings
from services.audit.domain.chain import ChainEntry
from services.audit.domain.checkpoint import should_checkpoint, sign_tree_head
from services.audit.domain.erasure import ErasureError, protect_payload, subject_key_id, subjects_for
from services.audit.keys import SigningKey
from services.audit.sealing import (
    Draft,
    Sealed,
    _text,
    join_sealed,
    now_us,
    rfc3339_us,
    seal_drafts,
    unique_drafts,
)
from services.runtime.bus.base import Record
from services.runtime.db import Database
from services.runtime.logging import get_logger

log = get_logger(__name__)
PREPARE_CHUNK = 50  # records hashed between yields to the event loop (keeps the batch in flight moving)


@dataclass
class Prepared:
    """A batch ready to write: its unique drafts and, when the chain head could be predicted and no record
    carries personal fields, the entries already sealed on top of that predicted head."""

    drafts: list[Draft]
    sealed: Sealed | None
    ticket: int = 0  # which prepare made it (the writer counts them)


class _AlreadyStored(Exception):
    """A prepared batch holds a record the log already has (seen through the unique dedup key)."""


class ChainWriter:
    """Appends drafts to the log in one transaction per batch; signs tree heads when due.

    ``prepare`` does the CPU work (drafts, hashes, Merkle frontier, rows) against the head this writer
    predicts (the head after the last batch it prepared) so it can run while the previous batch commits;
    ``write`` then locks the real head and inserts the prepared rows when the head is the predicted one and
    no draft is stored yet, else re-seals against the real head (another writer, a failed batch, a
    duplicate). Batches with personal fields are always sealed inside the transaction (they need the
    subject keys).
    """

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
        self.resealed = 0  # batches whose prediction failed (observability, tests)
        self._predicted: Sealed | None = None  # size, last hash and frontier after the last prepared batch
        self._tickets = 0
        self._prepare_lock = asyncio.Lock()

    @property
    def predicting(self) -> bool:
        """True when ``prepare`` can seal (the head after every prepared batch is known)."""
        return self._predicted is not None

    async def append(self, records: list[Record]) -> list[ChainEntry]:
        """Store the records not stored before; returns the new entries (in seq order)."""
        async with self.lock:
            return (await self._write_locked(await self.prepare(records))).entries

    async def prepare(self, records: list[Record]) -> Prepared:
        """Draft, dedup inside the batch and (when possible) seal against the predicted head, in chunks of
        ``PREPARE_CHUNK`` records with a yield between them so a batch being written keeps its round trips
        going while this one is hashed."""
        async with self._prepare_lock:
            drafts: list[Draft] = []
            seen: set[bytes] = set()
            for i in range(0, len(records), PREPARE_CHUNK):
                drafts.extend(unique_drafts(records[i : i + PREPARE_CHUNK], seen))
                await asyncio.sleep(0)
            self._tickets += 1
            ticket, base = self._tickets, self._predicted
            if base is None or not drafts or _any_personal_fields(drafts):
                self._predicted = None  # the head after this batch is known only once it is written
                return Prepared(drafts, None, ticket)
            self._predicted = None  # until this batch is sealed
            captured = self.clock_us()
            parts: list[Sealed] = []
            for i in range(0, len(drafts), PREPARE_CHUNK):
                chunk = drafts[i : i + PREPARE_CHUNK]
                prev = parts[-1] if parts else base
                parts.append(
                    seal_drafts(
                        prev.last_hash,
                        prev.size,
                        prev.frontier,
                        chunk,
                        [d.record.value for d in chunk],
                        captured,
                    )
                )
                await asyncio.sleep(0)
            sealed = join_sealed(parts)
            if ticket == self._tickets:
                self._predicted = sealed
            return Prepared(drafts, sealed, ticket)

    async def write(self, prepared: Prepared) -> Sealed:
        """Commit a prepared batch (one transaction); returns what was written (``.entries``)."""
        async with self.lock:
            return await self._write_locked(prepared)

    async def _write_locked(self, prepared: Prepared) -> Sealed:
        if prepared.sealed is not None:
            try:
                return await self._write_once(prepared, optimistic=True)
            except _AlreadyStored:
                self.resealed += 1  # a redelivered record: the unique dedup key refused the batch
        return await self._write_once(prepared, optimistic=False)

    async def _write_once(self, prepared: Prepared, *, optimistic: bool) -> Sealed:
        """One transaction. ``optimistic``: insert the prepared rows when the head is the predicted one,
        leaving duplicates to the unique dedup-key index (a violation rolls back and raises
        ``_AlreadyStored``); else look the dedup keys up first and seal the fresh drafts on the real head."""
        sealed = prepared.sealed if optimistic else None
        try:
            async with self.db.unit_of_work() as session:
                await store.set_role(session, self.audit.db_role)
                head = await store.lock_head(session)
                if sealed is not None and (sealed.base_size, sealed.base_hash) != (head.size, head.last_hash):
                    sealed = None  # another writer (or a failed batch) moved the head
                    self.resealed += 1
                if sealed is None:
                    drafts = prepared.drafts
                    stored = await store.existing_dedup_keys(session, [d.dedup_key for d in drafts])
                    fresh = [d for d in drafts if d.dedup_key not in stored]
                    payloads = await self._protect(session, fresh)
                    sealed = seal_drafts(
                        head.last_hash, head.size, head.frontier, fresh, payloads, self.clock_us()
                    )
                try:
                    await store.insert_entries(session, sealed.rows)
                except Exception as exc:
                    if sealed is prepared.sealed and store.is_unique_violation(exc):
                        raise _AlreadyStored from exc
                    raise
                await store.insert_subtrees(session, sealed.subtrees)
                head.size, head.last_hash, head.frontier = sealed.size, sealed.last_hash, sealed.frontier
                checkpointed = await self._maybe_checkpoint(session, head, self.clock_us())
                if sealed.rows or checkpointed:
                    await store.save_head(session, head)
        except BaseException:
            self._predicted = None  # rolled back: the next batch re-reads the head
            raise
        if sealed is not prepared.sealed:  # the committed head predicts the next batch unless one was
            self._predicted = sealed if prepared.ticket == self._tickets else None  # prepared meanwhile
        self.appended += len(sealed.rows)
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


def _any_personal_fields(drafts: list[Draft]) -> bool:
    """True when some draft with a value has a type that carries personal fields (checked once per type)."""
    types = {d.type for d in drafts if d.record.value is not None}
    return any(personal.paths_for(t or "") for t in types)
