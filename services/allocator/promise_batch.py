"""Group commit of promises: the promises that arrive while a transaction runs share the next one.

One worker task takes everything queued (up to ``max_batch``) and applies it in one transaction of six
statements whatever its size: lock-and-bump every sku@site involved (sorted; returns their versions and
the quota generation), read the stored promises of the batch's idempotency keys, read the customers,
insert the new promises, add their units to the per-day totals, queue their promise.made events.
Requests are decided in arrival order on each sku@site's state (point_cache.py), each on the state the
ones before it left, so every request gets the answer it would get alone in that order. A key seen twice
in a batch is a retry of the first. With little load a batch holds one promise (no added wait).

If the transaction fails (a database error, a key that raced in from another sku@site), it is rolled back
and every promise of the batch is applied again on its own (``Promising.promise_one``), so one bad
request fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contracts import topics
from contracts.envelope import new_envelope
from services.allocator import store_points, store_promises, store_reserved, store_supply
from services.allocator.picture import PointState
from services.allocator.promise_views import SOURCE, customer_keys_of, replay_answer
from services.runtime import outbox
from services.runtime.logging import get_logger

if TYPE_CHECKING:
    from services.allocator.promising import Promising
    from services.allocator.schemas_service import PromiseRequest

log = get_logger(__name__)
DEFAULT_MAX_BATCH = 256
Outcome = tuple[dict[str, Any], bool]


class KeyRaced(Exception):
    """A key of the batch was stored by another transaction meanwhile (the batch is applied one by one)."""


@dataclass
class Pending:
    request: PromiseRequest
    site: str
    print_: str
    future: asyncio.Future[Outcome]
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


def outbox_row(topic: str, key: str, source: str, event: Any) -> dict[str, Any]:
    """The outbox row of a promise.made (``outbox.envelope_row``, run in the request's context so its trace
    travels on), so a batch's events go in with one executemany."""
    envelope = new_envelope(
        source=source, type=event.EVENT_TYPE, subject=key, payload=event, id=f"{key}:made"
    )
    return outbox.envelope_row(topic, key, envelope)


class PromiseBatcher:
    def __init__(self, promising: Promising, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.promising = promising
        self.max_batch = max_batch
        self._queue: list[Pending] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.fallbacks = 0

    async def submit(self, request: PromiseRequest, site: str, print_: str) -> Outcome:
        """Queue a promise for the next batch and wait for its ``(answer, replayed)``."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="allocator-promise-batches")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append(Pending(request, site, print_, future))
        self._ready.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for item in self._queue:
            item.future.cancel()
        self._queue.clear()

    async def _loop(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                try:
                    await self._run(batch)
                except BaseException:
                    for item in batch:
                        if not item.future.done():
                            item.future.cancel()
                    raise

    async def _run(self, batch: list[Pending]) -> None:
        try:
            outcomes = await self._apply(batch)
        except Exception as exc:  # applied again one by one: each request gets its own answer or error
            self.fallbacks += 1
            if not isinstance(exc, KeyRaced):
                log.warning("promise batch failed; applying one by one", error=repr(exc), size=len(batch))
            for item in batch:
                try:
                    outcome: Outcome | BaseException = await self.promising.promise_one(
                        item.request, item.site, item.print_
                    )
                except Exception as error:
                    outcome = error
                _settle(item, outcome)
            return
        self.batches += 1
        for item, result in zip(batch, outcomes, strict=True):
            _settle(item, result)

    async def _apply(self, batch: list[Pending]) -> list[Outcome | BaseException]:
        promising = self.promising
        points = sorted({(item.request.sku, item.site) for item in batch})
        outcomes: list[Outcome | BaseException] = []
        async with promising.db.unit_of_work() as session:
            versions, quota_count = await store_points.lock_points(session, points)
            now = promising.clock()
            states: dict[tuple[str, str], PointState] = {}
            for sku, site in points:
                states[(sku, site)] = await promising.state_at(session, sku, site, versions[(sku, site)], now)
            stored = await store_promises.promises_by_keys(
                session, [i.request.idempotency_key for i in batch]
            )
            keys_of = await customer_keys_of(session, [item.request for item in batch])
            customers = await store_supply.customers_by_keys(session, [k for keys in keys_of for k in keys])
            quota_rows = await promising.quota_rows(session, quota_count)
            decided: dict[str, tuple[str, str]] = {}
            rows, held, events = [], [], []
            for item, keys in zip(batch, keys_of, strict=True):
                request, point = item.request, (item.request.sku, item.site)
                key = request.idempotency_key
                earlier = stored.get(key)
                if earlier is not None or key in decided:
                    stored_print, response = (
                        (earlier.fingerprint, earlier.response) if earlier is not None else decided[key]
                    )
                    outcomes.append(_replayed(stored_print, response, item.print_))
                    continue
                customer = next((customers[k] for k in keys if k in customers), None)
                try:
                    decision = promising.decide(request, item.site, item.print_, states[point], customer,
                                                quota_rows, now)  # fmt: skip
                except Exception as error:  # this request alone is invalid
                    outcomes.append(error)
                    continue
                states[point] = decision.state
                decided[key] = (item.print_, decision.row["response"])
                rows.append(decision.row)
                held += [(point[0], point[1], decision.segment, day, units) for day, units in decision.held]
                if decision.event is not None:
                    promise_id = decision.row["promise_id"]
                    events.append(item.context.run(outbox_row, topics.ALLOCATION_PROMISES, promise_id,
                                                   SOURCE, decision.event))  # fmt: skip
                outcomes.append((decision.answer, False))
            if len(await store_promises.insert_promises(session, rows)) != len(rows):
                raise KeyRaced()
            await store_reserved.add_reserved_many(session, held)
            await outbox.add_rows(session, events)
        for (sku, site), state in states.items():
            promising.cache.put(sku, site, versions[(sku, site)], state)
        if events:
            promising.wake_relay()
        return outcomes


def _replayed(stored_print: str, response: str, print_: str) -> Outcome | BaseException:
    try:
        return replay_answer(stored_print, response, print_), True
    except Exception as error:
        return error


def _settle(item: Pending, outcome: Outcome | BaseException) -> None:
    if item.future.done():  # the caller went away
        return
    if isinstance(outcome, BaseException):
        item.future.set_exception(outcome)
    else:
        item.future.set_result(outcome)
