"""The small independent proof verifier behind ``segflow audit verify-proof``.

Deliberately shares no code with ``services.audit.domain``: its own RFC 9162 section 2.1.3.2 (inclusion)
and 2.1.4.2 (consistency) verification and its own signed-tree-head check (Ed25519 over the RFC 8785 JSON
of ``{key_id, root_hash, timestamp, tree_size}``, which for this flat ASCII-keyed shape equals
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``). Stdlib plus ``cryptography``.

Inputs (JSON documents as dicts):
- inclusion proof: ``{"leaf_index", "tree_size", "entry_hash" (hex; the leaf data) or "leaf_hash" (hex),
  "proof": [hex, ...]}`` checked against one tree head of that size;
- consistency proof: ``{"first", "second", "proof": [hex, ...]}`` checked against two tree heads;
- tree head: ``{"tree_size", "root_hash" (hex), "timestamp", "key_id", "signature" (base64)}``;
- public key: raw 32 bytes, or a string holding them as hex / base64, or a PEM.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def load_public_key(key: bytes | str) -> Ed25519PublicKey:
    """Raw bytes, hex, base64 or PEM -> Ed25519 public key (ValueError otherwise)."""
    if isinstance(key, str):
        text = key.strip()
        if text.startswith("-----BEGIN"):
            loaded = load_pem_public_key(text.encode())
            if not isinstance(loaded, Ed25519PublicKey):
                raise ValueError("not an Ed25519 public key")
            return loaded
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    else:
        raw = key
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def check_tree_head(head: dict[str, Any], public_key: Ed25519PublicKey) -> tuple[bool, str]:
    """Key id = hex(SHA-256(raw key))[:16] must match, and the signature must verify over the payload."""
    try:
        raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        if head["key_id"] != hashlib.sha256(raw).hexdigest()[:16]:
            return False, "tree head signed by a different key"
        if type(head["tree_size"]) is not int or len(bytes.fromhex(head["root_hash"])) != 32:
            return False, "malformed tree head"
        body = {k: head[k] for k in ("tree_size", "root_hash", "timestamp", "key_id")}
        payload = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        public_key.verify(base64.b64decode(head["signature"], validate=True), payload)
    except InvalidSignature:
        return False, "bad tree head signature"
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"malformed tree head: {exc}"
    return True, "tree head signature ok"


def inclusion_ok(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2 (leaf = the leaf hash)."""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            r = _h(b"\x01" + r + p)
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


def consistency_ok(first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2, with the usual trivial cases (first == second, first == 0)."""
    if first < 0 or first > second:
        return False
    if first == second:
        return len(path) == 0 and first_root == second_root
    if first == 0:
        return len(path) == 0
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = _h(b"\x01" + c + fr)
            sr = _h(b"\x01" + c + sr)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            sr = _h(b"\x01" + sr + c)
        fn //= 2
        sn //= 2
    return sn == 0 and fr == first_root and sr == second_root


def verify_inclusion_document(
    proof: dict[str, Any], head: dict[str, Any], public_key: bytes | str
) -> tuple[bool, str]:
    """Check the tree head's signature, then that the entry is leaf ``leaf_index`` of that signed tree."""
    try:
        key = load_public_key(public_key)
    except ValueError as exc:
        return False, f"bad public key: {exc}"
    ok, why = check_tree_head(head, key)
    if not ok:
        return False, why
    try:
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        if "leaf_hash" in proof:
            leaf = bytes.fromhex(proof["leaf_hash"])
        else:
            leaf = _h(b"\x00" + bytes.fromhex(proof["entry_hash"]))
        path = [bytes.fromhex(p) for p in proof["proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"malformed inclusion proof: {exc}"
    if size != head["tree_size"]:
        return False, f"proof is for tree size {size}, the tree head has {head['tree_size']}"
    if not inclusion_ok(leaf, index, size, path, bytes.fromhex(head["root_hash"])):
        return False, "inclusion proof does not lead to the signed root"
    return True, f"entry {index} is included in the signed tree of size {size}"


def verify_consistency_document(
    proof: dict[str, Any], old_head: dict[str, Any], new_head: dict[str, Any], public_key: bytes | str
) -> tuple[bool, str]:
    """Check both tree heads' signatures, then that the older tree is a prefix of the newer one."""
    try:
        key = load_public_key(public_key)
    except ValueError as exc:
        return False, f"bad public key: {exc}"
    for head in (old_head, new_head):
        ok, why = check_tree_head(head, key)
        if not ok:
            return False, why
    try:
        first, second = int(proof["first"]), int(proof["second"])
        path = [bytes.fromhex(p) for p in proof["proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"malformed consistency proof: {exc}"
    if (first, second) != (old_head["tree_size"], new_head["tree_size"]):
        return False, "proof sizes do not match the tree heads"
    old_root, new_root = bytes.fromhex(old_head["root_hash"]), bytes.fromhex(new_head["root_hash"])
    if not consistency_ok(first, second, old_root, new_root, path):
        return False, "consistency proof fails: the newer tree does not extend the older one"
    return True, f"tree of size {first} is a prefix of the signed tree of size {second}"
