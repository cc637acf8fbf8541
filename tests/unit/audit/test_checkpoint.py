"""Signed tree heads: payload bytes, Ed25519 signatures, key ids, the checkpoint cadence."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.checkpoint import (
    key_id,
    public_key_bytes,
    should_checkpoint,
    sign_tree_head,
    tree_head_from_json,
    tree_head_payload,
    tree_head_to_json,
    verify_tree_head,
)

SEED = bytes(range(32))
ROOT = hashlib.sha256(b"root").digest()
TS = "2026-01-31T23:59:59Z"


def test_payload_is_sorted_compact_json_of_the_four_fields() -> None:
    payload = tree_head_payload(42, ROOT, TS, "abcd")
    expected = '{"key_id":"abcd","root_hash":"' + ROOT.hex() + '","timestamp":"' + TS + '","tree_size":42}'
    assert payload == expected.encode()
    assert json.loads(payload) == {
        "key_id": "abcd",
        "root_hash": ROOT.hex(),
        "timestamp": TS,
        "tree_size": 42,
    }


def test_key_id_is_first_16_hex_of_sha256_of_raw_public_key() -> None:
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    raw = public_key_bytes(private)
    assert len(raw) == 32 and raw == public_key_bytes(private.public_key())
    assert key_id(raw) == hashlib.sha256(raw).hexdigest()[:16]


def test_sign_and_verify_round_trip_and_independent_signature_check() -> None:
    head = sign_tree_head(SEED, 42, ROOT, TS)
    public = public_key_bytes(Ed25519PrivateKey.from_private_bytes(SEED))
    assert head.key_id == key_id(public)
    assert verify_tree_head(head, public)
    # Ed25519 is deterministic: signing the payload directly gives the same signature.
    direct = Ed25519PrivateKey.from_private_bytes(SEED).sign(tree_head_payload(42, ROOT, TS, head.key_id))
    assert head.signature == direct
    assert tree_head_from_json(json.loads(json.dumps(tree_head_to_json(head)))) == head


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 43},
        {"root_hash": bytes(32)},
        {"timestamp": "2026-02-01T00:00:00Z"},
        {"key_id": "0" * 16},
    ],
)
def test_any_edited_field_fails_verification(change: dict[str, object]) -> None:
    head = sign_tree_head(SEED, 42, ROOT, TS)
    public = public_key_bytes(Ed25519PrivateKey.from_private_bytes(SEED))
    assert not verify_tree_head(dataclasses.replace(head, **change), public)  # type: ignore[arg-type]


def test_other_key_fails_and_bad_inputs_are_refused() -> None:
    head = sign_tree_head(SEED, 42, ROOT, TS)
    other = public_key_bytes(Ed25519PrivateKey.from_private_bytes(bytes(32)))
    assert not verify_tree_head(head, other)
    flipped = dataclasses.replace(head, signature=bytes([head.signature[0] ^ 1]) + head.signature[1:])
    assert not verify_tree_head(flipped, public_key_bytes(Ed25519PrivateKey.from_private_bytes(SEED)))
    with pytest.raises(ValueError):
        sign_tree_head(SEED, 1, ROOT, "yesterday")
    with pytest.raises(ValueError):
        sign_tree_head(SEED, -1, ROOT, TS)
    with pytest.raises(ValueError):
        sign_tree_head(SEED, 1, b"short", TS)
    with pytest.raises(ValueError):
        tree_head_from_json({"tree_size": 1})


@pytest.mark.parametrize(
    "entries,seconds,expected",
    [(0, 9999.0, False), (1000, 0.0, True), (999, 59.9, False), (1, 60.0, True), (5000, 1.0, True)],
)
def test_should_checkpoint(entries: int, seconds: float, expected: bool) -> None:
    assert should_checkpoint(entries, seconds, every_n=1000, every_s=60.0) is expected
