"""Order promising with reservations: idempotent by key, serialised per sku@site (no oversell), holds
with a time-to-live, confirm and release, promise.made / promise.released through the outbox.

Concurrent promises share one transaction (promise_batch.py: six statements per batch). Alone (and as
the batch's fallback) a promise is one transaction of five statements when the sku@site's picture is
cached (point_cache.py): lock-and-bump the sku@site row (returning its version and the quota
generation), look up the customer, insert the promise (``ON CONFLICT (idempotency_key) DO NOTHING``: a
retried key finds the stored answer), add its units to the per-day reservation totals, queue
promise.made in the outbox. A stale or missing picture costs five reads more; overdue holds of the
sku@site are released first. Every other change of a sku@site (confirm, release, expiry, backorder
processing) takes the same lock, which bumps the version, so cached pictures never go stale unseen."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.allocation import PromiseMade, PromiseReleased
from services.allocator import store, store_points, store_promises, store_reserved, store_supply
from services.allocator.domain.buckets import bucket_date, day_index
from services.allocator.domain.promise import promise as promise_rule
from services.allocator.domain.segment_quota import quota_remaining
from services.allocator.locks import PointLocks
from services.allocator.picture import PointPicture, PointState, confirmations_of, dated, read_state
from services.allocator.point_cache import PointCache
from services.allocator.promise_batch import PromiseBatcher
from services.allocator.promise_views import (
    SOURCE,
    customer_keys,
    epoch_to_datetime,
    fingerprint,
    promise_payload,
    promise_view,
    replay_answer,
    segment_bounds,
)
from services.allocator.schemas_service import PromiseRequest
from services.runtime import outbox
from services.runtime.db import Database
from services.runtime.metrics import PROMISE_SECONDS
from services.runtime.problems import Problem

DEFAULT_HOLD_TTL_S = 900.0
DEFAULT_STRATEGY = "redistribute"


@dataclass(frozen=True)
class Decision:
    """One promise decided on a sku@site's state: the answer, the promise row, the units it holds (empty
    for a quote) with its promise.made event, and the state after holding them."""

    answer: dict[str, Any]
    row: dict[str, Any]
    segment: str | None
    held: list[tuple[dt.date, float]]
    event: PromiseMade | None
    state: PointState


class Promising:
    """The promise workflow of one allocator host."""

    def __init__(
        self,
        db: Database,
        locks: PointLocks,
        wake_relay: Callable[[], None],
        *,
        hold_ttl_s: float = DEFAULT_HOLD_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.locks = locks
        self.wake_relay = wake_relay
        self.hold_ttl_s = hold_ttl_s
        self.clock = clock
        self.cache = PointCache()
        self._quotas: tuple[int, list[Row[Any]]] = (0, [])
        self.batcher = PromiseBatcher(self)

    async def close(self) -> None:
        """Stop the batch worker (promises still queued fail with CancelledError)."""
        await self.batcher.close()

    async def lock_point(self, session: AsyncSession, sku: str, site: str) -> int:
        """Lock the sku@site row and bump its version (every caller may change the picture); returns the
        new version. PostgreSQL holds the row lock to the end of the transaction; on SQLite the write
        makes the transaction the writer from its first statement."""
        version, _ = await store_points.lock_point(session, sku, site)
        return version

    def today(self, now: float) -> dt.date:
        return dt.datetime.fromtimestamp(now, tz=dt.UTC).date()

    async def _default_site(self, sku: str) -> str:
        async with self.db.read() as session:
            site = await store_supply.site_with_most_stock(session, sku)
        if site is None:
            raise Problem(400, "Invalid request", f"no site known for sku {sku!r}; give site",
                          errors=[{"field": "site", "message": "required: no stock known for this sku"}])  # fmt: skip
        return site

    async def promise(self, request: PromiseRequest) -> dict[str, Any]:
        """Answer (and, with ``reserve``, hold) a promise; a retried key returns the stored answer.
        Concurrent promises share transactions (promise_batch.py); each gets the answer it would get
        alone, in arrival order."""
        started = time.perf_counter()
        print_ = fingerprint(request)
        site = request.site or await self._default_site(request.sku)
        answer, replayed = await self.batcher.submit(request, site, print_)
        outcome = (
            "replayed"
            if replayed
            else "rejected"
            if answer["confirmed"] <= 0
            else "partial"
            if answer["unconfirmed"] > 0
            else "confirmed"
        )
        PROMISE_SECONDS.labels("allocator", outcome).observe(time.perf_counter() - started)
        return answer

    async def promise_one(
        self, request: PromiseRequest, site: str, print_: str
    ) -> tuple[dict[str, Any], bool]:
        """One promise in its own transaction (the batch's fallback): ``(answer, replayed)``."""
        sku = request.sku
        async with self.locks.hold(sku, site):
            async with self.db.unit_of_work() as session:
                version, quota_count = await store_points.lock_point(session, sku, site)
                now = self.clock()
                state = await self.state_at(session, sku, site, version, now)
                customer = await store_supply.customer(session, await customer_keys(session, request))
                quota_rows = await self.quota_rows(session, quota_count)
                decision = self.decide(request, site, print_, state, customer, quota_rows, now)
                inserted = await store_promises.insert_promise(session, decision.row)
                if inserted and decision.held:
                    await store_reserved.add_reserved(session, sku, site, decision.segment, decision.held)
                    await outbox.add_event(
                        session, topic=topics.ALLOCATION_PROMISES, key=decision.row["promise_id"], source=SOURCE,
                        type=PromiseMade.EVENT_TYPE, id=f"{decision.row['promise_id']}:made", payload=decision.event,
                    )  # fmt: skip
            self.cache.put(sku, site, version, decision.state if inserted else state)
        if not inserted:
            async with self.db.read() as session:
                existing = await store_promises.promise_by_key(session, request.idempotency_key)
            assert existing is not None  # promises are never deleted
            return replay_answer(existing.fingerprint, existing.response, print_), True
        if decision.held:
            self.wake_relay()
        return decision.answer, False

    async def state_at(
        self, session: AsyncSession, sku: str, site: str, version: int, now: float
    ) -> PointState:
        """The sku@site's state under its lock (``version``: what locking returned): the cached one when
        still valid, else read; overdue holds are released (and the state read again) first."""
        state = self.cache.valid_before(sku, site, version) or await read_state(session, sku, site)
        if state.next_expiry is not None and state.next_expiry <= now:
            await self.release_expired(session, now, sku=sku, site=site)
            state = await read_state(session, sku, site)
        return state

    async def quota_rows(self, session: AsyncSession, count: int) -> list[Row[Any]]:
        """Every quota statement, re-read only when their number (append-only: their generation) changed."""
        if count == 0:
            return []
        if self._quotas[0] != count:
            rows = await store_promises.all_quotas(session)
            self._quotas = (len(rows), rows)
        return self._quotas[1]

    def decide(
        self, request: PromiseRequest, site: str, print_: str, state: PointState, customer: Row[Any] | None,
        quota_rows: list[Row[Any]], now: float,
    ) -> Decision:  # fmt: skip
        """The promise rule on the sku@site's state: the answer, the row to store, the units to hold and
        the state after holding them (nothing is written here)."""
        today = self.today(now)
        segment = customer.segment if customer is not None else None
        picture = state.picture(request.sku, site, today, extra_dates=(request.requested_date,))
        requested_day = day_index(today, request.requested_date, picture.days) or 0
        remaining = self._quota_remaining(quota_rows, picture, segment, customer, request.channel, today)
        result = promise_rule(picture.atp(), request.quantity, requested_day, remaining, segment)
        confirmations = [
            {"date": bucket_date(today, c.day).isoformat(), "quantity": c.quantity}
            for c in result.confirmations
        ]
        promise_id = str(uuid.uuid4())
        expires_at = now + self.hold_ttl_s if request.reserve else None
        status = "held" if request.reserve else "quote"
        explanation = result.explanation
        text = (
            f"confirmed {result.confirmed:g} of {request.quantity} from {site}"
            f"{' within segment ' + segment + ' quota' if segment and explanation.quota is not None else ''};"
            f" limited by {explanation.limited_by}"
        )
        answer = {
            "promise_id": promise_id,
            "idempotency_key": request.idempotency_key,
            "customer_id": request.customer_id,
            "sku": request.sku,
            "site": site,
            "quantity": float(request.quantity),
            "requested_date": request.requested_date.isoformat(),
            "reserve": request.reserve,
            "status": status,
            "confirmations": confirmations,
            "confirmed": result.confirmed,
            "unconfirmed": result.unconfirmed,
            "segment": segment,
            "tier": customer.tier if customer is not None else None,
            "strategy": customer.strategy if customer is not None else DEFAULT_STRATEGY,
            "expires_at": None if expires_at is None else epoch_to_datetime(expires_at).isoformat(),  # type: ignore[union-attr]
            "explanation": {
                "segment": segment,
                "quota": explanation.quota,
                "limited_by": explanation.limited_by,
                "available_on_requested_day": explanation.available_on_requested_day,
                "text": text,
            },
        }
        row = {
            "promise_id": promise_id,
            "idempotency_key": request.idempotency_key,
            "fingerprint": print_,
            "customer_id": request.customer_id,
            "sku": request.sku,
            "site": site,
            "quantity": float(request.quantity),
            "requested_date": request.requested_date,
            "reserve": request.reserve,
            "segment": segment,
            "tier": answer["tier"],
            "strategy": answer["strategy"],
            "status": status,
            "confirmations": orjson.dumps(confirmations).decode(),
            "confirmed": result.confirmed,
            "response": orjson.dumps(answer).decode(),
            "created_at": now,
            "updated_at": now,
            "expires_at": expires_at,
        }
        if not request.reserve:
            return Decision(answer, row, segment, [], None, state)
        held = [(bucket_date(today, c.day), c.quantity) for c in result.confirmations]
        event = PromiseMade(**promise_payload(row, confirmations, reason=text))
        return Decision(
            answer, row, segment, held, event, state.with_reserved(segment, held, expires_at=expires_at)
        )

    @staticmethod
    def _quota_remaining(
        quota_rows: list[Row[Any]], picture: PointPicture, segment: str | None, customer: Any, channel: str | None,
        today: dt.date,
    ) -> float | None:  # fmt: skip
        if not quota_rows:
            return None
        region = customer.region if customer is not None else None
        bounds = segment_bounds(quota_rows, picture.supply(), today.strftime("%Y-%m"), region, channel)
        return quota_remaining(segment, bounds, picture.reserved_by_segment, picture.promisable_total())

    async def release_expired(
        self, session: AsyncSession, now: float, *, sku: str | None = None, site: str | None = None
    ) -> int:
        """Mark overdue holds expired (all of them, or one sku@site's) and emit promise.released."""
        if sku is not None and site is not None:
            rows = await store_promises.expired_holds_at(session, sku, site, now)
        else:
            rows = await store_promises.expired_holds(session, now)
        count = 0
        for row in rows:
            await self._end(session, row, "expired", "hold expired", now)
            count += 1
        return count

    async def _end(self, session: AsyncSession, row: Row[Any], status: str, reason: str, now: float) -> None:
        """Release a held or confirmed promise: its units leave the per-day reservation totals."""
        await store_promises.update_promise(
            session, row.promise_id, {"status": status, "updated_at": now, "expires_at": None}
        )
        if row.status in store.ACTIVE:
            await store_reserved.add_reserved(
                session, row.sku, row.site, row.segment, dated(confirmations_of(row)), sign=-1.0
            )
        await outbox.add_event(
            session, topic=topics.ALLOCATION_PROMISES, key=row.promise_id, source=SOURCE,
            type=PromiseReleased.EVENT_TYPE, id=f"{row.promise_id}:released",
            payload=PromiseReleased(**promise_payload(row, confirmations_of(row), reason=reason)),
        )  # fmt: skip

    async def expire_due(self) -> int:
        """Worker step: release every overdue hold, each under its sku@site's lock."""
        now = self.clock()
        async with self.db.read() as session:
            points = sorted({(r.sku, r.site) for r in await store_promises.expired_holds(session, now)})
        total = 0
        for sku, site in points:
            async with self.locks.hold(sku, site), self.db.unit_of_work() as session:
                await self.lock_point(session, sku, site)
                total += await self.release_expired(session, now, sku=sku, site=site)
        if total:
            self.wake_relay()
        return total

    async def get(self, promise_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            row = await store_promises.promise_by_id(session, promise_id)
        if row is None:
            raise Problem(404, "Not Found", f"no promise {promise_id}")
        return promise_view(row, self.clock())

    async def transition(self, promise_id: str, action: str) -> dict[str, Any]:
        """``confirm`` a held promise (it stops expiring) or ``release`` a held or confirmed one."""
        async with self.db.read() as session:
            row = await store_promises.promise_by_id(session, promise_id)
        if row is None:
            raise Problem(404, "Not Found", f"no promise {promise_id}")
        async with self.locks.hold(row.sku, row.site), self.db.unit_of_work() as session:
            await self.lock_point(session, row.sku, row.site)
            now = self.clock()
            row = await store_promises.promise_by_id(session, promise_id, lock=True)
            assert row is not None
            current = promise_view(row, now)["status"]
            if action == "confirm" and current == "confirmed":
                return promise_view(row, now)
            if action == "release" and current == "released":
                return promise_view(row, now)
            allowed = ("held",) if action == "confirm" else ("held", "confirmed")
            if current not in allowed:
                raise Problem(409, "Conflict", f"cannot {action} a promise that is {current}")
            if action == "confirm":
                await store_promises.update_promise(session, promise_id, {"status": "confirmed", "expires_at": None,
                                                                  "updated_at": now})  # fmt: skip
            else:
                await self._end(session, row, "released", "released by caller", now)
            row = await store_promises.promise_by_id(session, promise_id)
            assert row is not None
        self.wake_relay()
        return promise_view(row, now)
