"""Shared helpers for the runtime's integration tests on the real broker and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.envelope import deterministic_id, new_envelope, to_headers
from contracts.erp import OrderLinePlaced
from services.runtime.settings import Settings
from tests.support.waiting import eventually

TEST_SECRET = "test-secret-0123456789abcdef0123456789"


def distributed_settings(database_url: str, kafka_bootstrap: str, namespace: str) -> Settings:
    return Settings(
        mode="distributed",
        env="test",
        jwt_secret=TEST_SECRET,
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_namespace=namespace,
        topic_partitions=3,
    )


def order_record(
    sku: str, qty: float, n: int, *, customer: str = "C1"
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    ev = OrderLinePlaced(
        order_id=f"O{n}",
        line_id="1",
        customer_id=customer,
        customer_source="test",
        sku=sku,
        site="S1",
        quantity=qty,
        unit="EA",
        unit_price=2.0,
        currency="EUR",
        requested_date=at.date(),
        ordered_at=at,
    )
    env = new_envelope(
        source="erp/test",
        type="segflow.order.line.placed",
        subject=f"O{n}",
        payload=ev,
        id=deterministic_id("test", f"O{n}:1"),
        time=at,
    )
    assert env.data is not None
    return f"O{n}".encode(), env.data, to_headers(env)


__all__ = ["TEST_SECRET", "distributed_settings", "eventually", "order_record"]
