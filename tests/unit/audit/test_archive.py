"""Monthly archives: deterministic JSONL plus a signed manifest, verifiable later, tampering named."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.archive import build_archive, parse_line, verify_archive
from services.audit.domain.checkpoint import public_key_bytes
from services.audit.domain.frontier import MerkleFrontier
from services.audit.domain.merkle import root
from tests.unit.audit.helpers import make_chain

SEED = bytes([7]) * 32
PUBLIC = public_key_bytes(Ed25519PrivateKey.from_private_bytes(SEED))
TS = "2026-02-01T00:00:00Z"


def month(first: int = 25, count: int = 30) -> tuple[bytes, dict[str, object], list]:  # type: ignore[type-arg]
    chain = make_chain(first + count)
    prefix = MerkleFrontier()
    prefix.extend(e.entry_hash for e in chain[:first])
    prev = chain[first - 1].entry_hash if first else bytes(32)
    data, manifest = build_archive(
        chain[first:], prev_hash=prev, prefix=prefix, private_key=SEED, timestamp=TS, period="2026-01"
    )
    return data, manifest, chain


def test_archive_is_deterministic_and_the_manifest_describes_it() -> None:
    data, manifest, chain = month()
    again, manifest2, _ = month()
    assert data == again and manifest == manifest2
    lines = data.splitlines()
    assert len(lines) == 30 and data.endswith(b"\n")
    assert [json.loads(line)["seq"] for line in lines] == list(range(25, 55))
    assert manifest["count"] == 30 and manifest["first_seq"] == 25 and manifest["last_seq"] == 54
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["merkle_root"] == root([e.entry_hash for e in chain[25:55]]).hex()
    head = manifest["tree_head"]
    assert head["tree_size"] == 55 and head["root_hash"] == root([e.entry_hash for e in chain]).hex()  # type: ignore[index]
    assert parse_line(lines[3] + b"\n") == chain[28]


def test_verify_archive_accepts_the_untouched_file() -> None:
    data, manifest, _ = month()
    result = verify_archive(data, manifest, PUBLIC)
    assert result.ok and result.checked == 30
    data0, manifest0, _ = month(first=0, count=12)
    assert verify_archive(data0, manifest0, PUBLIC).ok


def edit_line(data: bytes, index: int, field: str, value: object) -> bytes:
    lines = data.splitlines(keepends=True)
    doc = json.loads(lines[index])
    doc[field] = value
    lines[index] = json.dumps(doc).encode() + b"\n"
    return b"".join(lines)


def test_tampering_is_named_by_seq() -> None:
    data, manifest, _ = month()
    edited = edit_line(data, 4, "subject", "someone-else")
    result = verify_archive(edited, manifest, PUBLIC)
    assert (result.ok, result.first_bad_seq) == (False, 29)
    dropped = b"".join(data.splitlines(keepends=True)[:10] + data.splitlines(keepends=True)[11:])
    assert verify_archive(dropped, manifest, PUBLIC).first_bad_seq == 35
    truncated = b"".join(data.splitlines(keepends=True)[:20])
    result = verify_archive(truncated, manifest, PUBLIC)
    assert (result.ok, result.first_bad_seq) == (False, 45)
    garbage = b"".join(data.splitlines(keepends=True)[:7]) + b"{not json\n"
    assert verify_archive(garbage, manifest, PUBLIC).first_bad_seq == 32


def test_manifest_tampering_and_wrong_key_fail() -> None:
    data, manifest, _ = month()
    assert not verify_archive(data + b"\n", manifest, PUBLIC).ok
    assert verify_archive(data, {**manifest, "sha256": "0" * 64}, PUBLIC).reason.startswith("file_checksum")  # type: ignore[union-attr]
    assert verify_archive(data, {**manifest, "merkle_root": "0" * 64}, PUBLIC).reason.startswith(
        "merkle_root"
    )  # type: ignore[union-attr]
    other = public_key_bytes(Ed25519PrivateKey.from_private_bytes(bytes(32)))
    assert verify_archive(data, manifest, other).reason.startswith("bad_signature")  # type: ignore[union-attr]
    bad_prefix = {**manifest, "prefix": {"size": 25, "hashes": ["00" * 32] * 3}}
    assert verify_archive(data, bad_prefix, PUBLIC).reason.startswith("tree_head_mismatch")  # type: ignore[union-attr]
    assert verify_archive(data, {"count": 1}, PUBLIC).reason.startswith("bad_manifest")  # type: ignore[union-attr]


def test_build_refuses_non_consecutive_entries() -> None:
    chain = make_chain(5)
    with pytest.raises(ValueError):
        build_archive(
            [chain[0], chain[2]], prev_hash=bytes(32), prefix=MerkleFrontier(), private_key=SEED,
            timestamp=TS, period="2026-01",
        )  # fmt: skip
