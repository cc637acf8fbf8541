"""The pure parts of promising shared by its modules: who the customer is, the request fingerprint,
how a stored promise reads, quota bounds per segment, event payloads and replayed answers."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.allocation import Confirmation
from contracts.identity import source_scoped_key
from services.allocator import store_reserved
from services.allocator.domain.quotas import QuotaBounds, QuotaScope, QuotaSpec, resolve_quotas
from services.allocator.picture import confirmations_of
from services.allocator.schemas_service import PromiseRequest
from services.runtime.problems import Problem

SOURCE = "segflow/allocator"


def replay_answer(stored_print: str, response: str, print_: str) -> dict[str, Any]:
    """The stored answer of a retried key (409 when the same key came with another body)."""
    if stored_print != print_:
        raise Problem(
            409, "Conflict", "idempotency_key was already used with a different request",
            errors=[{"field": "idempotency_key", "message": "reused with a different body"}],
        )  # fmt: skip
    return dict(orjson.loads(response))


async def customer_keys(session: AsyncSession, request: PromiseRequest) -> list[str]:
    """The golden ids to look the customer up by, strongest first: with ``customer_source`` the golden id
    the crosswalk learned from master data (else the source-scoped ``src:<source>:<id>``, exactly what
    the classifier assigns to a customer without GLN/DUNS/VAT); without it ``customer_id`` is taken as
    the golden id itself (as tokens and the gateway carry it)."""
    if request.customer_source is None:
        return [request.customer_id]
    return [await golden_customer_id(session, request.customer_source, request.customer_id)]


async def customer_keys_of(session: AsyncSession, requests: list[PromiseRequest]) -> list[list[str]]:
    """``customer_keys`` of several requests with one crosswalk query."""
    sourced = {(r.customer_source, r.customer_id) for r in requests if r.customer_source is not None}
    known = await store_reserved.golden_of_many(session, sorted(sourced)) if sourced else {}
    return [
        [r.customer_id]
        if r.customer_source is None
        else [
            known.get((r.customer_source, r.customer_id)) or _source_scoped(r.customer_source, r.customer_id)
        ]
        for r in requests
    ]


async def golden_customer_id(session: AsyncSession, source: str, source_id: str) -> str:
    """Golden id of a source-scoped customer: the crosswalk's, else ``src:<source>:<id>``."""
    golden = await store_reserved.golden_of(session, source, source_id)
    return golden if golden is not None else _source_scoped(source, source_id)


def _source_scoped(source: str, source_id: str) -> str:
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
