"""Signed tree heads: insert and the lookups the proofs and verification need."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain.checkpoint import SignedTreeHead
from services.audit.store.tables import checkpoints


async def insert_checkpoint(
    session: AsyncSession, head: SignedTreeHead, public_key: bytes, now_us: int
) -> None:
    await session.execute(
        checkpoints.insert().values(
            tree_size=head.tree_size,
            root_hash=head.root_hash,
            timestamp=head.timestamp,
            key_id=head.key_id,
            signature=head.signature,
            public_key=public_key,
            created_us=now_us,
        )
    )


def _tree_head(row: Any) -> SignedTreeHead:
    return SignedTreeHead(
        row.tree_size, bytes(row.root_hash), row.timestamp, row.key_id, bytes(row.signature)
    )


async def all_checkpoints(session: AsyncSession) -> list[SignedTreeHead]:
    rows = await session.execute(sa.select(checkpoints).order_by(checkpoints.c.tree_size))
    return [_tree_head(r) for r in rows]


async def checkpoints_after(session: AsyncSession, after: int | None, limit: int) -> list[SignedTreeHead]:
    """Tree heads with ``tree_size > after`` (all when None), ascending by size, at most ``limit``."""
    query = sa.select(checkpoints).order_by(checkpoints.c.tree_size).limit(limit)
    if after is not None:
        query = query.where(checkpoints.c.tree_size > after)
    return [_tree_head(r) for r in await session.execute(query)]


async def latest_checkpoint(session: AsyncSession) -> SignedTreeHead | None:
    row = (
        await session.execute(sa.select(checkpoints).order_by(checkpoints.c.tree_size.desc()).limit(1))
    ).first()
    return None if row is None else _tree_head(row)


async def checkpoint_of_size(session: AsyncSession, size: int) -> SignedTreeHead | None:
    row = (await session.execute(sa.select(checkpoints).where(checkpoints.c.tree_size == size))).first()
    return None if row is None else _tree_head(row)


async def first_checkpoint_covering(session: AsyncSession, seq: int) -> SignedTreeHead | None:
    """The latest checkpoint (largest tree) that includes ``seq``."""
    row = (
        await session.execute(
            sa.select(checkpoints)
            .where(checkpoints.c.tree_size > seq)
            .order_by(checkpoints.c.tree_size.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else _tree_head(row)
