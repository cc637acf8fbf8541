"""audit: leaner entry indexes (faster appends) and stored Merkle subtree roots (O(log n) proofs)

Dropped: (topic, seq), (type, seq) and (event_us) - low-selectivity filters that the seq-ordered, cursor-paged
entry search answers by walking the primary key; (key, event_us) becomes a partial index over the segment
assignments topic, the only topic the as-of query reads. Kept: seq (PK), dedup_key (unique), (subject, seq),
captured_us (monthly archive). New: audit_subtrees, append-only like the entries.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

APP_ROLE = "segflow_audit_app"
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ASSIGNMENTS_TOPIC = "segflow.segments.assignments.v1"


def upgrade() -> None:
    for name in ("ix_audit_entries_topic", "ix_audit_entries_type", "ix_audit_entries_event_us"):
        op.drop_index(name, table_name="audit_entries")
    op.drop_index("ix_audit_entries_key", table_name="audit_entries")
    where = sa.text(f"topic = '{ASSIGNMENTS_TOPIC}'")
    op.create_index(
        "ix_audit_entries_assignment_key",
        "audit_entries",
        ["key", "event_us"],
        postgresql_where=where,
        sqlite_where=where,
    )
    op.create_table(
        "audit_subtrees",
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", BIGINT, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_subtrees_no_change BEFORE UPDATE OR DELETE ON audit_subtrees "
            "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()"
        )
        op.execute(
            "CREATE TRIGGER audit_subtrees_no_truncate BEFORE TRUNCATE ON audit_subtrees "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()"
        )
        op.execute("ALTER TABLE audit_subtrees ENABLE ALWAYS TRIGGER audit_subtrees_no_change")
        op.execute("ALTER TABLE audit_subtrees ENABLE ALWAYS TRIGGER audit_subtrees_no_truncate")
        op.execute(f"REVOKE ALL ON audit_subtrees FROM PUBLIC, {APP_ROLE}")
        op.execute(f"GRANT SELECT, INSERT ON audit_subtrees TO {APP_ROLE}")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_subtrees_no_{action.lower()} BEFORE {action} ON audit_subtrees "
                f"BEGIN SELECT RAISE(ABORT, 'audit_subtrees is append-only: {action} refused'); END"
            )


def downgrade() -> None:
    op.drop_table("audit_subtrees")
    op.drop_index("ix_audit_entries_assignment_key", table_name="audit_entries")
    op.create_index("ix_audit_entries_key", "audit_entries", ["key", "event_us"])
    op.create_index("ix_audit_entries_topic", "audit_entries", ["topic", "seq"])
    op.create_index("ix_audit_entries_type", "audit_entries", ["type", "seq"])
    op.create_index("ix_audit_entries_event_us", "audit_entries", ["event_us"])
