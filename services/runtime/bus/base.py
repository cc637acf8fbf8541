"""The bus interface shared by the Kafka and in-process implementations."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka.partitioner import murmur2

from contracts.topics import TopicSpec

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    """One record as consumed: logical topic name (namespace removed), partition, offset, raw bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=tuple)
    timestamp_ms: int = 0

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


def partition_for(key: bytes | None, partitions: int, round_robin: int = 0) -> int:
    """Kafka's default partitioner: murmur2(key) & 0x7fffffff mod partitions; keyless round-robins."""
    if key is None:
        return round_robin % partitions
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class BusConsumer(abc.ABC):
    """A member of a consumer group, reading its assigned partitions in order."""

    group: str

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def getmany(self, timeout_ms: int = 200, max_records: int = 500) -> list[Record]:
        """The next records of the assigned partitions, each partition in offset order."""

    @abc.abstractmethod
    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit the next offset to read per partition (last processed + 1)."""

    @abc.abstractmethod
    async def seek(self, tp: TopicPartition, offset: int) -> None: ...

    @abc.abstractmethod
    def assignment(self) -> set[TopicPartition]: ...

    def set_revoke_hook(self, hook: object) -> None:
        """Called with the revoked partitions before a rebalance takes them away (commit there)."""
        self._revoke_hook = hook


class Bus(abc.ABC):
    """Publish and consume raw records on logical topic names."""

    namespace: str = ""

    def physical(self, topic: str) -> str:
        """The broker-side name of a topic or consumer group: the namespace isolates both."""
        return f"{self.namespace}{topic}"

    def logical(self, physical: str) -> str:
        if self.namespace and physical.startswith(self.namespace):
            return physical[len(self.namespace) :]
        return physical

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        """Create the topics that do not exist yet, with partitions and cleanup policy from the spec."""

    @abc.abstractmethod
    async def publish(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
    ) -> tuple[int, int]:
        """Publish one record and wait for the acknowledgement; returns (partition, offset)."""

    async def publish_many(
        self, records: Sequence[tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]]
    ) -> list[tuple[int, int]]:
        """Publish records in order and wait for every acknowledgement (implementations may pipeline)."""
        return [await self.publish(t, k, v, h) for t, k, v, h in records]

    @abc.abstractmethod
    def consumer(self, group: str, topics: Sequence[str]) -> BusConsumer: ...

    @abc.abstractmethod
    async def end_offsets(self, topic: str) -> dict[int, int]:
        """The next offset to be written, per partition."""

    @abc.abstractmethod
    async def committed(self, group: str, topic: str) -> dict[int, int]:
        """The committed offsets of a group on a topic, per partition (missing = nothing committed)."""

    @abc.abstractmethod
    async def commit_offsets(self, group: str, topic: str, offsets: dict[int, int]) -> None:
        """Set a group's committed offsets on a topic (the group's members must be stopped)."""

    async def reset_offsets(self, group: str, topic: str, offset: int = 0) -> None:
        """Rewind a stopped group to an offset on every partition of a topic (replay)."""
        ends = await self.end_offsets(topic)
        await self.commit_offsets(group, topic, {p: offset for p in ends})

    @abc.abstractmethod
    async def read_all(self, topic: str) -> list[Record]:
        """Every record of a topic from offset 0 to the current end, partition by partition."""

    @abc.abstractmethod
    async def list_topics(self) -> list[str]:
        """Logical names of the topics that exist (in this bus's namespace)."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise when the bus is unreachable (readiness)."""

    async def compacted(self, topic: str) -> dict[bytes, Record]:
        """The compacted view: the latest record per key; a tombstone (no value) removes the key.

        A key always maps to one partition, so offset order within the partition is the key's order.
        """
        view: dict[bytes, Record] = {}
        for rec in sorted(await self.read_all(topic), key=lambda r: (r.partition, r.offset)):
            if rec.key is None:
                continue
            if rec.value is None:
                view.pop(rec.key, None)
            else:
                view[rec.key] = rec
        return view
