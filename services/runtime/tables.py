"""The runtime's own tables, present in every service's schema: the outbox and the inbox.

outbox: Debezium-compatible columns (id, aggregatetype, aggregateid, type, payload) plus the CloudEvents
headers, a sequence for publication order and sent_at. inbox: (consumer, event_id) primary key, so a
redelivered event is recognised inside the same transaction as its effects.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def runtime_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Declare the outbox and inbox tables on a service's metadata."""
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", BigIntPK, primary_key=True, autoincrement=True),
        Column("id", String(64), nullable=False, unique=True),
        Column("aggregatetype", String(255), nullable=False),
        Column("aggregateid", String(512), nullable=True),
        Column("type", String(255), nullable=False),
        Column("payload", LargeBinary, nullable=True),
        Column("headers", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("sent_at", DateTime(timezone=True), nullable=True),
    )
    Index("ix_outbox_unsent", outbox.c.sent_at, outbox.c.seq)
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(255), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )
    return outbox, inbox


RUNTIME_METADATA = MetaData()
OUTBOX, INBOX = runtime_tables(RUNTIME_METADATA)
