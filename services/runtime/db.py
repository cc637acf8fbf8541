"""The database of one service: an async SQLAlchemy engine (asyncpg or aiosqlite) and the unit of work.

Rules:
- PostgreSQL: one schema per service in the shared database, selected with search_path, so a
  service's tables are unqualified in its store and migrations.
- SQLite (embedded mode): one file per service under the data directory, WAL journal.
- Handlers never commit; ``unit_of_work()`` commits when the block succeeds and rolls back otherwise.
- Writes deferred to the commit (services.runtime.commit_hooks) run inside ``unit_of_work()``'s commit;
  one that fails rolls the unit back.
- SQLite: units of work of one process are queued on one lock (SQLite has a single writer); never open
  a unit of work while holding another one of the same database.
- Nothing connects before ``start()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from services.runtime.settings import Settings

INFRA_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, ConnectionError, OSError)


_INFRA_NAMES = frozenset(
    {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "PostgresConnectionError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "InterfaceError",
        "AdminShutdownError",
        "CrashShutdownError",
        "TooManyConnectionsError",
        "ConnectionFailureError",
    }
)


def _sqlstate(exc: BaseException) -> str | None:
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return code if isinstance(code, str) else None


def is_infrastructure_error(exc: BaseException) -> bool:
    """True for errors that mean 'the database is unreachable or restarting': retried forever, never DLQ'd.

    Looks through SQLAlchemy's wrapper (``exc.orig``) and the ``__cause__``/``__context__`` chain, and
    treats SQLSTATE class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect
    now) and 53300 (too many connections) as infrastructure.
    """
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        err = stack.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, INFRA_ERRORS) or type(err).__name__ in _INFRA_NAMES:
            return True
        if isinstance(err, DBAPIError) and err.connection_invalidated:
            return True
        state = _sqlstate(err)
        if state and (state.startswith("08") or state in {"57P01", "57P02", "57P03", "53300"}):
            return True
        stack.extend([getattr(err, "orig", None), err.__cause__, err.__context__])
    return False


class Database:
    """Engine + session factory for one service's schema."""

    def __init__(self, service: str, settings: Settings, *, url: str | None = None) -> None:
        self.service = service
        self.settings = settings
        self.url = url or settings.database_url or self._sqlite_url(settings)
        self.schema = service if self.is_postgres else None
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        # SQLite has one writer per file and fails (SQLITE_BUSY, no waiting) when a read transaction
        # tries to upgrade after another connection wrote; queue this process's writers instead.
        self._sqlite_writer = asyncio.Lock() if not self.is_postgres else None

    @staticmethod
    def _sqlite_url_for(service: str, settings: Settings) -> str:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(settings.data_dir / f'{service}.db').resolve()}"

    def _sqlite_url(self, settings: Settings) -> str:
        return self._sqlite_url_for(self.service, settings)

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError(f"database of {self.service} not started")
        return self._engine

    async def start(self) -> None:
        if self._engine is not None:
            return
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.is_postgres:
            kwargs["connect_args"] = {"server_settings": {"search_path": f"{self.schema},public"}}
            kwargs["pool_size"] = self.settings.db_pool_size
            kwargs["max_overflow"] = self.settings.db_pool_size
        self._engine = create_async_engine(self.url, **kwargs)
        if not self.is_postgres:

            @event.listens_for(self._engine.sync_engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _rec: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA busy_timeout=5000")
                cur.close()

        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        if self.is_postgres:
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            except BaseException:  # unreachable database: a later start() begins again from scratch
                engine, self._engine, self._sessions = self._engine, None, None
                await engine.dispose()
                raise

    async def stop(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A transaction: commit on success, roll back on any exception."""
        if self._sessions is None:
            raise RuntimeError(f"database of {self.service} not started")
        if self._sqlite_writer is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self._sqlite_writer, self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (no commit)."""
        if self._sessions is None:
            raise RuntimeError(f"database of {self.service} not started")
        async with self._sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
