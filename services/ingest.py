"""File ingestion: turn an ERP/WMS export into CloudEvents on the bus, with deterministic event ids.

Rules:
- Every event id is uuid5(source system + record key) (contracts.envelope.deterministic_id), so
  ingesting the same file twice creates no duplicate effect: consumers' inboxes drop the repeats.
- A row that cannot become a valid event is not published; it is reported with its line number and
  the reason (the contract's own validation message where there is one).
- Formats: ``online-retail`` (UCI Online Retail, the demo data), ``orders-csv`` (one order line per
  row, the columns of contracts.erp.OrderLinePlaced), ``scms-deliveries`` (USAID SCMS delivery history
  as shipments delivered against their scheduled date).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts import topics
from contracts.envelope import deterministic_id, encode_payload, new_envelope, to_headers
from contracts.erp import OrderLinePlaced, ShipmentLineDelivered
from contracts.mdm import CustomerUpserted, ProductUpserted

ONLINE_RETAIL_SOURCE = "online-retail"
ONLINE_RETAIL_SITE = "UK-DC"
ANONYMOUS_CUSTOMER = "anonymous"
PUBLISH_BATCH = 2000
_PRODUCT_CODE = re.compile(r"^\d{5}")


@dataclass(frozen=True)
class OutboundEvent:
    topic: str
    key: str
    type: str
    source: str
    record_key: str
    payload: BaseModel
    time: datetime

    def to_record(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        env = new_envelope(
            source=self.source,
            type=self.type,
            subject=self.key,
            payload=self.payload,
            id=deterministic_id(self.source, self.record_key),
            time=self.time,
        )
        assert env.data is not None
        return self.key.encode(), env.data, to_headers(env)


@dataclass
class Rejection:
    line: int
    reason: str


@dataclass
class IngestReport:
    published: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _error_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


Parsed = Iterator[OutboundEvent | Rejection]


def keeps_product(code: str, percent: int) -> bool:
    """The deterministic product sample: crc32(stock code) mod 100 < percent (100 keeps all)."""
    return percent >= 100 or zlib.crc32(code.encode()) % 100 < percent


def parse_online_retail(path: Path, product_percent: int = 100) -> Parsed:
    """UCI Online Retail invoice lines -> product and customer master data, then order lines.

    Mapping: InvoiceNo = order_id; line_id = position of the line within its invoice (1-based);
    StockCode = sku at site UK-DC; Quantity in EA; UnitPrice in GBP (no cost in the data: margin is
    flagged missing downstream); CustomerID (``17850.0`` -> ``17850``) or ``anonymous`` when empty;
    Country = region. Rejected: cancellation invoices (C...: credit notes that do not reference the line
    they reverse), non-product codes (POST, DOT, M, BANK CHARGES, ...: not 5 leading digits), and
    what the contract refuses (non-positive quantities, negative prices); a zero price is demand without
    revenue and is kept. Master data comes first (first description seen per product).
    ``product_percent`` < 100 keeps a deterministic sample of products (``keeps_product``) with their whole
    year of demand, and only the customers who bought them (the demo's slice).
    """
    products: dict[str, tuple[str, datetime]] = {}
    customers: dict[str, tuple[str, datetime]] = {}
    lines: list[OutboundEvent | Rejection] = []
    per_invoice: dict[str, int] = {}
    with _open_text(path) as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            invoice, code = row["InvoiceNo"].strip(), row["StockCode"].strip()
            per_invoice[invoice] = per_invoice.get(invoice, 0) + 1
            line_no = per_invoice[invoice]
            if invoice.startswith("C"):
                lines.append(
                    Rejection(n, f"cancellation invoice {invoice}: credit note without the original line")
                )
                continue
            if _PRODUCT_CODE.match(code) and not keeps_product(code, product_percent):
                continue
            if not _PRODUCT_CODE.match(code):
                lines.append(
                    Rejection(n, f"stock code {code!r} is not a product (fee, postage or adjustment)")
                )
                continue
            try:
                qty, price = float(row["Quantity"]), float(row["UnitPrice"])
                at = datetime.strptime(row["InvoiceDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            except ValueError as exc:
                lines.append(Rejection(n, f"unreadable number or date: {exc}"))
                continue
            raw_customer = row["CustomerID"].strip()
            customer = raw_customer.split(".")[0] if raw_customer else ANONYMOUS_CUSTOMER
            region = row["Country"].strip() or "Unspecified"
            products.setdefault(code, (row["Description"].strip() or code, at))
            customers.setdefault(customer, (region, at))
            try:
                payload = OrderLinePlaced(
                    order_id=invoice,
                    line_id=str(line_no),
                    customer_id=customer,
                    customer_source=ONLINE_RETAIL_SOURCE,
                    sku=code,
                    site=ONLINE_RETAIL_SITE,
                    quantity=qty,
                    unit="EA",
                    unit_price=price,
                    currency="GBP",
                    requested_date=at.date(),
                    ordered_at=at,
                    region=region,
                )
            except ValidationError as exc:
                lines.append(Rejection(n, _error_reason(exc)))
                continue
            lines.append(
                OutboundEvent(
                    topics.ERP_ORDERS,
                    invoice,
                    "segflow.order.line.placed",
                    f"erp/{ONLINE_RETAIL_SOURCE}",
                    f"{invoice}:{line_no}",
                    payload,
                    at,
                )
            )
    for code, (desc, first) in sorted(products.items()):
        yield OutboundEvent(
            topics.MDM_PRODUCTS,
            f"{ONLINE_RETAIL_SOURCE}:{code}",
            "segflow.product.upserted",
            f"mdm/{ONLINE_RETAIL_SOURCE}",
            f"product:{code}",
            ProductUpserted(
                source=ONLINE_RETAIL_SOURCE,
                source_id=code,
                name=desc[:200],
                base_uom="EA",
                lifecycle="active",
                launch_date=first.date(),
                category="general",
                currency="GBP",
                updated_at=first,
            ),
            first,
        )
    for cust, (region, first) in sorted(customers.items()):
        yield OutboundEvent(
            topics.MDM_CUSTOMERS,
            f"{ONLINE_RETAIL_SOURCE}:{cust}",
            "segflow.customer.upserted",
            f"mdm/{ONLINE_RETAIL_SOURCE}",
            f"customer:{cust}",
            CustomerUpserted(
                source=ONLINE_RETAIL_SOURCE,
                source_id=cust,
                name=f"Customer {cust}",
                region=region,
                country=_country_code(region),
                updated_at=first,
            ),
            first,
        )
    yield from lines


_COUNTRIES = {
    "United Kingdom": "GB",
    "France": "FR",
    "Germany": "DE",
    "EIRE": "IE",
    "Spain": "ES",
    "Netherlands": "NL",
    "Belgium": "BE",
    "Switzerland": "CH",
    "Portugal": "PT",
    "Australia": "AU",
    "Norway": "NO",
    "Italy": "IT",
    "Channel Islands": "JE",
    "Finland": "FI",
    "Cyprus": "CY",
    "Sweden": "SE",
    "Austria": "AT",
    "Denmark": "DK",
    "Japan": "JP",
    "Poland": "PL",
    "USA": "US",
    "Israel": "IL",
    "Hong Kong": "HK",
    "Singapore": "SG",
    "Iceland": "IS",
    "Canada": "CA",
    "Greece": "GR",
    "Malta": "MT",
    "United Arab Emirates": "AE",
    "European Community": "EU",
    "RSA": "ZA",
    "Lebanon": "LB",
    "Lithuania": "LT",
    "Brazil": "BR",
    "Czech Republic": "CZ",
    "Bahrain": "BH",
    "Saudi Arabia": "SA",
    "Unspecified": "ZZ",
}


def _country_code(name: str) -> str:
    return _COUNTRIES.get(name, "ZZ")


def parse_orders_csv(path: Path, source: str = "orders-csv") -> Parsed:
    """Generic order lines: one row per line, columns named as the fields of OrderLinePlaced."""
    with _open_text(path) as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            data: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
            try:
                payload = OrderLinePlaced.model_validate(data, strict=False)
            except ValidationError as exc:
                yield Rejection(n, _error_reason(exc))
                continue
            yield OutboundEvent(
                topics.ERP_ORDERS,
                payload.order_id,
                "segflow.order.line.placed",
                f"erp/{payload.customer_source}",
                f"{payload.order_id}:{payload.line_id}",
                payload,
                payload.ordered_at,
            )


def _scms_date(text: str) -> date | None:
    try:
        return datetime.strptime(text.strip(), "%d-%b-%y").date()
    except ValueError:
        return None


def _number(text: str | None) -> float | None:
    try:
        value = float((text or "").replace(",", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def parse_scms(path: Path) -> Parsed:
    """SCMS delivery history -> shipment.line.delivered with the scheduled date (for OTIF).

    Mapping: ID = order and line id; Country = customer (source ``scms``) and region; Product Group /
    Molecule/Test Type = sku; Managed By = site; Line Item Quantity in EA; Scheduled Delivery Date =
    scheduled_date; Delivered to Client Date = delivered_at. Rows whose dates are not dates (e.g. "Date
    Not Captured") or whose quantity is not positive are rejected with the reason.
    """
    with _open_text(path) as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            scheduled = _scms_date(row.get("Scheduled Delivery Date", ""))
            delivered = _scms_date(row.get("Delivered to Client Date", ""))
            if scheduled is None or delivered is None:
                yield Rejection(n, "scheduled or delivered date is not a date")
                continue
            line_id = row["ID"].strip()
            try:
                payload = ShipmentLineDelivered(
                    order_id=line_id,
                    line_id="1",
                    customer_id=row["Country"].strip() or "unknown",
                    customer_source="scms",
                    sku=(row.get("Molecule/Test Type") or "").strip()[:120] or "unknown",
                    site=(row.get("Managed By") or "unknown").strip() or "unknown",
                    quantity=float(row.get("Line Item Quantity") or 0),
                    unit="EA",
                    scheduled_date=scheduled,
                    delivered_at=datetime(delivered.year, delivered.month, delivered.day, 12, tzinfo=UTC),
                    freight_cost=_number(row.get("Freight Cost (USD)")),
                    currency="USD",
                )
            except (ValidationError, ValueError) as exc:
                reason = _error_reason(exc) if isinstance(exc, ValidationError) else str(exc)
                yield Rejection(n, reason)
                continue
            yield OutboundEvent(
                topics.WMS_SHIPMENTS,
                line_id,
                "segflow.shipment.line.delivered",
                "wms/scms",
                f"delivered:{line_id}",
                payload,
                payload.delivered_at,
            )


PARSERS: dict[str, Callable[[Path], Parsed]] = {
    "online-retail": parse_online_retail,
    "orders-csv": parse_orders_csv,
    "scms-deliveries": parse_scms,
}


async def ingest(
    bus: Any,
    path: Path,
    fmt: str,
    *,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    product_percent: int = 100,
) -> IngestReport:
    """Publish a file's events to the bus in file order; returns counts and the rejected rows."""
    if fmt not in PARSERS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(sorted(PARSERS))}")
    if not 1 <= product_percent <= 100:
        raise ValueError("product_percent must be between 1 and 100")
    report = IngestReport()
    items = parse_online_retail(path, product_percent) if fmt == "online-retail" else PARSERS[fmt](path)
    pending: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    async def flush() -> None:
        # pipelined: the bus keeps file order per partition and waits for every acknowledgement
        await bus.publish_many(pending)
        if progress is not None:
            progress(len(pending))
        pending.clear()

    for item in items:
        if isinstance(item, Rejection):
            report.rejected.append(item)
            continue
        if limit is not None and report.published >= limit:
            break
        key, value, headers = item.to_record()
        pending.append((item.topic, key, value, headers))
        report.published += 1
        report.by_type[item.type] = report.by_type.get(item.type, 0) + 1
        if len(pending) >= PUBLISH_BATCH:
            await flush()
    if pending:
        await flush()
    return report


__all__ = ["PARSERS", "IngestReport", "OutboundEvent", "Rejection", "encode_payload", "ingest"]
