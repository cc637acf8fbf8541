"""Order promising with reservations: idempotent by key, serialised per sku@site (no oversell), holds
with a time-to-live, confirm and release, promise.made / promise.released through the outbox."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.allocation import Confirmation, PromiseMade, PromiseReleased
from contracts.identity import source_scoped_key
from services.allocator import store, store_reserved
from services.allocator.domain.buckets import bucket_date, day_index
from services.allocator.domain.promise import promise as promise_rule
from services.allocator.domain.quotas import QuotaBounds, QuotaScope, QuotaSpec, resolve_quotas
from services.allocator.domain.segment_quota import quota_remaining
from services.allocator.locks import PointLocks
from services.allocator.picture import PointPicture, confirmations_of, load_picture
from services.allocator.schemas_service import PromiseRequest
from services.runtime import outbox
from services.runtime.db import Database
from services.runtime.metrics import PROMISE_SECONDS
from services.runtime.problems import Problem

SOURCE = "segflow/allocator"
DEFAULT_HOLD_TTL_S = 900.0
DEFAULT_STRATEGY = "redistribute"


def _dated(confirmations: list[dict[str, Any]]) -> list[tuple[dt.date, float]]:
    return [(dt.date.fromisoformat(c["date"]), float(c["quantity"])) for c in confirmations]


async def customer_keys(session: AsyncSession, request: PromiseRequest) -> list[str]:
    """The golden ids to look the customer up by, strongest first: with ``customer_source`` the golden id
    the crosswalk learned from master data (else the source-scoped ``src:<source>:<id>``, exactly what
    the classifier assigns to a customer without GLN/DUNS/VAT); without it ``customer_id`` is taken as
    the golden id itself (as tokens and the gateway carry it)."""
    if request.customer_source is None:
        return [request.customer_id]
    return [await golden_customer_id(session, request.customer_source, request.customer_id)]


async def golden_customer_id(session: AsyncSession, source: str, source_id: str) -> str:
    """Golden id of a source-scoped customer: the crosswalk's, else ``src:<source>:<id>``."""
    golden = await store_reserved.golden_of(session, source, source_id)
    if golden is not None:
        return golden
    try:
        return source_scoped_key(source, source_id)
    except ValueError:  # a source name the identity rules reject cannot match any assignment
        return f"src:{source}:{source_id}"


def fingerprint(request: PromiseRequest) -> str:
    """SHA-256 of the request body without its idempotency key (same key + other body = conflict)."""
    body = request.model_dump(mode="json", exclude={"idempotency_key"})
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def epoch_to_datetime(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, tz=dt.UTC)


def promise_view(row: Row[Any], now: float) -> dict[str, Any]:
    """The current state of a stored promise (an overdue hold reads as expired)."""
    status = row.status
    if status == "held" and row.expires_at is not None and row.expires_at <= now:
        status = "expired"
    answer = orjson.loads(row.response)
    confirmations = [] if status in ("released", "expired") else confirmations_of(row)
    confirmed = sum(float(c["quantity"]) for c in confirmations)
    return {
        **answer,
        "status": status,
        "confirmations": confirmations,
        "confirmed": confirmed,
        "unconfirmed": max(0.0, float(row.quantity) - confirmed),
        "expires_at": epoch_to_datetime(row.expires_at) if status == "held" else None,
    }


def segment_bounds(
    quota_rows: list[Row[Any]], supply: float, period: str, region: str | None, channel: str | None
) -> dict[str, QuotaBounds]:
    """Resolved quota bounds per segment, using the statements for everyone or for this region/channel
    (a more specific scope replaces a general one)."""
    specs = [
        QuotaSpec(QuotaScope(q.segment, q.region, q.channel), q.kind, q.basis, q.value, q.tier, q.period)
        for q in quota_rows
        if q.region in (None, region) and q.channel in (None, channel)
    ]
    resolved = resolve_quotas(supply, specs, period).bounds
    ordered = sorted(
        resolved.items(), key=lambda item: (item[0].region is not None) + (item[0].channel is not None)
    )
    return {scope.segment: bounds for scope, bounds in ordered}


def _confirmation_models(items: list[dict[str, Any]]) -> list[Confirmation]:
    return [Confirmation(date=dt.date.fromisoformat(c["date"]), quantity=c["quantity"]) for c in items]


def promise_payload(
    row: Row[Any] | dict[str, Any], confirmations: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else row._mapping.get
    return {
        "promise_id": get("promise_id"),
        "customer_id": get("customer_id"),
        "sku": get("sku"),
        "site": get("site"),
        "idempotency_key": get("idempotency_key"),
        "requested_quantity": get("quantity"),
        "segment": get("segment"),
        "reserved": bool(get("reserve")),
        "confirmations": _confirmation_models(confirmations),
        "expires_at": epoch_to_datetime(get("expires_at")),
        **extra,
    }


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
        self._known_points: set[tuple[str, str]] = set()

    async def lock_point(self, session: AsyncSession, sku: str, site: str) -> None:
        """Lock the sku@site row. PostgreSQL: created only the first time this process meets it, then
        ``SELECT ... FOR UPDATE``; SQLite: the (no-op) upsert makes the transaction a writer from its first
        statement, so it waits for the write lock instead of failing to upgrade a read snapshot later."""
        known = (sku, site) in self._known_points and self.db.is_postgres
        await store.lock_point(session, sku, site, create=not known)
        self._known_points.add((sku, site))

    def today(self, now: float) -> dt.date:
        return dt.datetime.fromtimestamp(now, tz=dt.UTC).date()

    def _replay(self, row: Row[Any], print_: str) -> dict[str, Any]:
        if row.fingerprint != print_:
            raise Problem(
                409, "Conflict", "idempotency_key was already used with a different request",
                errors=[{"field": "idempotency_key", "message": "reused with a different body"}],
            )  # fmt: skip
        return dict(orjson.loads(row.response))

    async def _default_site(self, sku: str) -> str:
        async with self.db.read() as session:
            site = await store.site_with_most_stock(session, sku)
        if site is None:
            raise Problem(400, "Invalid request", f"no site known for sku {sku!r}; give site",
                          errors=[{"field": "site", "message": "required: no stock known for this sku"}])  # fmt: skip
        return site

    async def promise(self, request: PromiseRequest) -> dict[str, Any]:
        """Answer (and, with ``reserve``, hold) a promise; a retried key returns the stored answer."""
        started = time.perf_counter()
        print_ = fingerprint(request)
        site = request.site or await self._default_site(request.sku)
        try:
            async with self.locks.hold(request.sku, site), self.db.unit_of_work() as session:
                await self.lock_point(session, request.sku, site)
                existing = await store.promise_by_key(session, request.idempotency_key)
                if existing is not None:
                    PROMISE_SECONDS.labels("allocator", "replayed").observe(time.perf_counter() - started)
                    return self._replay(existing, print_)
                answer = await self._promise_locked(session, request, site, print_)
        except IntegrityError:  # the same key raced in on another sku@site; its answer is stored now
            async with self.db.read() as session:
                existing = await store.promise_by_key(session, request.idempotency_key)
            if existing is None:
                raise
            return self._replay(existing, print_)
        self.wake_relay()
        outcome = (
            "rejected"
            if answer["confirmed"] <= 0
            else "partial"
            if answer["unconfirmed"] > 0
            else "confirmed"
        )
        PROMISE_SECONDS.labels("allocator", outcome).observe(time.perf_counter() - started)
        return answer

    async def _promise_locked(
        self, session: AsyncSession, request: PromiseRequest, site: str, print_: str
    ) -> dict[str, Any]:
        now = self.clock()
        today = self.today(now)
        await self.release_expired(session, now, sku=request.sku, site=site)
        customer = await store.customer(session, await customer_keys(session, request))
        segment = customer.segment if customer is not None else None
        picture = await load_picture(
            session,
            request.sku,
            site,
            today,
            now,
            extra_dates=(request.requested_date,),
            expired_released=True,
        )
        requested_day = day_index(today, request.requested_date, picture.days) or 0
        remaining = await self._quota_remaining(session, picture, segment, customer, request.channel, today)
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
        await store.insert_promise(session, row)
        if request.reserve:
            await store_reserved.add_reserved(session, request.sku, site, segment, _dated(confirmations))
            await outbox.add_event(
                session, topic=topics.ALLOCATION_PROMISES, key=promise_id, source=SOURCE,
                type=PromiseMade.EVENT_TYPE, id=f"{promise_id}:made",
                payload=PromiseMade(**promise_payload(row, confirmations, reason=text)),
            )  # fmt: skip
        return answer

    async def _quota_remaining(
        self, session: AsyncSession, picture: PointPicture, segment: str | None, customer: Any, channel: str | None,
        today: dt.date,
    ) -> float | None:  # fmt: skip
        quota_rows = await store.all_quotas(session)
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
            rows = await store_reserved.expired_holds_at(session, sku, site, now)
        else:
            rows = await store.expired_holds(session, now)
        count = 0
        for row in rows:
            await self._end(session, row, "expired", "hold expired", now)
            count += 1
        return count

    async def _end(self, session: AsyncSession, row: Row[Any], status: str, reason: str, now: float) -> None:
        """Release a held or confirmed promise: its units leave the per-day reservation totals."""
        await store.update_promise(
            session, row.promise_id, {"status": status, "updated_at": now, "expires_at": None}
        )
        if row.status in store.ACTIVE:
            await store_reserved.add_reserved(
                session, row.sku, row.site, row.segment, _dated(confirmations_of(row)), sign=-1.0
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
            points = sorted({(r.sku, r.site) for r in await store.expired_holds(session, now)})
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
            row = await store.promise_by_id(session, promise_id)
        if row is None:
            raise Problem(404, "Not Found", f"no promise {promise_id}")
        return promise_view(row, self.clock())

    async def transition(self, promise_id: str, action: str) -> dict[str, Any]:
        """``confirm`` a held promise (it stops expiring) or ``release`` a held or confirmed one."""
        async with self.db.read() as session:
            row = await store.promise_by_id(session, promise_id)
        if row is None:
            raise Problem(404, "Not Found", f"no promise {promise_id}")
        async with self.locks.hold(row.sku, row.site), self.db.unit_of_work() as session:
            await self.lock_point(session, row.sku, row.site)
            now = self.clock()
            row = await store.promise_by_id(session, promise_id, lock=True)
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
                await store.update_promise(session, promise_id, {"status": "confirmed", "expires_at": None,
                                                                  "updated_at": now})  # fmt: skip
            else:
                await self._end(session, row, "released", "released by caller", now)
            row = await store.promise_by_id(session, promise_id)
            assert row is not None
        self.wake_relay()
        return promise_view(row, now)
