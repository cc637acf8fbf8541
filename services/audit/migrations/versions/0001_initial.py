"""audit tables: append-only entries and checkpoints (triggers + app role), chain head, subject keys

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None

APP_ROLE = "segflow_audit_app"
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("audit_entries", "audit_checkpoints")


def upgrade() -> None:
    create_runtime_tables()
    op.create_table(
        "audit_entries",
        sa.Column("seq", BIGINT, primary_key=True, autoincrement=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("kafka_partition", sa.Integer, nullable=False),
        sa.Column("kafka_offset", sa.BigInteger, nullable=False),
        sa.Column("key", sa.Text, nullable=True),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("type", sa.String(255), nullable=True),
        sa.Column("subject", sa.Text, nullable=True),
        sa.Column("event_time", sa.String(64), nullable=True),
        sa.Column("event_id", sa.Text, nullable=True),
        sa.Column("payload_sha256", sa.String(64), nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=True),
        sa.Column("entry_hash", sa.LargeBinary, nullable=False),
        sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
        sa.Column("event_us", sa.BigInteger, nullable=True),
        sa.Column("captured_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_audit_entries_topic", "audit_entries", ["topic", "seq"])
    op.create_index("ix_audit_entries_type", "audit_entries", ["type", "seq"])
    op.create_index("ix_audit_entries_subject", "audit_entries", ["subject", "seq"])
    op.create_index("ix_audit_entries_key", "audit_entries", ["key", "event_us"])
    op.create_index("ix_audit_entries_event_us", "audit_entries", ["event_us"])
    op.create_index("ix_audit_entries_captured_us", "audit_entries", ["captured_us"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", BIGINT, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
        sa.Column("timestamp", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.LargeBinary, nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
        sa.Column("checkpoint_us", sa.BigInteger, nullable=False),
    )
    op.execute(
        sa.text(
            "INSERT INTO audit_chain_head (id, size, last_hash, frontier, checkpoint_size, checkpoint_us) "
            "VALUES (1, 0, :genesis, :empty, 0, 0)"
        ).bindparams(
            sa.bindparam("genesis", bytes(32), type_=sa.LargeBinary),
            sa.bindparam("empty", b"", type_=sa.LargeBinary),
        )
    )
    op.create_table(
        "audit_subject_keys",
        sa.Column("kid", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(512), nullable=False, index=True),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audit_erasures",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(512), nullable=False, index=True),
        sa.Column("keys_deleted", sa.Integer, nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("erased_us", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_enforcement()
    else:
        _sqlite_enforcement()


def _sqlite_enforcement() -> None:
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
            )


def _postgres_enforcement() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()"
        )
        # ENABLE ALWAYS: the triggers fire even under session_replication_role = replica
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_change")
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate")
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created concurrently by another migration
        END
        $$
        """
    )
    op.execute(f"DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO {APP_ROLE}', current_schema()); END $$")
    for table in APPEND_ONLY:
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC, {APP_ROLE}")
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, UPDATE ON audit_chain_head TO {APP_ROLE}")
    for table in ("audit_subject_keys", "audit_erasures", "outbox", "inbox"):
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute(f"DO $$ BEGIN EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO {APP_ROLE}', current_schema()); END $$")


def downgrade() -> None:
    for table in ("audit_erasures", "audit_subject_keys", "audit_chain_head", *APPEND_ONLY):
        op.drop_table(table)
