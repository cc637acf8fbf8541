"""audit: the dedup key as 16 binary bytes instead of 64 hex characters; PostgreSQL: BRIN on captured_us

Every append inserts one random key into the unique dedup index; at 64-char text that index was the largest
PostgreSQL cost of an append (more pages touched and written per batch). Existing keys are converted in
place to the first 16 bytes of the SHA-256 their hex spells (``sealing.DEDUP_KEY_BYTES``), so records
stored before the upgrade still deduplicate. The dedup key is no part of the hash chain: entries, hashes
and proofs are unchanged.

PostgreSQL: ``ALTER COLUMN ... TYPE bytea USING`` (a table rewrite; row triggers do not fire, the unique
index is rebuilt, grants stay). There the captured_us index (read only by the monthly archive's capture-time
range) becomes a BRIN index: capture times grow with seq, so block ranges summarise them well and an append
no longer pays a B-tree insert for it (measured: ~0.4 us of PostgreSQL CPU per entry). SQLite: the column keeps its declared type (dynamic typing stores the BLOBs
as such) and the rows are rewritten by an UPDATE, so the append-only UPDATE trigger is dropped and
recreated around it, inside this migration's transaction.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

KEY_BYTES = 16
UPDATE_TRIGGER = "audit_entries_no_update"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE audit_entries ALTER COLUMN dedup_key TYPE bytea "
            f"USING substring(decode(dedup_key, 'hex') FROM 1 FOR {KEY_BYTES})"
        )
        op.drop_index("ix_audit_entries_captured_us", table_name="audit_entries")
        op.create_index(
            "ix_audit_entries_captured_us", "audit_entries", ["captured_us"], postgresql_using="brin"
        )
        return
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT seq, dedup_key FROM audit_entries WHERE typeof(dedup_key) = 'text'"))
    converted = [{"seq": seq, "key": bytes.fromhex(key)[:KEY_BYTES]} for seq, key in rows]
    if not converted:
        return
    op.execute(f"DROP TRIGGER IF EXISTS {UPDATE_TRIGGER}")
    bind.execute(
        sa.text("UPDATE audit_entries SET dedup_key = :key WHERE seq = :seq").bindparams(
            sa.bindparam("key", type_=sa.LargeBinary)
        ),
        converted,
    )
    op.execute(
        f"CREATE TRIGGER {UPDATE_TRIGGER} BEFORE UPDATE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: UPDATE refused'); END"
    )


def downgrade() -> None:
    raise NotImplementedError("the 16-byte dedup keys cannot be widened back to full SHA-256 hex")
