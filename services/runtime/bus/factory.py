"""Build the bus a settings object asks for: Kafka when a bootstrap is configured, else in-process."""

from __future__ import annotations

from services.runtime.bus.base import Bus
from services.runtime.settings import Settings


def build_bus(settings: Settings, *, client_id: str = "segflow") -> Bus:
    if settings.kafka_bootstrap and settings.mode == "distributed":
        from services.runtime.bus.kafka import KafkaBus

        return KafkaBus(
            settings.kafka_bootstrap,
            namespace=settings.topic_namespace,
            client_id=client_id,
            partitions_override=settings.topic_partitions,
        )
    from services.runtime.bus.memory import MemoryBus

    return MemoryBus(namespace=settings.topic_namespace, partitions_override=settings.topic_partitions)
