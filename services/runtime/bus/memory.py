"""The in-process bus (embedded mode): Kafka's semantics in one event loop, nothing to start.

Topics are lists of partitions; a record goes to murmur2(key) mod partitions like Kafka's default
partitioner. Consumer groups split a topic's partitions across their members (range assignment over
sorted member ids, rebalanced when a member joins or leaves) and resume from committed offsets.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence

from contracts.topics import TopicSpec, spec_for
from services.runtime.bus.base import Bus, BusConsumer, Record, TopicPartition, partition_for


class UnknownTopicError(LookupError):
    """Publishing to or consuming from a topic that was never created (auto-create is off)."""


class MemoryBus(Bus):
    """All topics, offsets and groups of one process."""

    def __init__(self, namespace: str = "", partitions_override: int | None = None) -> None:
        self.namespace = namespace
        self._partitions_override = partitions_override
        self._logs: dict[str, list[list[Record]]] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._members: dict[str, list[MemoryConsumer]] = defaultdict(list)
        self._new_data = asyncio.Condition()
        self._rr = itertools.count()
        self._ids = itertools.count()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        for spec in specs:
            if spec.name not in self._logs:
                n = self._partitions_override or spec.partitions
                self._logs[spec.name] = [[] for _ in range(n)]

    def _log(self, topic: str) -> list[list[Record]]:
        try:
            return self._logs[topic]
        except KeyError:
            raise UnknownTopicError(f"topic {topic!r} does not exist (create it from the catalog)") from None

    async def publish(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
    ) -> tuple[int, int]:
        log = self._log(topic)
        p = partition_for(key, len(log), next(self._rr))
        rec = Record(topic, p, len(log[p]), key, value, tuple(headers), int(time.time() * 1000))
        log[p].append(rec)
        async with self._new_data:
            self._new_data.notify_all()
        return p, rec.offset

    async def ensure_partner_topic(self, partner_id: str) -> None:
        from contracts.topics import partner_topic

        await self.ensure_topics([spec_for(partner_topic(partner_id))])

    def consumer(self, group: str, topics: Sequence[str]) -> MemoryConsumer:
        return MemoryConsumer(self, group, list(topics), next(self._ids))

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return {p: len(part) for p, part in enumerate(self._log(topic))}

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        return {p: o for (g, t, p), o in self._committed.items() if g == group and t == topic}

    async def read_all(self, topic: str) -> list[Record]:
        return [rec for part in self._log(topic) for rec in part]

    async def list_topics(self) -> list[str]:
        return sorted(self.logical(t) for t in self._logs)

    # group membership -----------------------------------------------------------------------------
    async def _join(self, member: MemoryConsumer) -> None:
        self._members[member.group].append(member)
        await self._rebalance(member.group)

    async def _leave(self, member: MemoryConsumer) -> None:
        if member in self._members[member.group]:
            self._members[member.group].remove(member)
            await self._rebalance(member.group)

    async def _rebalance(self, group: str) -> None:
        """Range assignment per topic over members sorted by id; revoked partitions are committed first."""
        members = sorted(self._members[group], key=lambda m: m.member_id)
        plan: dict[int, set[TopicPartition]] = {m.member_id: set() for m in members}
        all_topics = sorted({t for m in members for t in m.topics})
        for topic in all_topics:
            subscribed = [m for m in members if topic in m.topics]
            n = len(self._log(topic))
            for p in range(n):
                owner = subscribed[p * len(subscribed) // n] if subscribed else None
                if owner is not None:
                    plan[owner.member_id].add(TopicPartition(topic, p))
        for m in members:
            await m._assign(plan[m.member_id])

    def _commit(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        for tp, off in offsets.items():
            self._committed[(group, tp.topic, tp.partition)] = off

    async def commit_offsets(self, group: str, topic: str, offsets: dict[int, int]) -> None:
        self._log(topic)
        for p, off in offsets.items():
            self._committed[(group, topic, p)] = off


class MemoryConsumer(BusConsumer):
    """One member of a consumer group on the in-process bus."""

    def __init__(self, bus: MemoryBus, group: str, topics: list[str], member_id: int) -> None:
        self.bus = bus
        self.group = group
        self.topics = topics
        self.member_id = member_id
        self._positions: dict[TopicPartition, int] = {}
        self._revoke_hook = None
        self._running = False

    async def start(self) -> None:
        for t in self.topics:
            self.bus._log(t)
        self._running = True
        await self.bus._join(self)

    async def stop(self) -> None:
        self._running = False
        await self.bus._leave(self)

    async def _assign(self, partitions: set[TopicPartition]) -> None:
        revoked = set(self._positions) - partitions
        if revoked and callable(self._revoke_hook):
            result = self._revoke_hook(revoked)
            if asyncio.iscoroutine(result):
                await result
        for tp in revoked:
            self._positions.pop(tp, None)
        for tp in partitions - set(self._positions):
            self._positions[tp] = self.bus._committed.get((self.group, tp.topic, tp.partition), 0)

    def assignment(self) -> set[TopicPartition]:
        return set(self._positions)

    def _available(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        for tp in sorted(self._positions, key=lambda x: (x.topic, x.partition)):
            part = self.bus._logs[tp.topic][tp.partition]
            pos = self._positions[tp]
            if pos < len(part):
                take = part[pos : pos + max(1, max_records - len(out))]
                out.extend(take)
                self._positions[tp] = pos + len(take)
            if len(out) >= max_records:
                break
        return out

    async def getmany(self, timeout_ms: int = 200, max_records: int = 500) -> list[Record]:
        recs = self._available(max_records)
        if recs or not self._running:
            return recs
        try:
            async with self.bus._new_data:
                await asyncio.wait_for(self.bus._new_data.wait(), timeout_ms / 1000)
        except TimeoutError:
            return []
        return self._available(max_records)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.bus._commit(self.group, offsets)

    async def seek(self, tp: TopicPartition, offset: int) -> None:
        self._positions[tp] = offset
