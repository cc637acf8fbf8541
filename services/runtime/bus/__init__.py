"""The event bus: one interface, two implementations (Kafka and in-process) with the same semantics.

Semantics both honour: records are partitioned by key (Kafka's murmur2), a partition is an ordered log
with offsets, consumer groups share partitions and resume from committed offsets, a consumer can seek
(replay from an offset), and a compacted view gives the latest value per key (tombstones delete).
"""

from services.runtime.bus.base import Bus, BusConsumer, Record, TopicPartition
from services.runtime.bus.factory import build_bus

__all__ = ["Bus", "BusConsumer", "Record", "TopicPartition", "build_bus"]
