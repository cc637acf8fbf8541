"""The independent verifier agrees with the domain Merkle code and checks signed tree heads on its own."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.audit import verifier
from services.audit.domain import merkle
from services.audit.domain.checkpoint import public_key_bytes, sign_tree_head, tree_head_to_json
from tests.unit.audit.helpers import make_chain

SEED = bytes([5]) * 32
PRIVATE = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC = public_key_bytes(PRIVATE)
TS = "2026-03-01T12:00:00.5+01:00"


def test_verifier_shares_no_code_with_the_domain() -> None:
    tree = ast.parse(Path(verifier.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    roots = {name.split(".")[0] for name in imported}
    assert roots <= {"__future__", "base64", "hashlib", "json", "typing", "cryptography"}, roots


def test_both_implementations_agree_on_every_proof_and_every_tampering() -> None:
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(33)]
    roots = [merkle.root(leaves[:n]) for n in range(34)]
    for n in range(1, 34):
        for i in range(n):
            proof = merkle.inclusion_proof(i, leaves[:n])
            lh = merkle.leaf_hash(leaves[i])
            for args in [
                (lh, i, n, proof, roots[n]),
                (lh, i, n, proof[:-1], roots[n]),
                (lh, (i + 1) % n, n, proof, roots[n]),
                (lh, i, n + 1, proof, roots[n]),
                (lh, i, n, [hashlib.sha256(p).digest() for p in proof], roots[n]),
            ]:
                assert verifier.inclusion_ok(*args) == merkle.verify_inclusion(*args)
            assert verifier.inclusion_ok(lh, i, n, proof, roots[n])
        for m in range(0, n + 1):
            proof = merkle.consistency_proof(m, n, leaves)
            for cargs in [
                (m, n, roots[m], roots[n], proof),
                (m, n, roots[m], roots[n], proof[1:]),
                (m, n, roots[n], roots[m], proof),
                (m, n + 1 if n < 33 else n, roots[m], roots[n], proof),
                (m, n, roots[m], roots[n], [*proof, roots[n]]),
            ]:
                assert verifier.consistency_ok(*cargs) == merkle.verify_consistency(*cargs), cargs[:2]
            assert verifier.consistency_ok(m, n, roots[m], roots[n], proof)


def signed_head(leaves: list[bytes], n: int) -> dict[str, object]:
    return tree_head_to_json(sign_tree_head(SEED, n, merkle.root(leaves[:n]), TS))


def test_inclusion_document_with_signed_tree_head() -> None:
    leaves = [e.entry_hash for e in make_chain(21)]
    head = signed_head(leaves, 21)
    proof = {
        "leaf_index": 13,
        "tree_size": 21,
        "entry_hash": leaves[13].hex(),
        "proof": [p.hex() for p in merkle.inclusion_proof(13, leaves)],
    }
    doc = json.loads(json.dumps(proof))
    ok, reason = verifier.verify_inclusion_document(doc, head, PUBLIC)
    assert ok, reason
    assert verifier.verify_inclusion_document(doc, head, PUBLIC.hex())[0]
    assert verifier.verify_inclusion_document(doc, head, base64.b64encode(PUBLIC).decode())[0]
    pem = PRIVATE.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    assert verifier.verify_inclusion_document(doc, head, pem)[0]
    leaf_form = {**doc, "leaf_hash": merkle.leaf_hash(leaves[13]).hex()}
    del leaf_form["entry_hash"]
    assert verifier.verify_inclusion_document(leaf_form, head, PUBLIC)[0]

    assert not verifier.verify_inclusion_document({**doc, "entry_hash": leaves[12].hex()}, head, PUBLIC)[0]
    assert not verifier.verify_inclusion_document({**doc, "tree_size": 20}, head, PUBLIC)[0]
    forged = {**head, "tree_size": 22}
    ok, reason = verifier.verify_inclusion_document(doc, forged, PUBLIC)
    assert not ok and "signature" in reason
    other = public_key_bytes(Ed25519PrivateKey.from_private_bytes(bytes(32)))
    ok, reason = verifier.verify_inclusion_document(doc, head, other)
    assert not ok and "different key" in reason
    assert not verifier.verify_inclusion_document(doc, head, "not a key")[0]
    assert not verifier.verify_inclusion_document({"leaf_index": 1}, head, PUBLIC)[0]


def test_consistency_document_with_two_signed_tree_heads() -> None:
    leaves = [e.entry_hash for e in make_chain(30)]
    old, new = signed_head(leaves, 11), signed_head(leaves, 30)
    doc = {"first": 11, "second": 30, "proof": [p.hex() for p in merkle.consistency_proof(11, 30, leaves)]}
    ok, reason = verifier.verify_consistency_document(doc, old, new, PUBLIC)
    assert ok, reason
    assert not verifier.verify_consistency_document(doc, new, old, PUBLIC)[0]
    rewritten = [hashlib.sha256(b"x").digest(), *leaves[1:]]
    forked = signed_head(rewritten, 30)  # validly signed, but the history before 11 was changed
    ok, reason = verifier.verify_consistency_document(doc, old, forked, PUBLIC)
    assert not ok and "does not extend" in reason
    bad_sig = {**old, "signature": base64.b64encode(bytes(64)).decode()}
    assert not verifier.verify_consistency_document(doc, bad_sig, new, PUBLIC)[0]
