"""The audit service's tables (SQLAlchemy Core, unqualified; PostgreSQL and SQLite alike).

``audit_entries``, ``audit_subtrees`` and ``audit_checkpoints`` are append-only (triggers, and on PostgreSQL
an application role with INSERT/SELECT only; see migrations). ``audit_chain_head`` is the single row the
capture writer locks; ``audit_subject_keys`` holds the per-data-subject keys that erasure deletes.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("seq", BIGINT, primary_key=True, autoincrement=False),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("kafka_partition", sa.Integer, nullable=False),
    sa.Column("kafka_offset", sa.BigInteger, nullable=False),
    sa.Column("key", sa.Text),
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("type", sa.String(255)),
    sa.Column("subject", sa.Text),
    sa.Column("event_time", sa.String(64)),
    sa.Column("event_id", sa.Text),
    sa.Column("payload_sha256", sa.String(64)),
    sa.Column("payload", sa.LargeBinary),
    sa.Column("entry_hash", sa.LargeBinary, nullable=False),
    # first 16 bytes of a SHA-256 (sealing.DEDUP_KEY_BYTES; bytea since migration 0003; on SQLite the column
    # declared VARCHAR(64) by 0001 holds BLOBs, which SQLite's dynamic typing stores and compares as such)
    sa.Column("dedup_key", sa.LargeBinary, nullable=False, unique=True),
    sa.Column("event_us", sa.BigInteger),
    sa.Column("captured_us", sa.BigInteger, nullable=False),
)

# Roots of completed perfect Merkle subtrees of 2^level leaves (level >= sealing.SUBTREE_MIN_LEVEL), leaves
# [idx * 2^level, (idx + 1) * 2^level): proofs read O(log n) of these instead of every entry hash.
subtrees = sa.Table(
    "audit_subtrees",
    metadata,
    sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idx", BIGINT, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
)

checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("tree_size", BIGINT, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
    sa.Column("timestamp", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

chain_head = sa.Table(
    "audit_chain_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("last_hash", sa.LargeBinary, nullable=False),
    sa.Column("frontier", sa.LargeBinary, nullable=False),
    sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
    sa.Column("checkpoint_us", sa.BigInteger, nullable=False),
)

subject_keys = sa.Table(
    "audit_subject_keys",
    metadata,
    sa.Column("kid", sa.String(32), primary_key=True),
    sa.Column("subject", sa.String(512), nullable=False),
    sa.Column("key", sa.LargeBinary, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

erasures = sa.Table(
    "audit_erasures",
    metadata,
    sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
    sa.Column("subject", sa.String(512), nullable=False),
    sa.Column("keys_deleted", sa.Integer, nullable=False),
    sa.Column("requested_by", sa.String(255), nullable=False),
    sa.Column("erased_us", sa.BigInteger, nullable=False),
)


ENTRY_COLUMNS: tuple[str, ...] = tuple(c.name for c in entries.columns)
