"""The test environment is made of real parts: PostgreSQL, an Apache Kafka broker, Debian's kcat.

These tests talk to what `make test` started (or what SEGFLOW_DATABASE_URL / SEGFLOW_KAFKA_BOOTSTRAP
named) through the same client libraries the services use, and through kcat as an outside client.
"""

from __future__ import annotations

import asyncio
import json
import shutil

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy.engine import make_url

from tests.support.dsn import asyncpg_dsn as _dsn

MAX_POLLS = 120  # liveness guard: give up (and fail) instead of hanging when nothing arrives


async def _run(*argv: str) -> str:
    """Run a command to completion; its stdout (fails the test on a non-zero exit)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"{argv[0]} exited {proc.returncode}: {err.decode(errors='replace')}"
    return out.decode()


async def test_postgres_is_a_real_postgresql_server(database_url: str) -> None:
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        version = await conn.fetchval("select version()")
        server_major = conn.get_server_version().major
        db = await conn.fetchval("select current_database()")
        # A real round trip through the server's executor, not a constant.
        total = await conn.fetchval("select sum(g) from generate_series(1, 100) as g")
    finally:
        await conn.close()
    assert version.startswith("PostgreSQL ")
    assert server_major >= 13  # DROP DATABASE ... WITH (FORCE) needs 13+
    assert db == make_url(database_url).database
    assert total == sum(range(1, 101))


_created_databases: list[str] = []


async def test_fresh_database_is_a_separate_empty_database(database_url: str, fresh_database: str) -> None:
    fresh_name = make_url(fresh_database).database
    assert fresh_name is not None
    assert fresh_name != make_url(database_url).database
    assert make_url(fresh_database).drivername == "postgresql+asyncpg"
    _created_databases.append(fresh_name)

    fresh = await asyncpg.connect(_dsn(fresh_database))
    try:
        assert await fresh.fetchval("select current_database()") == fresh_name
        user_tables = await fresh.fetchval(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        )
        assert user_tables == 0
        await fresh.execute("create table probe (id int primary key)")
        await fresh.execute("insert into probe values (1), (2)")
        assert await fresh.fetchval("select count(*) from probe") == 2
    finally:
        await fresh.close()

    main = await asyncpg.connect(_dsn(database_url))
    try:
        seen_from_main = await main.fetchval("select to_regclass('public.probe') is not null")
    finally:
        await main.close()
    assert seen_from_main is False


async def test_fresh_database_is_dropped_after_its_test(database_url: str) -> None:
    # Runs after the previous test (pytest keeps definition order within a module).
    assert _created_databases, "run together with test_fresh_database_is_a_separate_empty_database"
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        remaining = await conn.fetchval(
            "select count(*) from pg_database where datname = any($1::text[])", _created_databases
        )
    finally:
        await conn.close()
    assert remaining == 0


async def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name=topic, num_partitions=partitions, replication_factor=1)]
        )
        errors = [(name, code) for name, code, *_ in response.topic_errors if code != 0]
        assert errors == [], f"create_topics failed: {errors}"
        # Topic creation is asynchronous in the metadata log: wait until the broker lists it.
        for _ in range(MAX_POLLS):
            if topic in await admin.list_topics():
                break
            await asyncio.sleep(0.1)
        assert topic in await admin.list_topics()
    finally:
        await admin.close()


async def _delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def test_kafka_round_trip_with_an_idempotent_producer(
    kafka_bootstrap: str, topic_namespace: str
) -> None:
    topic = f"{topic_namespace}environment.check"
    await _create_topic(kafka_bootstrap, topic, partitions=3)
    sent = [(f"key-{i % 4}".encode(), f"value-{i}".encode()) for i in range(12)]
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            partition_of_key: dict[bytes, set[int]] = {}
            for key, value in sent:
                meta = await producer.send_and_wait(topic, value, key=key, headers=[("ce_id", value)])
                partition_of_key.setdefault(key, set()).add(meta.partition)
        finally:
            await producer.stop()
        # Same key, same partition: the ordering guarantee the system relies on.
        assert all(len(parts) == 1 for parts in partition_of_key.values())

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"{topic_namespace}environment",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        received: list[tuple[bytes, bytes, tuple]] = []
        try:
            for _ in range(MAX_POLLS):
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    received.extend((r.key, r.value, tuple(r.headers)) for r in records)
                if len(received) >= len(sent):
                    break
            await consumer.commit()
        finally:
            await consumer.stop()

        assert sorted((k, v) for k, v, _ in received) == sorted(sent)
        assert all(headers == (("ce_id", value),) for _, value, headers in received)
        # Per key, values arrive in the order they were produced.
        for key in {k for k, _ in sent}:
            assert [v for k, v, _ in received if k == key] == [v for k, v in sent if k == key]
    finally:
        await _delete_topic(kafka_bootstrap, topic)


async def test_kcat_an_outside_client_sees_the_broker_and_a_record(
    kafka_bootstrap: str, topic_namespace: str
) -> None:
    kcat = shutil.which("kcat")
    assert kcat, "Debian's kcat is missing (scripts/testenv.sh up installs it)"
    topic = f"{topic_namespace}environment.kcat"
    await _create_topic(kafka_bootstrap, topic, partitions=1)
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(
                topic, b'{"segment":"AX"}', key=b"customer:42", headers=[("ce_type", b"t")]
            )
        finally:
            await producer.stop()

        listing = await _run(kcat, "-L", "-J", "-b", kafka_bootstrap, "-m", "30")
        metadata = json.loads(listing)
        assert len(metadata["brokers"]) >= 1
        assert topic in {t["topic"] for t in metadata["topics"]}

        consumed = await _run(
            kcat, "-C", "-J", "-b", kafka_bootstrap, "-t", topic, "-o", "beginning", "-e", "-m", "30"
        )
        records = [json.loads(line) for line in consumed.splitlines() if line.strip()]
        assert len(records) == 1
        assert records[0]["key"] == "customer:42"
        assert json.loads(records[0]["payload"]) == {"segment": "AX"}
        assert records[0]["headers"] == ["ce_type", "t"]
    finally:
        await _delete_topic(kafka_bootstrap, topic)
