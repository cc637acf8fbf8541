"""Master data: crosswalk from source records to golden ids, survivorship into golden records, and a
short-lived in-process cache of what order handling needs (golden id, base unit, conversions, cost).

Golden ids follow contracts.identity (GLN > DUNS > VAT > source-scoped for customers; GTIN > source-
scoped for products). Survivorship per attribute: configured source priority, then recency
(domain.survivorship). A cache miss always falls back to the database, so a record another instance
consumed is found; entries expire after ``ttl_s`` so updates made elsewhere are picked up.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contracts.identity import golden_customer_key, golden_product_key, source_scoped_key
from contracts.mdm import CustomerUpserted, ProductUpserted
from services.runtime.commit_hooks import deferred

from . import store
from .domain.survivorship import SourceRecord, survive

CUSTOMER_FIELDS = (
    "name",
    "region",
    "country",
    "strategic",
    "partner_ids",
    "account_owner",
    "min_tier",
    "min_service_level",
    "parents",
    "local_segment",
    "min_segment",
)
PRODUCT_FIELDS = (
    "name",
    "base_uom",
    "uom_conversions",
    "lifecycle",
    "launch_date",
    "category",
    "unit_cost",
    "list_price",
    "currency",
    "supplier_id",
    "lead_time_days",
    "lead_time_std_days",
    "local_segment",
)
ANONYMOUS_SOURCE_IDS = frozenset({"anonymous"})
_PENDING_KEY = "segflow.classifier.masterdata"


def _local(source: str, name: str | None) -> dict[str, str] | None:
    return None if name is None else {"source": source, "name": name}


class MasterDataBehind(ConnectionError):
    """An order refers to master data the master-data consumer has not applied yet while it still has
    records to apply: retried with backoff like an outage instead of dead-lettered."""


@dataclass(frozen=True)
class CustomerRef:
    golden_id: str


@dataclass(frozen=True)
class ProductRef:
    golden_id: str
    base_uom: str
    conversions: dict[str, float]
    unit_cost: float | None


class MasterData:
    """Source-priority configuration and the lookup cache of one classifier instance."""

    def __init__(self, source_priority: tuple[str, ...] = (), ttl_s: float = 30.0) -> None:
        self.source_priority = source_priority
        self.ttl_s = ttl_s
        self._customers: dict[tuple[str, str], tuple[CustomerRef, float]] = {}
        self._products: dict[tuple[str, str], tuple[ProductRef, float]] = {}
        self.lag_probe: Callable[[], Awaitable[int]] | None = None
        self._behind: tuple[bool, float] = (False, 0.0)

    async def stream_behind(self) -> bool:
        """True while the master-data consumer has unapplied records (a lag probe costs a broker round trip:
        re-probed after 2 s while behind, 10 s once caught up)."""
        if self.lag_probe is None:
            return False
        value, until = self._behind
        if time.monotonic() < until:
            return value
        behind = await self.lag_probe() > 0
        self._behind = (behind, time.monotonic() + (2.0 if behind else 10.0))
        return behind

    # ------------------------------------------------------------ lookups

    async def customer(self, session: AsyncSession, source: str, source_id: str) -> CustomerRef | None:
        key = (source, source_id)
        hit = self._customers.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        row = await store.resolve(session, "customer", source, source_id)
        if row is None:
            return None
        ref = CustomerRef(row.golden_id)
        self._customers[key] = (ref, time.monotonic() + self.ttl_s)
        return ref

    async def product(self, session: AsyncSession, source: str, sku: str) -> ProductRef | None:
        key = (source, sku)
        hit = self._products.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        row = await store.resolve(session, "product", source, sku)
        if row is None:
            return None
        ref = ProductRef(row.golden_id, row.base_uom, dict(row.uom_conversions or {}), row.unit_cost)
        self._products[key] = (ref, time.monotonic() + self.ttl_s)
        return ref

    def forget(self) -> None:
        self._customers.clear()
        self._products.clear()

    # ------------------------------------------------------------ upserts

    async def upsert_customer(
        self,
        session: AsyncSession,
        event: CustomerUpserted,
        local_segment: str | None = None,
        min_segment: str | None = None,
    ) -> str:
        """Queue a customer source record; applied with the transaction's other records at flush.

        ``local_segment`` is the source system's own segment name for the customer and ``min_segment`` its
        contract floor as a segment name (standard or local; both checked against the rule set by the
        caller); each is kept with its source (``{"source", "name"}``) so survivorship never separates
        the two."""
        golden_id = golden_customer_key(
            source=event.source,
            source_id=event.source_id,
            gln=event.gln,
            duns=event.duns,
            vat=event.vat,
            country=event.country,
        )
        contract = event.contract
        attributes: dict[str, Any] = {
            "name": event.name,
            "region": event.region,
            "country": event.country,
            "strategic": event.strategic,
            "partner_ids": sorted(event.partner_ids),
            "account_owner": event.account_owner,
            "min_tier": contract.min_tier if contract else None,
            "min_service_level": contract.min_service_level if contract else None,
            "parents": {
                view: source_scoped_key(event.source, parent)
                for view, parent in event.parents.model_dump().items()
                if parent is not None
            },
            "local_segment": _local(event.source, local_segment),
            "min_segment": _local(event.source, min_segment),
        }
        self._queue(
            session, "customer", event.source, event.source_id, golden_id, attributes, event.updated_at
        )
        return golden_id

    async def upsert_product(
        self, session: AsyncSession, event: ProductUpserted, local_segment: str | None = None
    ) -> str:
        """Queue a product source record (``local_segment`` as for customers); applied at flush."""
        golden_id = golden_product_key(source=event.source, source_id=event.source_id, gtin=event.gtin)
        attributes: dict[str, Any] = {
            "name": event.name,
            "base_uom": event.base_uom,
            "uom_conversions": dict(event.uom_conversions),
            "lifecycle": event.lifecycle,
            "launch_date": event.launch_date.isoformat() if event.launch_date else None,
            "category": event.category,
            "unit_cost": event.unit_cost,
            "list_price": event.list_price,
            "currency": event.currency,
            "supplier_id": event.supplier_id,
            "lead_time_days": event.lead_time_days,
            "lead_time_std_days": event.lead_time_std_days,
            "local_segment": _local(event.source, local_segment),
        }
        self._queue(
            session, "product", event.source, event.source_id, golden_id, attributes, event.updated_at
        )
        return golden_id

    def _queue(
        self,
        session: AsyncSession,
        kind: str,
        source: str,
        source_id: str,
        golden_id: str,
        attributes: dict[str, Any],
        updated_at: datetime,
    ) -> None:
        pending: list[Any] = deferred(session, _PENDING_KEY, list, self._flush)
        pending.append((kind, source, source_id, golden_id, attributes, updated_at))
        (self._customers if kind == "customer" else self._products).pop((source, source_id), None)

    def _flush(self, session: Session, pending: list[Any]) -> None:
        """Apply the transaction's queued source records (just before it commits): newer-wins per record,
        then rebuild every touched golden record by survivorship, in a handful of statements."""
        for kind in ("customer", "product"):
            items = [p for p in pending if p[0] == kind]
            if items:
                self._apply(session, kind, items)

    def _apply(self, session: Session, kind: str, items: list[Any]) -> None:
        keys = [(source, source_id) for _, source, source_id, *_ in items]
        current = store.source_rows_sync(session, kind, keys)
        touched: set[str] = set()
        for _, source, source_id, golden_id, attributes, updated_at in items:
            previous = current.get((source, source_id))
            if previous is not None and previous["updated_at"] > updated_at:
                continue  # an older version arrived late: the newer one stays
            if previous is not None:
                touched.add(previous["golden_id"])
            current[(source, source_id)] = {
                "source": source,
                "source_id": source_id,
                "golden_id": golden_id,
                "attributes": attributes,
                "updated_at": updated_at,
                "dirty": True,
            }
            touched.add(golden_id)
        store.save_source_rows_sync(
            session,
            kind,
            [{k: v for k, v in r.items() if k != "dirty"} for r in current.values() if r.get("dirty")],
        )
        by_golden = store.source_rows_by_golden_sync(session, kind, sorted(touched))
        goldens: list[dict[str, Any]] = []
        parent_keys: set[tuple[str, str]] = set()
        for golden_id in sorted(touched):
            records = by_golden.get(golden_id, [])
            if not records:
                store.delete_golden_sync(session, kind, golden_id)
                continue
            sources = [
                SourceRecord(r["source"], r["source_id"], r["updated_at"], r["attributes"]) for r in records
            ]
            golden = survive(sources, self.source_priority)
            if kind == "customer":
                row: dict[str, Any] = {name: golden.get(name) for name in CUSTOMER_FIELDS}
                row["strategic"] = bool(row["strategic"])
                row["partner_ids"] = row["partner_ids"] or []
                row["parents"] = row["parents"] or {}
                row["anonymous"] = all(r.source_id in ANONYMOUS_SOURCE_IDS for r in sources)
                for scoped in row["parents"].values():
                    _, source, source_id = scoped.split(":", 2)
                    parent_keys.add((source, source_id))
            else:
                row = {name: golden.get(name) for name in PRODUCT_FIELDS}
                row["uom_conversions"] = row["uom_conversions"] or {}
            row.update(golden_id=golden_id, updated_at=max(r.updated_at for r in sources))
            goldens.append(row)
        if parent_keys:
            crosswalk = store.source_rows_sync(session, "customer", sorted(parent_keys))
            for row in goldens:
                row["parents"] = {
                    view: (
                        crosswalk[tuple(scoped.split(":", 2)[1:])]["golden_id"]
                        if tuple(scoped.split(":", 2)[1:]) in crosswalk
                        else scoped
                    )
                    for view, scoped in sorted(row["parents"].items())
                }
        store.save_golden_sync(session, kind, goldens)
