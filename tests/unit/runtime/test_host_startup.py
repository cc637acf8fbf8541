"""A starting service waits for parts that are not reachable yet (host._reach_dependencies): retriable
failures are retried with backoff up to ``startup_wait_s``, anything else fails at once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError

from contracts.topics import TopicSpec
from services.runtime.bus.memory import MemoryBus
from services.runtime.db import Database
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings
from tests.support.ledger import MIGRATIONS


class FlakyBus(MemoryBus):
    """``ensure_topics`` fails with ``error`` on its first ``failures`` calls."""

    def __init__(self, failures: int, error: Exception) -> None:
        super().__init__()
        self.failures, self.error, self.calls = failures, error, 0

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        await super().ensure_topics(specs)


def _settings(tmp_path: Path, wait_s: float, **extra: object) -> Settings:
    return Settings(
        env="test", jwt_secret="host-startup-secret-0123456789abcdef", data_dir=tmp_path, startup_wait_s=wait_s,
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_a_broker_that_comes_up_later_is_waited_for(tmp_path: Path) -> None:
    bus = FlakyBus(2, KafkaConnectionError("Unable to bootstrap from 127.0.0.1:9"))
    host = ServiceHost("ledger", _settings(tmp_path, 30.0), migrations=MIGRATIONS, bus=bus)
    await host.start()
    try:
        assert host.started and bus.calls == 3
    finally:
        await host.stop()


async def test_a_broker_still_down_after_the_wait_fails_the_start(tmp_path: Path) -> None:
    bus = FlakyBus(10**6, KafkaConnectionError("Unable to bootstrap from 127.0.0.1:9"))
    host = ServiceHost("ledger", _settings(tmp_path, 0.5), migrations=MIGRATIONS, bus=bus)
    with pytest.raises(KafkaConnectionError):
        await host.start()
    assert bus.calls >= 2 and not host.started  # retried before giving up
    await host.db.stop()


async def test_an_error_that_will_not_heal_fails_at_once(tmp_path: Path) -> None:
    bus = FlakyBus(10**6, ValueError("topic spec refused"))
    host = ServiceHost("ledger", _settings(tmp_path, 30.0), migrations=MIGRATIONS, bus=bus)
    with pytest.raises(ValueError, match="topic spec refused"):
        await host.start()
    assert bus.calls == 1
    await host.db.stop()


async def test_an_unreachable_database_is_retried_and_leaves_no_half_started_engine(tmp_path: Path) -> None:
    settings = _settings(tmp_path, 0.6, database_url="postgresql+asyncpg://segflow:segflow@127.0.0.1:9/none")
    starts = 0

    class CountingDatabase(Database):
        async def start(self) -> None:
            nonlocal starts
            starts += 1
            await super().start()

    db = CountingDatabase("ledger", settings)
    host = ServiceHost("ledger", settings, migrations=MIGRATIONS, bus=MemoryBus(), db=db)
    with pytest.raises(OSError):  # connection refused, after waiting
        await host.start()
    assert starts >= 2 and db._engine is None  # each attempt began from scratch
