"""File ingestion: deterministic ids, rejected rows with reasons, and the demo's product sample."""

from __future__ import annotations

import csv
import gzip
import zlib
from pathlib import Path

from services.ingest import Rejection, keeps_product, parse_online_retail, parse_orders_csv

HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]


def write_retail(path: Path, rows: list[list[str]]) -> Path:
    with gzip.open(path, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def test_online_retail_mapping_and_rejections(tmp_path: Path) -> None:
    path = write_retail(
        tmp_path / "r.csv.gz",
        [
            ["536365", "85123A", "HEART", "6", "2010-12-01 08:26:00", "2.55", "17850.0", "United Kingdom"],
            ["536365", "71053", "LANTERN", "6", "2010-12-01 08:26:00", "3.39", "", "France"],
            ["C536379", "85123A", "HEART", "-1", "2010-12-01 09:41:00", "2.55", "14527.0", "United Kingdom"],
            ["536370", "POST", "POSTAGE", "3", "2010-12-01 08:45:00", "18", "12583.0", "France"],
            [
                "536371",
                "22423",
                "CAKESTAND",
                "0",
                "2010-12-01 09:00:00",
                "12.75",
                "13047.0",
                "United Kingdom",
            ],
        ],
    )
    items = list(parse_online_retail(path))
    events = [i for i in items if not isinstance(i, Rejection)]
    rejected = [i for i in items if isinstance(i, Rejection)]
    orders = [e for e in events if e.type == "segflow.order.line.placed"]
    assert [(o.payload.order_id, o.payload.line_id, o.payload.customer_id) for o in orders] == [  # type: ignore[attr-defined]
        ("536365", "1", "17850"),
        ("536365", "2", "anonymous"),
    ]
    first_order = next(i for i, e in enumerate(events) if e.type == "segflow.order.line.placed")
    assert {e.type for e in events[:first_order]} == {"segflow.product.upserted", "segflow.customer.upserted"}
    reasons = " | ".join(r.reason for r in rejected)
    assert "cancellation invoice C536379" in reasons and "'POST' is not a product" in reasons
    assert "quantity" in reasons  # the zero quantity, named by the contract's validation
    # the same file gives the same event ids: re-ingesting duplicates nothing downstream
    again = [i for i in parse_online_retail(path) if not isinstance(i, Rejection)]
    assert [e.to_record()[2] for e in events] == [e.to_record()[2] for e in again]


def test_product_sample_is_deterministic_and_keeps_whole_history(tmp_path: Path) -> None:
    codes = [f"{10000 + i}" for i in range(200)]
    kept = [c for c in codes if keeps_product(c, 10)]
    assert kept == [c for c in codes if zlib.crc32(c.encode()) % 100 < 10]
    assert 0 < len(kept) < len(codes)
    rows = [
        [f"5{i:05d}", c, "X", "1", f"2011-0{1 + i % 9}-01 10:00:00", "1.0", "12345.0", "France"]
        for i, c in enumerate(codes * 2)
    ]
    path = write_retail(tmp_path / "s.csv.gz", rows)
    orders = [
        e
        for e in parse_online_retail(path, 10)
        if not isinstance(e, Rejection) and e.type == "segflow.order.line.placed"
    ]
    assert sorted({o.payload.sku for o in orders}) == sorted(kept)  # type: ignore[attr-defined]
    assert len(orders) == 2 * len(kept)


def test_orders_csv_accepts_text_columns_and_names_bad_fields(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text(
        "order_id,line_id,customer_id,customer_source,sku,site,quantity,unit,unit_price,currency,requested_date,ordered_at\n"
        "O1,1,C1,SAP-EU,S1,DC1,12,EA,2.5,EUR,2024-01-10,2024-01-02T10:00:00Z\n"
        "O2,1,C1,SAP-EU,S1,DC1,-3,EA,2.5,EUR,2024-01-10,2024-01-02T10:00:00Z\n"
    )
    items = list(parse_orders_csv(path))
    assert not isinstance(items[0], Rejection) and items[0].payload.quantity == 12  # type: ignore[union-attr]
    assert isinstance(items[1], Rejection) and items[1].line == 3 and "quantity" in items[1].reason
