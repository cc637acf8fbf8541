"""Classification runs: queued by the API or the scheduler, executed in a worker task (numpy in a thread).

A run: expire due overrides -> load inputs -> classify with the rule set -> stabilise (persistence /
margin / move cap, active overrides as locks) -> store assignments, history and the run record (data
cutoff, stream lag, rule hash, engine version, counts, migration matrix) -> emit through the outbox
segment.assigned (compacted; tombstone for retired entities), segment.changed (reasons + account
owner) and per-partner projections without financials.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from contracts import topics
from services.runtime.host import ServiceHost
from services.runtime.logging import get_logger

from . import events, store
from .domain.engine import classify
from .domain.migration import migration_matrix
from .domain.operations import next_run_due, stability_settings
from .domain.result import ClassificationResult
from .domain.ruleset import compile_ruleset
from .domain.stability import Change, Deferred, EntityState, computed_from_arrays, stabilise
from .inputs import RunInputs, load_inputs
from .overrides import active_locks_for, expire_due

log = get_logger(__name__)
DIMENSIONS = ("customer", "product", "customer_product", "supplier")


@dataclass
class Outcome:
    """The pure part of a run, computed in a worker thread."""

    result: ClassificationResult
    state: dict[str, EntityState]
    changes: list[Change]
    deferred: list[Deferred]
    migration: dict[str, Any]


def compute(
    inputs: RunInputs, ruleset: dict[str, Any], previous: dict[str, EntityState], locks: dict[str, str]
) -> Outcome:
    """Classify and stabilise (CPU-bound: runs in ``asyncio.to_thread``)."""
    batch = inputs.batch()
    result = classify(batch, ruleset, period_index=int(batch.demand.shape[1]))
    labels = np.array(result.segment_names, dtype=object)[result.segment]
    computed = computed_from_arrays(result.ids, labels, result.boundary_clearance)
    settings = stability_settings(ruleset)
    in_batch = {k: v for k, v in locks.items() if k in computed}
    known = {k: v for k, v in previous.items() if k in computed}
    state, changes, deferred = stabilise(
        known,
        computed,
        persistence_runs=settings.persistence_runs,
        margin=settings.margin,
        max_move_share=settings.max_move_share,
        locks=in_batch,
    )
    ids = [str(i) for i in result.ids]
    old = [previous[i].segment if i in previous else None for i in ids]
    new = [state[i].segment for i in ids]
    retired = sorted(set(previous) - set(computed))
    matrix = migration_matrix(
        ids + retired, old + [previous[r].segment for r in retired], new + [None] * len(retired)
    )
    return Outcome(result, state, changes, deferred, matrix.as_dict())


class RunService:
    """Starts runs as tasks, reports progress, and runs the rebalancing scheduler."""

    def __init__(self, host: ServiceHost) -> None:
        self.host = host
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._scheduler: asyncio.Task[None] | None = None
        self.scheduler_interval_s = 60.0

    async def start_run(
        self, *, dimension: str, ruleset_version: int | None, trigger: str, requested_by: str | None
    ) -> str:
        async with self.host.db.unit_of_work() as session:
            row = (
                await store.ruleset_row(session, ruleset_version)
                if ruleset_version is not None
                else await store.active_ruleset(session)
            )
            if row is None:
                raise LookupError(f"rule set version {ruleset_version} does not exist")
            run_id = str(uuid.uuid4())
            await store.insert_run(
                session,
                {
                    "run_id": run_id,
                    "dimension": dimension,
                    "ruleset_version": row.version,
                    "ruleset_hash": row.hash,
                    "status": "queued",
                    "progress": 0.0,
                    "stage": "queued",
                    "trigger": trigger,
                    "requested_by": requested_by,
                    "created_at": datetime.now(UTC),
                },
            )
        self.tasks[run_id] = asyncio.create_task(self._execute(run_id), name=f"classifier-run-{run_id}")
        return run_id

    async def wait(self, run_id: str) -> None:
        task = self.tasks.get(run_id)
        if task is not None:
            await asyncio.shield(task)

    async def _progress(self, run_id: str, progress: float, stage: str, **values: Any) -> None:
        async with self.host.db.unit_of_work() as session:
            await store.update_run(session, run_id, progress=progress, stage=stage, **values)

    async def _execute(self, run_id: str) -> None:
        try:
            await self._run(run_id)
        except Exception as error:  # the run record says why; the service keeps serving
            log.error("classification run failed", run_id=run_id, error=repr(error))
            await self._progress(
                run_id,
                1.0,
                "failed",
                status="failed",
                error=repr(error)[:4000],
                finished_at=datetime.now(UTC),
            )
        finally:
            self.tasks.pop(run_id, None)

    async def _run(self, run_id: str) -> None:
        async with self.host.db.read() as session:
            run = await store.run_row(session, run_id)
            ruleset_row = await store.ruleset_row(session, run.ruleset_version)
        ruleset: dict[str, Any] = dict(ruleset_row.body)
        compiled = compile_ruleset(ruleset)
        dimension = run.dimension
        await self._progress(run_id, 0.05, "expiring overrides", status="running")
        now = datetime.now(UTC)
        async with self.host.db.unit_of_work() as session:
            await expire_due(session, now)
        self.host.relay.wake()
        await self._progress(run_id, 0.1, "loading measures")
        async with self.host.db.read() as session:
            inputs = await load_inputs(session, dimension, compiled.bucket)
            previous_rows = await store.assignment_rows(session, dimension)
            locks = await active_locks_for(session, dimension, now)
        previous = {
            entity: EntityState(row.segment, row.pending_segment, row.pending_runs, row.overridden)
            for entity, row in previous_rows.items()
        }
        await self._progress(run_id, 0.3, f"classifying {len(inputs.ids)} entities")
        outcome = await asyncio.to_thread(compute, inputs, ruleset, previous, locks)
        await self._progress(run_id, 0.7, "storing assignments and events")
        lag = await self._stream_lag(inputs.data_cutoff)
        async with self.host.db.unit_of_work() as session:
            counts = await events.write_outcome(
                session,
                self.host.bus,
                run_id=run_id,
                ruleset_version=ruleset_row.version,
                ruleset=ruleset,
                inputs=inputs,
                outcome=outcome,
                previous_rows=previous_rows,
                now=now,
            )
            await store.update_run(
                session,
                run_id,
                status="succeeded",
                progress=1.0,
                stage="done",
                engine_version=outcome.result.engine_version,
                finished_at=datetime.now(UTC),
                data_cutoff=inputs.data_cutoff,
                stream_lag=lag,
                counts=counts,
                migration=outcome.migration,
                notes={
                    "excluded": inputs.excluded,
                    "grain": inputs.grain,
                    "buckets": int(inputs.demand.shape[1]),
                    "deferred": [d.__dict__ for d in outcome.deferred[:50]],
                    "deferred_total": len(outcome.deferred),
                },
            )
        self.host.relay.wake()

    async def _stream_lag(self, cutoff: datetime | None) -> dict[str, Any]:
        """Records behind the end of the input topics, and the event-time gap between cutoff and now."""
        behind = 0
        for consumer in self.host.consumers:
            try:
                behind += sum((await consumer.lag()).values())
            except Exception as error:  # lag is informative; a broker hiccup must not fail the run
                log.warning("could not read consumer lag", error=str(error))
        seconds = None if cutoff is None else (datetime.now(UTC) - cutoff).total_seconds()
        return {"records_behind": behind, "event_time_lag_s": seconds}

    # ------------------------------------------------------------ scheduler

    def start_scheduler(self, interval_s: float | None = None) -> None:
        if interval_s is not None:
            self.scheduler_interval_s = interval_s
        self._scheduler = asyncio.create_task(self._schedule_loop(), name="classifier-scheduler")

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._scheduler
            self._scheduler = None
        for task in list(self.tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Start the scheduled runs that are due (per dimension with an assignment history)."""
        now = now or datetime.now(UTC)
        started: list[str] = []
        async with self.host.db.read() as session:
            active = await store.active_ruleset(session)
            if active is None or not active.schedule:
                return started
            due = []
            for dimension in ("customer", "product"):
                last = await store.latest_run(session, dimension, trigger="schedule")
                last_time = store.aware(last.created_at) if last is not None else None
                if next_run_due(last_time, active.schedule, now):
                    due.append(dimension)
        for dimension in due:
            started.append(
                await self.start_run(
                    dimension=dimension, ruleset_version=None, trigger="schedule", requested_by="scheduler"
                )
            )
        return started

    async def _schedule_loop(self) -> None:
        while True:
            await asyncio.sleep(self.scheduler_interval_s)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("scheduled rebalancing failed", error=repr(error))


__all__ = ["DIMENSIONS", "Outcome", "RunService", "compute", "topics"]
