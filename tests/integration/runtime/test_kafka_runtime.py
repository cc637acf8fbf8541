"""The runtime on the real Kafka broker and PostgreSQL: outbox, inbox, DLQ, replay, tracing, kcat."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts import topics
from services.runtime import telemetry
from services.runtime.bus.kafka import KafkaBus
from tests.integration.runtime._helpers import distributed_settings, eventually, order_record
from tests.support import ledger

REPO = Path(__file__).resolve().parents[3]


async def test_outboxed_event_reaches_its_consumer_through_kafka(
    fresh_database, kafka_bootstrap, topic_namespace
) -> None:  # type: ignore[no-untyped-def]
    settings = distributed_settings(fresh_database, kafka_bootstrap, topic_namespace)
    host = ledger.build(settings)
    await host.start()
    try:
        for n, (sku, qty) in enumerate([("A", 70), ("A", 40), ("B", 5)]):
            await host.bus.publish(topics.ERP_ORDERS, *order_record(sku, qty, n))

        async def echoed() -> bool:
            return sum(e[2] for e in (await ledger.snapshot(host))["echoes"]) == 3  # type: ignore[index]

        await eventually(echoed, what="three assignments echoed back through Kafka")
        snap = await ledger.snapshot(host)
        assert snap["totals"] == [("A", 110.0, 2), ("B", 5.0, 1)]
        assert [(e[0], e[1]) for e in snap["echoes"]] == [("A", "BIG"), ("B", "SMALL")]  # type: ignore[index]
        assert await host.relay.backlog() == 0
        # the assignments really are on the broker, keyed by dimension:entity
        records = await host.bus.read_all(topics.SEGMENTS_ASSIGNMENTS)
        assert sorted({r.key for r in records}) == [b"product:A", b"product:B"]
    finally:
        await host.stop()


async def test_poison_record_goes_to_dlq_with_reason_and_partition_keeps_flowing(
    fresh_database, kafka_bootstrap, topic_namespace
) -> None:  # type: ignore[no-untyped-def]
    settings = distributed_settings(fresh_database, kafka_bootstrap, topic_namespace)
    host = ledger.build(settings)
    await host.start()
    try:
        key, value, headers = order_record("P", 5, 1)
        # same key (so same partition) for the poison and the good record after it
        await host.bus.publish(
            topics.ERP_ORDERS, key, value.replace(b'"quantity":5.0', b'"quantity":"five"'), headers
        )
        await host.bus.publish(topics.ERP_ORDERS, key, b"not json at all", [("ce_id", b"x")])
        _good_key, good_value, good_headers = order_record("P", 7, 2)
        await host.bus.publish(topics.ERP_ORDERS, key, good_value, good_headers)

        async def flowed() -> bool:
            return (await ledger.snapshot(host))["totals"] == [("P", 7.0, 1)]

        await eventually(flowed, what="the good record after the poison ones")
        dlq = await host.bus.read_all(topics.DLQ)
        assert len(dlq) == 2
        reasons = sorted((r.header("dlq_error") or b"").decode() for r in dlq)
        assert any("quantity" in r for r in reasons), reasons
        assert any("ce_specversion" in r or "ce_source" in r or "missing" in r for r in reasons), reasons
        assert {r.header("dlq_topic") for r in dlq} == {topics.ERP_ORDERS.encode()}
        assert b"not json at all" in {r.value for r in dlq}
    finally:
        await host.stop()


async def test_replay_from_offset_zero_into_fresh_database_rebuilds_identical_state(
    database_url, kafka_bootstrap, topic_namespace
) -> None:  # type: ignore[no-untyped-def]
    import asyncpg
    from sqlalchemy.engine import make_url

    async def new_db(name: str) -> str:
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        return make_url(database_url).set(database=name).render_as_string(hide_password=False)

    suffix = topic_namespace.strip(".")
    first_url, second_url = await new_db(f"replay_a_{suffix}"), await new_db(f"replay_b_{suffix}")
    host = ledger.build(distributed_settings(first_url, kafka_bootstrap, topic_namespace))
    await host.start()
    for n in range(60):
        await host.bus.publish(topics.ERP_ORDERS, *order_record(f"S{n % 9}", float(n % 4 + 1) * 11, n))

    async def done() -> bool:
        return sum(e[2] for e in (await ledger.snapshot(host))["echoes"]) == 60  # type: ignore[index]

    await eventually(done, what="first run consumed")
    first = await ledger.snapshot(host)
    await host.stop()
    bus = KafkaBus(kafka_bootstrap, namespace=topic_namespace)
    await bus.reset_offsets("segflow.ledger", topics.ERP_ORDERS, 0)
    await bus.reset_offsets("segflow.ledger-echo", topics.SEGMENTS_ASSIGNMENTS, 0)
    second_host = ledger.build(distributed_settings(second_url, kafka_bootstrap, topic_namespace))
    await second_host.start()
    try:

        async def replayed() -> bool:
            snap = await ledger.snapshot(second_host)
            return snap["totals"] == first["totals"] and sum(e[2] for e in snap["echoes"]) == 60  # type: ignore[index]

        await eventually(replayed, what="replay rebuilt the state")
        await eventually(lambda: _no_lag(second_host), what="consumers caught up")
        assert await ledger.snapshot(second_host) == first
    finally:
        await second_host.stop()


async def _no_lag(host) -> bool:  # type: ignore[no-untyped-def]
    for c in host.consumers:
        if any((await c.lag()).values()):
            return False
    return True


async def test_one_trace_id_spans_producer_and_consumers(
    fresh_database, kafka_bootstrap, topic_namespace
) -> None:  # type: ignore[no-untyped-def]
    settings = distributed_settings(fresh_database, kafka_bootstrap, topic_namespace)
    exporter = InMemorySpanExporter()
    telemetry.setup_tracing("ledger", settings, extra_processors=[SimpleSpanProcessor(exporter)])
    host = ledger.build(settings)
    await host.start()
    try:
        key, value, headers = order_record("T", 3, 1)
        with telemetry.tracer("test").start_as_current_span("erp-publish") as span:
            hdrs = [h for h in headers if h[0] not in ("traceparent", "tracestate")]
            telemetry.inject_headers(hdrs)
            await host.bus.publish(topics.ERP_ORDERS, key, value, hdrs)
            trace_id = format(span.get_span_context().trace_id, "032x")

        async def echoed() -> bool:
            return len((await ledger.snapshot(host))["echoes"]) == 1

        await eventually(echoed, what="assignment echoed")
        consumer_spans = [s for s in exporter.get_finished_spans() if s.kind.name == "CONSUMER"]
        topics_seen = {
            s.attributes.get("messaging.destination.name")
            for s in consumer_spans
            if format(s.context.trace_id, "032x") == trace_id
        }
        # the order consumer and, through the outbox, the assignment consumer share the producer's trace
        assert any(t and t.endswith(topics.ERP_ORDERS) for t in topics_seen), topics_seen
        assert any(t and t.endswith(topics.SEGMENTS_ASSIGNMENTS) for t in topics_seen), topics_seen
        records = await host.bus.read_all(topics.SEGMENTS_ASSIGNMENTS)
        assert (records[0].header("traceparent") or b"").decode().split("-")[1] == trace_id
    finally:
        await host.stop()


async def test_kcat_reads_an_assignment_with_its_cloudevents_headers(
    fresh_database, kafka_bootstrap, topic_namespace
) -> None:  # type: ignore[no-untyped-def]
    settings = distributed_settings(fresh_database, kafka_bootstrap, topic_namespace)
    host = ledger.build(settings)
    await host.start()
    try:
        await host.bus.publish(topics.ERP_ORDERS, *order_record("K", 150, 1))

        async def published() -> bool:
            return len(await host.bus.read_all(topics.SEGMENTS_ASSIGNMENTS)) == 1

        await eventually(published, what="assignment published")
    finally:
        await host.stop()
    proc = await asyncio.create_subprocess_exec(
        "kcat",
        "-b",
        kafka_bootstrap,
        "-C",
        "-t",
        f"{topic_namespace}{topics.SEGMENTS_ASSIGNMENTS}",
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "KEY=%k\nHEADERS=%h\nVALUE=%s\n",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "KEY=product:K" in text
    for header in (
        "ce_specversion=1.0",
        "ce_type=segflow.segment.assigned",
        "ce_source=segflow/ledger",
        "ce_id=",
        "ce_time=",
        "content-type=application/json",
    ):
        assert header in text, text
    assert '"segment":"BIG"' in text


def _spawn_ledger(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.ledger"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def test_consumer_killed_after_db_commit_before_offset_commit_is_a_no_op_on_redelivery(
    fresh_database, kafka_bootstrap, topic_namespace
) -> None:  # type: ignore[no-untyped-def]
    settings = distributed_settings(fresh_database, kafka_bootstrap, topic_namespace)
    env = {
        **os.environ,
        "SEGFLOW_MODE": "distributed",
        "SEGFLOW_ENV": "test",
        "SEGFLOW_JWT_SECRET": settings.jwt_secret or "",
        "SEGFLOW_DATABASE_URL": fresh_database,
        "SEGFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "SEGFLOW_TOPIC_NAMESPACE": topic_namespace,
        "SEGFLOW_TOPIC_PARTITIONS": "3",
        "SEGFLOW_LOG_LEVEL": "WARNING",
    }
    # the observer reads the state; it never consumes
    observer = ledger.build(settings)
    await observer.db.start()
    from services.runtime.migrate import upgrade

    await upgrade(observer.db, ledger.MIGRATIONS)
    bus = KafkaBus(kafka_bootstrap, namespace=topic_namespace)
    await bus.start()
    from contracts.topics import all_topics

    await bus.ensure_topics(all_topics())
    try:
        await bus.publish(topics.ERP_ORDERS, *order_record("Z", 9, 1))
        crashing = _spawn_ledger({**env, "SEGFLOW_FAULT_POINT": "consumer_after_db_commit"})
        code = await asyncio.to_thread(crashing.wait, 120)
        assert code == -signal.SIGKILL, crashing.stdout.read().decode() if crashing.stdout else code
        # the effect is committed, the offset is not
        assert (await ledger.snapshot(observer))["totals"] == [("Z", 9.0, 1)]
        assert (await bus.committed("segflow.ledger", topics.ERP_ORDERS)) == {}
        healthy = _spawn_ledger(env)
        try:

            async def offset_committed() -> bool:
                return sum((await bus.committed("segflow.ledger", topics.ERP_ORDERS)).values()) == 1

            await eventually(offset_committed, what="redelivered record committed")
            snap = await ledger.snapshot(observer)
            assert snap["totals"] == [("Z", 9.0, 1)]  # applied once, not twice
        finally:
            healthy.send_signal(signal.SIGTERM)
            await asyncio.to_thread(healthy.wait, 60)
    finally:
        await bus.stop()
        await observer.db.stop()
