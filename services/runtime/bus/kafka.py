"""The Kafka bus (distributed mode), on aiokafka with the settings this system needs.

Rules:
- Producer: idempotent (enable_idempotence=True implies acks=all); recreated after
  OutOfOrderSequenceNumber (aiokafka #1017) and the send retried.
- Consumer: enable_auto_commit=False, auto_offset_reset="earliest"; the runner commits offset+1 after
  the database commit; a rebalance listener commits processed offsets before partitions are revoked.
- Topics are created from the contracts catalog (auto-create is off on the broker).
- Offsets for lag (end offsets, a group's committed offsets) are read through one long-lived group-less
  consumer and one admin client per bus, opened on first use and reopened after a failure: lag is asked
  every few seconds per consumer, and a client per call cost a connection and a metadata round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTP
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, OutOfOrderSequenceNumber, TopicAlreadyExistsError
from aiokafka.structs import OffsetAndMetadata

from contracts.topics import TopicSpec
from services.runtime.bus.base import Bus, BusConsumer, Record, TopicPartition

_T = TypeVar("_T")


class KafkaBus(Bus):
    """Publish and consume on a real Kafka cluster."""

    def __init__(
        self,
        bootstrap: str,
        *,
        namespace: str = "",
        client_id: str = "segflow",
        partitions_override: int | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.namespace = namespace
        self.client_id = client_id
        self._partitions_override = partitions_override
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._offsets_reader: AIOKafkaConsumer | None = None
        self._offsets_admin: AIOKafkaAdminClient | None = None
        self._offsets_lock = asyncio.Lock()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            request_timeout_ms=30000,
        )

    async def start(self) -> None:
        if self._producer is None:
            producer = self._new_producer()
            try:
                await producer.start()
            except BaseException:  # unreachable broker: a later start() tries with a fresh producer
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer

    async def stop(self) -> None:
        await self._close_offset_clients()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _offset_clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        async with self._offsets_lock:
            if self._offsets_reader is None:
                reader = AIOKafkaConsumer(
                    bootstrap_servers=self.bootstrap,
                    enable_auto_commit=False,
                    client_id=f"{self.client_id}-offsets",
                )
                await reader.start()
                self._offsets_reader = reader
            if self._offsets_admin is None:
                admin = self._admin()
                await admin.start()
                self._offsets_admin = admin
            return self._offsets_reader, self._offsets_admin

    async def _close_offset_clients(self) -> None:
        async with self._offsets_lock:
            reader, self._offsets_reader = self._offsets_reader, None
            admin, self._offsets_admin = self._offsets_admin, None
        if reader is not None:
            await _stop_quietly(reader)
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()

    def _admin(self) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=f"{self.client_id}-admin")

    async def ping(self) -> None:
        admin = self._admin()
        await admin.start()
        try:
            await asyncio.wait_for(admin.describe_cluster(), timeout=5)
        finally:
            await admin.close()

    async def list_topics(self) -> list[str]:
        admin = self._admin()
        await admin.start()
        try:
            names = await admin.list_topics()
        finally:
            await admin.close()
        return sorted(
            self.logical(n) for n in names if n.startswith(self.namespace) and not n.startswith("__")
        )

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        admin = self._admin()
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            new = []
            for spec in specs:
                name = self.physical(spec.name)
                if name in existing:
                    continue
                configs = {"cleanup.policy": spec.cleanup}
                if spec.retention_ms is not None:
                    configs["retention.ms"] = str(spec.retention_ms)
                parts = self._partitions_override or spec.partitions
                new.append(NewTopic(name, num_partitions=parts, replication_factor=1, topic_configs=configs))
            if new:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(new)
        finally:
            await admin.close()
        await self._wait_for_metadata([self.physical(s.name) for s in specs])

    async def _wait_for_metadata(self, topics: list[str]) -> None:
        """Block until every partition of the topics has a leader (topics are created asynchronously;
        producing before that fails with NotLeaderForPartition)."""
        await self.start()
        assert self._producer is not None
        client = self._producer.client
        for _ in range(300):
            await client.force_metadata_update()
            ready = True
            for name in topics:
                parts = client.cluster.partitions_for_topic(name)
                if not parts or any(
                    client.cluster.leader_for_partition(KafkaTP(name, p)) in (None, -1) for p in parts
                ):
                    ready = False
                    break
            if ready:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"topics without partition leaders: {topics}")

    async def publish(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
    ) -> tuple[int, int]:
        await self.start()
        for attempt in range(3):
            assert self._producer is not None
            try:
                meta = await self._producer.send_and_wait(
                    self.physical(topic), value=value, key=key, headers=list(headers)
                )
                return meta.partition, meta.offset
            except OutOfOrderSequenceNumber:
                async with self._lock:
                    old, self._producer = self._producer, self._new_producer()
                    await old.stop()
                    await self._producer.start()
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    async def publish_many(
        self, records: Sequence[tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]]
    ) -> list[tuple[int, int]]:
        """Pipelined: enqueue every record (the idempotent producer keeps per-partition order), then await
        all acknowledgements. On OutOfOrderSequenceNumber the producer is recreated and the remaining
        records are sent one by one."""
        await self.start()
        assert self._producer is not None
        try:
            futures = [
                await self._producer.send(self.physical(t), value=v, key=k, headers=list(h))
                for t, k, v, h in records
            ]
            metas = await asyncio.gather(*futures)
            return [(m.partition, m.offset) for m in metas]
        except OutOfOrderSequenceNumber:
            return [await self.publish(t, k, v, h) for t, k, v, h in records]

    def consumer(self, group: str, topics: Sequence[str]) -> KafkaConsumer:
        return KafkaConsumer(self, group, list(topics))

    async def end_offsets(self, topic: str) -> dict[int, int]:
        name = self.physical(topic)

        async def read() -> dict[int, int]:
            reader, _ = await self._offset_clients()
            parts = reader.partitions_for_topic(name) or set()
            if not parts:  # a topic created after the reader's last metadata refresh
                await reader._client.force_metadata_update()
                parts = reader.partitions_for_topic(name) or set()
            tps = [KafkaTP(name, p) for p in sorted(parts)]
            ends = await reader.end_offsets(tps) if tps else {}
            return {tp.partition: off for tp, off in ends.items()}

        return await self._with_offset_clients(read)

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed offset per partition of ``topic`` (partitions never committed: absent)."""
        name = self.physical(topic)

        async def read() -> dict[int, int]:
            _, admin = await self._offset_clients()
            offsets = await admin.list_consumer_group_offsets(self.physical(group))
            return {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == name and m.offset >= 0}

        return await self._with_offset_clients(read)

    async def _with_offset_clients(self, read: Callable[[], Awaitable[_T]], attempts: int = 5) -> _T:
        """Run ``read``; after a failure the clients are reopened, and a retriable broker error (coordinator
        moving or loading after a restart, a lost connection) is retried with a short backoff."""
        for attempt in range(attempts):
            try:
                return await read()
            except Exception as exc:
                await self._close_offset_clients()
                if attempt == attempts - 1 or not (isinstance(exc, KafkaError) and exc.retriable):
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError("unreachable")

    async def read_all(self, topic: str) -> list[Record]:
        ends = await self.end_offsets(topic)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        out: list[Record] = []
        try:
            tps = [KafkaTP(self.physical(topic), p) for p in sorted(ends) if ends[p] > 0]
            if not tps:
                return []
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            last_needed = {tp: ends[tp.partition] - 1 for tp in tps}
            while last_needed:
                batch = await consumer.getmany(*last_needed.keys(), timeout_ms=1000)
                for tp, msgs in batch.items():
                    for m in msgs:
                        if m.offset < ends[tp.partition]:
                            out.append(_to_record(self, m))
                        if tp in last_needed and m.offset >= last_needed[tp]:
                            last_needed.pop(tp)
                if not batch:
                    # compaction can remove offsets: stop once the position passed the end
                    for tp in list(last_needed):
                        if await consumer.position(tp) >= ends[tp.partition]:
                            last_needed.pop(tp)
        finally:
            await _stop_quietly(consumer)
        return out

    async def commit_offsets(self, group: str, topic: str, offsets: dict[int, int]) -> None:
        if not offsets:
            return
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.physical(group), enable_auto_commit=False
        )
        await consumer.start()
        try:
            tps = {KafkaTP(self.physical(topic), p): OffsetAndMetadata(o, "") for p, o in offsets.items()}
            consumer.assign(list(tps))
            await consumer.commit(tps)
        finally:
            await _stop_quietly(consumer)


async def _stop_quietly(consumer: AIOKafkaConsumer) -> None:
    """Stop a short-lived consumer. aiokafka's NoGroupCoordinator.close re-raises the CancelledError of
    its own cancelled background task; swallow that one, but never a cancellation of our own task."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


def _to_record(bus: Bus, m: object) -> Record:
    headers = tuple((k, bytes(v) if v is not None else b"") for k, v in (m.headers or ()))  # type: ignore[attr-defined]
    return Record(
        topic=bus.logical(m.topic),  # type: ignore[attr-defined]
        partition=m.partition,  # type: ignore[attr-defined]
        offset=m.offset,  # type: ignore[attr-defined]
        key=m.key,  # type: ignore[attr-defined]
        value=m.value,  # type: ignore[attr-defined]
        headers=headers,
        timestamp_ms=m.timestamp,  # type: ignore[attr-defined]
    )


class _RevokeListener(ConsumerRebalanceListener):
    def __init__(self, owner: KafkaConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[KafkaTP]) -> None:
        hook = self.owner._revoke_hook
        if callable(hook):
            result = hook({TopicPartition(self.owner.bus.logical(tp.topic), tp.partition) for tp in revoked})
            if asyncio.iscoroutine(result):
                await result

    async def on_partitions_assigned(self, assigned: list[KafkaTP]) -> None:
        return None


class KafkaConsumer(BusConsumer):
    """A consumer-group member on Kafka with manual commits."""

    def __init__(self, bus: KafkaBus, group: str, topics: list[str]) -> None:
        self.bus = bus
        self.group = group
        self.topics = topics
        self._revoke_hook = None
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bus.bootstrap,
            group_id=bus.physical(group),
            client_id=f"{bus.client_id}-{group}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
            session_timeout_ms=10000,
            heartbeat_interval_ms=1000,
            isolation_level="read_committed",
        )

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe([self.bus.physical(t) for t in self.topics], listener=_RevokeListener(self))

    async def stop(self) -> None:
        await self._consumer.stop()

    async def getmany(self, timeout_ms: int = 200, max_records: int = 500) -> list[Record]:
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        out: list[Record] = []
        for _tp, msgs in sorted(batch.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
            out.extend(_to_record(self.bus, m) for m in msgs)
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        await self._consumer.commit(
            {KafkaTP(self.bus.physical(tp.topic), tp.partition): off for tp, off in offsets.items()}
        )

    async def seek(self, tp: TopicPartition, offset: int) -> None:
        self._consumer.seek(KafkaTP(self.bus.physical(tp.topic), tp.partition), offset)

    def assignment(self) -> set[TopicPartition]:
        return {
            TopicPartition(self.bus.logical(tp.topic), tp.partition) for tp in self._consumer.assignment()
        }
