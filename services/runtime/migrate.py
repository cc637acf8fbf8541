"""Alembic migrations per service schema, run programmatically on the service's async engine.

Each service has ``services/<name>/migrations/`` with ``env.py`` (one line: ``run_env()``) and
``versions/``. ``upgrade(db, location)`` shares the service's connection with Alembic (the documented
asyncio recipe), so PostgreSQL schemas (search_path) and SQLite files both work. The version table lives
in the service's own schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config

from services.runtime.db import Database


def _config(location: Path, db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    cfg.attributes["schema"] = db.schema
    return cfg


def _upgrade(sync_conn: Any, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, revision)


async def upgrade(db: Database, location: Path, revision: str = "head") -> None:
    """Bring a service's schema to ``revision``."""
    cfg = _config(location, db)
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, cfg, revision)


def run_env() -> None:
    """Body of every service's migrations/env.py: run online on the connection handed over."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through services.runtime.migrate.upgrade (or `segflow init`)")
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table_schema=context.config.attributes.get("schema"),
    )
    with context.begin_transaction():
        context.run_migrations()


def create_runtime_tables() -> None:
    """The outbox and inbox tables; every service's first migration calls this."""
    op.create_table(
        "outbox",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("aggregatetype", sa.String(255), nullable=False),
        sa.Column("aggregateid", sa.String(512), nullable=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "seq"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(255), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )
