"""Audit events: signed tree heads of the append-only log (RFC 6962/9162 Merkle tree, Ed25519)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from contracts.common import EventModel, NonEmptyStr

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Ed25519SignatureHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{128}$")]


class CheckpointSigned(EventModel):
    """A signed tree head: the Merkle root over the first ``tree_size`` entries, signed."""

    EVENT_TYPE = "segflow.checkpoint.signed"

    tree_size: int = Field(ge=0)
    root_hash: Sha256Hex = Field(description="lower-case hex SHA-256 Merkle root")
    signature: Ed25519SignatureHex = Field(description="lower-case hex Ed25519 signature of the tree head")
    key_id: NonEmptyStr
    algorithm: Literal["ed25519"] = "ed25519"
    signed_at: AwareDatetime
