"""Every table and query of the audit service (SQLAlchemy Core; PostgreSQL and SQLite alike), by concern:
``tables`` (the schema), ``chain`` (head row, role, dedup lookups, entry/subtree inserts), ``entries``
(reads, proofs' leaves and subtree roots, searches), ``checkpoints`` (signed tree heads) and ``subjects``
(per-data-subject keys and erasures). Callers use ``store.<name>``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.store.chain import (
    Head,
    dialect,
    existing_dedup_keys,
    insert_entries,
    insert_subtrees,
    is_unique_violation,
    lock_head,
    read_head,
    save_head,
    set_role,
)
from services.audit.store.checkpoints import (
    all_checkpoints,
    checkpoint_of_size,
    checkpoints_after,
    first_checkpoint_covering,
    insert_checkpoint,
    latest_checkpoint,
)
from services.audit.store.entries import (
    chain_entry,
    entries_in_order,
    entry_by_seq,
    entry_hashes_between,
    latest_for_key,
    search_entries,
    seq_range_captured,
    snapshot,
    subtree_roots,
)
from services.audit.store.subjects import (
    erase_subject,
    erasure_of,
    insert_subject_key,
    keys_by_kid,
    keys_for_subjects,
    subject_known,
)
from services.audit.store.tables import (
    BIGINT,
    ENTRY_COLUMNS,
    chain_head,
    checkpoints,
    entries,
    erasures,
    metadata,
    subject_keys,
    subtrees,
)

__all__ = [
    "BIGINT",
    "ENTRY_COLUMNS",
    "AsyncSession",
    "Head",
    "all_checkpoints",
    "chain_entry",
    "chain_head",
    "checkpoint_of_size",
    "checkpoints",
    "checkpoints_after",
    "dialect",
    "entries",
    "entries_in_order",
    "entry_by_seq",
    "entry_hashes_between",
    "erase_subject",
    "erasure_of",
    "erasures",
    "existing_dedup_keys",
    "first_checkpoint_covering",
    "insert_checkpoint",
    "insert_entries",
    "insert_subject_key",
    "insert_subtrees",
    "is_unique_violation",
    "keys_by_kid",
    "keys_for_subjects",
    "latest_checkpoint",
    "latest_for_key",
    "lock_head",
    "metadata",
    "read_head",
    "save_head",
    "search_entries",
    "seq_range_captured",
    "set_role",
    "snapshot",
    "subject_keys",
    "subject_known",
    "subtree_roots",
    "subtrees",
]
