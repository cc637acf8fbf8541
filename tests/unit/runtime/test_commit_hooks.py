"""services.runtime.commit_hooks on SQLite, through the runtime's unit of work: deferred state is written
once just before the commit, in registration order (``last`` keys after the others), never on rollback, and
belongs to one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.runtime.commit_hooks import deferred, flush_now
from services.runtime.db import Database
from services.runtime.settings import Settings

metadata = MetaData()
written = Table(
    "written",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("hook", String, nullable=False),
    Column("item", String, nullable=False),
)


class Boom(Exception):
    pass


class Recorder:
    """Flushes that insert their state's items (one row each, in order) and log every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def flush_for(self, hook: str, fail: bool = False) -> Callable[[Session, list[str]], None]:
        def flush(session: Session, items: list[str]) -> None:
            self.calls.append((hook, list(items)))
            if items:
                session.execute(insert(written), [{"hook": hook, "item": item} for item in items])
            if fail:
                raise Boom(hook)

        return flush

    def add(
        self, session: AsyncSession, hook: str, item: str, fail: bool = False, last: bool = False
    ) -> list[str]:
        items = deferred(session, hook, list, self.flush_for(hook, fail), last=last)
        items.append(item)
        return items


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database("hooks", Settings(data_dir=tmp_path, mode="embedded"))
    await database.start()
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield database
    finally:
        await database.stop()


async def stored(db: Database) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = (await session.execute(select(written.c.hook, written.c.item).order_by(written.c.seq))).all()
    return [(r.hook, r.item) for r in rows]


async def test_the_flushes_run_once_at_commit_in_registration_order(db: Database) -> None:
    recorder = Recorder()
    async with db.unit_of_work() as session:
        recorder.add(session, "b", "b1")
        recorder.add(session, "a", "a1")
        assert recorder.add(session, "b", "b2") == ["b1", "b2"]  # the same state, whatever the call
        assert recorder.calls == []  # nothing before the commit
    assert recorder.calls == [("b", ["b1", "b2"]), ("a", ["a1"])]
    assert await stored(db) == [("b", "b1"), ("b", "b2"), ("a", "a1")]


async def test_a_last_key_is_flushed_after_every_other_whenever_it_was_registered(db: Database) -> None:
    recorder = Recorder()
    async with db.unit_of_work() as session:
        recorder.add(session, "counters", "c1", last=True)
        recorder.add(session, "a", "a1")
        recorder.add(session, "final", "f1", last=True)
        await flush_now(session, "a")  # an early write, then "a" registered again after the last keys
        recorder.add(session, "a", "a2")
        recorder.add(session, "counters", "c2")  # the same state: still last
    assert [hook for hook, _ in recorder.calls] == ["a", "a", "counters", "final"]
    assert await stored(db) == [
        ("a", "a1"),
        ("a", "a2"),
        ("counters", "c1"),
        ("counters", "c2"),
        ("final", "f1"),
    ]


async def test_a_rolled_back_unit_writes_nothing(db: Database) -> None:
    recorder = Recorder()
    with pytest.raises(Boom):
        async with db.unit_of_work() as session:
            recorder.add(session, "a", "a1")
            raise Boom
    assert recorder.calls == [] and await stored(db) == []


async def test_a_failing_flush_fails_the_commit_and_rolls_back_the_others(db: Database) -> None:
    recorder = Recorder()
    with pytest.raises(Boom):
        async with db.unit_of_work() as session:
            recorder.add(session, "a", "a1")  # written first, then rolled back with the unit
            recorder.add(session, "b", "b1", fail=True)
            recorder.add(session, "c", "c1")  # never runs: the commit failed before it
    assert [hook for hook, _ in recorder.calls] == ["a", "b"]
    assert await stored(db) == []
    async with db.unit_of_work() as session:  # the database is usable afterwards
        recorder.add(session, "a", "a2")
    assert await stored(db) == [("a", "a2")]


async def test_flush_now_writes_early_and_the_commit_writes_the_rest_once(db: Database) -> None:
    recorder = Recorder()
    async with db.unit_of_work() as session:
        recorder.add(session, "a", "a1")
        recorder.add(session, "b", "b1")
        await flush_now(session, "a")
        seen = (await session.execute(select(written.c.item))).scalars().all()
        assert seen == ["a1"]  # read your own writes inside the transaction
        await flush_now(session, "a")  # nothing left under "a": no second write
        await flush_now(session, "unknown")
        assert recorder.add(session, "a", "a2") == ["a2"]  # a fresh state after the early write
    assert recorder.calls == [("a", ["a1"]), ("b", ["b1"]), ("a", ["a2"])]
    assert await stored(db) == [("a", "a1"), ("b", "b1"), ("a", "a2")]


async def test_the_state_belongs_to_one_transaction(db: Database) -> None:
    recorder = Recorder()
    async with db.unit_of_work() as session:
        recorder.add(session, "a", "a1")
    async with db.unit_of_work() as session:
        assert recorder.add(session, "a", "a2") == ["a2"]  # a second unit of work starts empty
    assert await stored(db) == [("a", "a1"), ("a", "a2")]


async def test_a_later_transaction_of_the_same_session_drops_a_rolled_back_state(db: Database) -> None:
    recorder = Recorder()
    async with db.read() as session:
        with pytest.raises(Boom):
            async with session.begin():
                recorder.add(session, "a", "lost")
                raise Boom
        async with session.begin():
            assert recorder.add(session, "a", "kept") == ["kept"]
        async with session.begin():
            pass  # a commit with nothing deferred
    assert recorder.calls == [("a", ["kept"])]
    assert await stored(db) == [("a", "kept")]


async def test_deferring_needs_an_open_transaction(db: Database) -> None:
    async with db.read() as session:
        with pytest.raises(RuntimeError, match="open transaction"):
            deferred(session, "a", list, Recorder().flush_for("a"))


async def test_a_savepoint_release_flushes_what_was_deferred_so_far(db: Database) -> None:
    recorder = Recorder()
    async with db.unit_of_work() as session:
        recorder.add(session, "a", "a1")
        async with session.begin_nested():
            recorder.add(session, "b", "b1")
        assert recorder.calls == [("a", ["a1"]), ("b", ["b1"])]
        assert recorder.add(session, "a", "a2") == ["a2"]
    assert recorder.calls == [("a", ["a1"]), ("b", ["b1"]), ("a", ["a2"])]
    assert await stored(db) == [("a", "a1"), ("b", "b1"), ("a", "a2")]
