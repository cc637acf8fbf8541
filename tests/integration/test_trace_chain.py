"""One trace across processes, on REAL Kafka + PostgreSQL: gateway, allocator and audit run as separate
processes (``python -m services.cli run <service>``), each exporting spans via OTLP/HTTP to an in-test
collector (tests/support/realchain_otlp.py). A promise through the gateway should give ONE trace id covering
the gateway's promise HTTP span -> the allocator's HTTP span -> the allocator's outbox publish to Kafka ->
the audit consumer's processing of that promise event, linked parent -> child across the processes.

Each link is asserted on its own (gateway -> allocator through the CLIENT span's traceparent; the outbox
PRODUCER span named by the record's traceparent; the audit CONSUMER span as its child), then the whole tree.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from contracts.topics import all_topics
from services.runtime.auth import issue_token
from services.runtime.bus.factory import build_bus
from services.runtime.settings import Settings
from tests.support.realchain_otlp import CollectedSpan, OtlpCollector
from tests.support.realchain_procs import (
    TEST_SECRET,
    ServiceProcess,
    asyncpg_dsn,
    drop_database,
    new_database,
    service_env,
    spawn_service,
)
from tests.unit.allocator.events import assignment, position

SERVICES = ("allocator", "audit", "gateway")


@dataclass
class Observed:
    spans: list[CollectedSpan]
    promise_id: str
    audit_headers: dict[str, str]  # the promise.made record's Kafka headers as the audit log captured them

    def of(self, service: str) -> list[CollectedSpan]:
        return [s for s in self.spans if s.service == service]

    def server_promise(self, service: str) -> CollectedSpan:
        [span] = [s for s in self.of(service) if s.kind == "SERVER" and s.name == "POST /v1/promise"]
        return span


async def _until_true(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.25)


async def _scenario(admin_url: str, bootstrap: str, logs: Path) -> Observed:
    namespace = f"tr{secrets.token_hex(4)}."
    dbs = {name: await new_database(admin_url, f"segflow_tr_{name[:4]}") for name in SERVICES}
    settings = Settings(
        mode="distributed", env="test", jwt_secret=TEST_SECRET, database_url=dbs["allocator"],
        kafka_bootstrap=bootstrap, topic_namespace=namespace, topic_partitions=3,
    )  # fmt: skip
    bus = build_bus(settings, client_id="trace-test")
    procs: dict[str, ServiceProcess] = {}
    with OtlpCollector() as collector:
        try:
            await bus.start()
            await bus.ensure_topics(all_topics())
            otel = {"SEGFLOW_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
            for name in ("allocator", "audit"):
                env = service_env(
                    database_url=dbs[name], bootstrap=bootstrap, namespace=namespace, partitions=3,
                    data_dir=logs / name, extra=otel,
                )  # fmt: skip
                procs[name] = spawn_service(name, env, logs)
            await asyncio.gather(*(p.wait_healthy() for p in procs.values()))
            env = service_env(
                database_url=dbs["gateway"], bootstrap=bootstrap, namespace=namespace, partitions=3,
                data_dir=logs / "gateway", extra={**otel, "SEGFLOW_ALLOCATOR_URL": procs["allocator"].url},
            )  # fmt: skip
            procs["gateway"] = spawn_service("gateway", env, logs)
            await procs["gateway"].wait_healthy()
            for topic, key, value, headers in (
                assignment("BIG", "GOLD", 1, "win"),
                position("SKU", "S1", 30),
            ):
                await bus.publish(topic, key, value, headers)
            token = issue_token(settings, subject="shop", roles=["service"])
            auth = {"Authorization": f"Bearer {token}"}
            today = dt.datetime.now(dt.UTC).date().isoformat()
            base = {
                "sku": "SKU",
                "site": "S1",
                "requested_date": today,
                "customer_id": "BIG",
                "customer_source": "test",
            }
            async with httpx.AsyncClient(headers=auth, timeout=30) as client:

                async def supply_known() -> bool:
                    atp = await client.get(
                        f"{procs['allocator'].url}/v1/atp", params={"sku": "SKU", "site": "S1"}
                    )
                    last[:] = [f"{atp.status_code} {atp.text[:300]}"]
                    return atp.status_code == 200 and atp.json().get("promisable") == 30

                last: list[str] = []
                try:
                    await _until_true(supply_known, 180, "allocator saw the inventory position")
                except AssertionError as error:
                    raise AssertionError(
                        f"{error}; last answer {last}:\n{procs['allocator'].log_tail()}"
                    ) from None
                answer = await client.post(
                    f"{procs['gateway'].url}/v1/promise",
                    json={**base, "idempotency_key": "trace-1", "quantity": 5},
                )
            assert answer.status_code == 200, answer.text
            promise_id = answer.json()["promise_id"]
            assert promise_id and answer.json()["degraded"] is False
            audit_db = await asyncpg.connect(asyncpg_dsn(dbs["audit"]))
            try:
                rows: list[asyncpg.Record] = []

                async def promise_audited() -> bool:
                    nonlocal rows
                    rows = await audit_db.fetch(
                        "SELECT headers, payload FROM audit.audit_entries WHERE type = 'segflow.promise.made'"
                    )
                    return bool(rows)

                await _until_true(promise_audited, 120, "audit captured promise.made")
            finally:
                await audit_db.close()
            [row] = [r for r in rows if orjson.loads(r["payload"]).get("promise_id") == promise_id]
            # the audit log stores each header as [name, base64(value)], in record order
            captured = {k: base64.b64decode(v).decode() for k, v in orjson.loads(row["headers"])}
            # SIGTERM: each host shuts down and its tracer provider flushes the batch exporter
            await asyncio.gather(*(p.stop() for p in procs.values()))
            await asyncio.sleep(0.5)
            return Observed(collector.spans(), promise_id, captured)
        finally:
            await asyncio.gather(*(p.stop() for p in procs.values()))
            await bus.stop()
            for url in dbs.values():
                await drop_database(admin_url, url)


@pytest.fixture(scope="module")
def observed(database_url: str, kafka_bootstrap: str) -> Iterator[Observed]:
    with tempfile.TemporaryDirectory(prefix="trace-chain-") as logs:
        yield asyncio.run(_scenario(database_url, kafka_bootstrap, Path(logs)))


def _traceparent(value: str) -> tuple[str, str]:
    version, trace_id, span_id, _flags = value.split("-")
    assert version == "00" and len(trace_id) == 32 and len(span_id) == 16
    return trace_id, span_id


def test_each_process_exports_its_promise_http_span(observed: Observed) -> None:
    gateway, allocator = observed.server_promise("gateway"), observed.server_promise("allocator")
    assert gateway.span_id != allocator.span_id
    assert {s.service for s in observed.spans} >= {"gateway", "allocator"}


def test_allocator_request_context_travels_on_kafka_into_the_audit_log(observed: Observed) -> None:
    """The promise.made record carries the allocator's request context (outbox row -> Kafka headers)."""
    allocator = observed.server_promise("allocator")
    trace_id, parent = _traceparent(observed.audit_headers["traceparent"])
    assert trace_id == allocator.trace_id
    in_request = {s.span_id for s in observed.of("allocator") if s.trace_id == allocator.trace_id}
    assert parent in in_request  # a span of the allocator's promise request, not a stranger


def test_gateway_and_allocator_share_one_trace(observed: Observed) -> None:
    gateway, allocator = observed.server_promise("gateway"), observed.server_promise("allocator")
    assert allocator.trace_id == gateway.trace_id
    gateway_spans = {s.span_id for s in observed.of("gateway") if s.trace_id == gateway.trace_id}
    assert allocator.parent_span_id in gateway_spans  # child of the gateway's outgoing call


def test_outbox_publish_is_a_producer_span_in_the_request_trace(observed: Observed) -> None:
    allocator = observed.server_promise("allocator")
    [publish] = [
        s
        for s in observed.of("allocator")
        if s.kind == "PRODUCER"
        and str(s.attributes.get("messaging.destination.name", "")).endswith("promises.v1")
    ]
    assert publish.trace_id == allocator.trace_id
    # the record's traceparent names the publish span, so consumers become its children
    assert _traceparent(observed.audit_headers["traceparent"])[1] == publish.span_id


def test_audit_processing_span_is_a_child_of_the_promise_record(observed: Observed) -> None:
    trace_id, parent = _traceparent(observed.audit_headers["traceparent"])
    consumers = [
        s
        for s in observed.of("audit")
        if s.kind == "CONSUMER"
        and str(s.attributes.get("messaging.destination.name", "")).endswith("promises.v1")
    ]
    assert any(s.trace_id == trace_id and s.parent_span_id == parent for s in consumers)


def test_one_trace_covers_gateway_allocator_publish_and_audit(observed: Observed) -> None:
    gateway = observed.server_promise("gateway")
    in_trace = [s for s in observed.spans if s.trace_id == gateway.trace_id]
    assert {"gateway", "allocator", "audit"} <= {s.service for s in in_trace}
    kinds = {(s.service, s.kind) for s in in_trace}
    assert {
        ("gateway", "SERVER"),
        ("allocator", "SERVER"),
        ("allocator", "PRODUCER"),
        ("audit", "CONSUMER"),
    } <= kinds
    by_id = {s.span_id: s for s in in_trace}
    for span in in_trace:  # one tree: every parent is in the trace, the gateway's span is the only root
        assert span.parent_span_id == "" or span.parent_span_id in by_id
    assert [s for s in in_trace if s.parent_span_id == ""] == [gateway]
