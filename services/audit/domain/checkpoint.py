"""Signed tree heads (checkpoints): their canonical payload, Ed25519 signing and verification, cadence.

Rules: ``payload = JCS({"key_id", "root_hash" (hex), "timestamp" (RFC 3339, passed in), "tree_size"})``;
``signature = Ed25519(private_key, payload)``; ``key_id = first 16 hex chars of SHA-256(raw 32-byte public
key)``; a checkpoint is due when ``entries_since >= every_n`` or ``seconds_since >= every_s`` (and at least
one entry is new).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """A signed statement that the log had ``tree_size`` entries with Merkle root ``root_hash``."""

    tree_size: int
    root_hash: bytes
    timestamp: str
    key_id: str
    signature: bytes


def public_key_bytes(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """The raw 32-byte Ed25519 public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key_raw: bytes) -> str:
    """``hex(SHA-256(raw public key))[:16]``."""
    return hashlib.sha256(public_key_raw).hexdigest()[:16]


def tree_head_payload(tree_size: int, root_hash: bytes, timestamp: str, kid: str) -> bytes:
    """The signed bytes: RFC 8785 JSON of ``{tree_size, root_hash hex, timestamp, key_id}``."""
    if type(tree_size) is not int or tree_size < 0:
        raise ValueError(f"tree_size must be a non-negative int, got {tree_size!r}")
    if len(root_hash) != 32:
        raise ValueError("root_hash must be 32 bytes")
    if not RFC3339.match(timestamp):
        raise ValueError(f"timestamp must be RFC 3339, got {timestamp!r}")
    return rfc8785.dumps(
        {"tree_size": tree_size, "root_hash": root_hash.hex(), "timestamp": timestamp, "key_id": kid}
    )


def sign_tree_head(
    private_key: Ed25519PrivateKey | bytes, tree_size: int, root_hash: bytes, timestamp: str
) -> SignedTreeHead:
    """Sign ``tree_head_payload`` with Ed25519; ``private_key`` may be the raw 32-byte seed."""
    key = Ed25519PrivateKey.from_private_bytes(private_key) if isinstance(private_key, bytes) else private_key
    kid = key_id(public_key_bytes(key))
    signature = key.sign(tree_head_payload(tree_size, root_hash, timestamp, kid))
    return SignedTreeHead(tree_size, root_hash, timestamp, kid, signature)


def verify_tree_head(head: SignedTreeHead, public_key: Ed25519PublicKey | bytes) -> bool:
    """True iff the key id matches the key and the Ed25519 signature over the payload is valid."""
    key = Ed25519PublicKey.from_public_bytes(public_key) if isinstance(public_key, bytes) else public_key
    if head.key_id != key_id(public_key_bytes(key)):
        return False
    try:
        payload = tree_head_payload(head.tree_size, head.root_hash, head.timestamp, head.key_id)
        key.verify(head.signature, payload)
    except (InvalidSignature, ValueError):
        return False
    return True


def tree_head_to_json(head: SignedTreeHead) -> dict[str, object]:
    """Wire form: hex root, base64 signature (what the API returns and ``verifier.py`` reads)."""
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash.hex(),
        "timestamp": head.timestamp,
        "key_id": head.key_id,
        "signature": base64.b64encode(head.signature).decode("ascii"),
    }


def tree_head_from_json(data: dict[str, object]) -> SignedTreeHead:
    """Inverse of ``tree_head_to_json``; raises ValueError on a malformed document."""
    try:
        return SignedTreeHead(
            tree_size=int(data["tree_size"]),  # type: ignore[call-overload]
            root_hash=bytes.fromhex(str(data["root_hash"])),
            timestamp=str(data["timestamp"]),
            key_id=str(data["key_id"]),
            signature=base64.b64decode(str(data["signature"]), validate=True),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed signed tree head: {exc}") from exc


def should_checkpoint(entries_since: int, seconds_since: float, every_n: int, every_s: float) -> bool:
    """Due iff ``entries_since > 0`` and (``entries_since >= every_n`` or ``seconds_since >= every_s``)."""
    if entries_since <= 0:
        return False
    return entries_since >= every_n or seconds_since >= every_s
