"""RFC 6962 / RFC 9162 Merkle tree hashing over audit entry hashes: roots, inclusion and consistency proofs.

Rules (RFC 9162 section 2.1.1): ``MTH({}) = SHA-256("")``; ``MTH({d0}) = SHA-256(0x00 || d0)``;
for n > 1 with k the largest power of two < n, ``MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``.
The leaf data are the audit entry hashes, so leaf index = entry seq. Proof generation follows the PATH and
SUBPROOF definitions (sections 2.1.3.1 and 2.1.4.1) and verification the algorithms of sections 2.1.3.2 and
2.1.4.2. Proofs are first expressed as leaf ranges (pure index math) so a store can serve the subtree
roots from a cache; ``MerkleFrontier`` keeps the O(log n) compact range that updates the root per append.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
Range = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """k = the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over already leaf-hashed values, level by level: pair neighbours, carry an odd last node up.

    Carrying the odd node unchanged reproduces the largest-power-of-two split exactly.
    """
    if not hashes:
        return EMPTY_ROOT
    sha256 = hashlib.sha256
    level = list(hashes)
    while len(level) > 1:
        nxt = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def leaf_hashes(leaves: Iterable[bytes]) -> list[bytes]:
    """``[SHA-256(0x00 || d) for d in leaves]``."""
    sha256 = hashlib.sha256
    return [sha256(b"\x00" + d).digest() for d in leaves]


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the leaf data (entry hashes)."""
    return root_of_leaf_hashes(leaf_hashes(leaves))


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose subtree roots form PATH(index, D[size]), bottom-up (RFC 9162 2.1.3.1):
    for n > 1, if m < k recurse left and append [k, n); else recurse right and append [0, k)."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} outside tree of size {size}")
    out: list[Range] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m = lo + k, m - k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The leaf ranges whose subtree roots form PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 2.1.4.1).

    SUBPROOF(m, D[m], true) = []; SUBPROOF(m, D[m], false) = [MTH(D[m])]; for m < n with split k:
    m <= k -> SUBPROOF(m, D[0:k], b) + [MTH(D[k:n])], else SUBPROOF(m-k, D[k:n], false) + [MTH(D[0:k])].
    Empty when m == 0 or m == n.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"need 0 <= old_size <= new_size, got {old_size}, {new_size}")
    if old_size in (0, new_size):
        return []
    out: list[Range] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        out.append((lo, hi))
    out.reverse()
    return out


def perfect_pieces(lo: int, hi: int) -> list[Range]:
    """The perfect subtrees whose right fold is MTH(D[lo:hi]): one per 1-bit of ``hi - lo``, largest first
    (``[lo, lo + 2^b1), [lo + 2^b1, lo + 2^b1 + 2^b2), ...``), because the RFC 9162 split puts the largest
    power of two < n on the left and recurses on the right."""
    if not 0 <= lo <= hi:
        raise ValueError(f"need 0 <= lo <= hi, got {lo}, {hi}")
    out: list[Range] = []
    start, rest = lo, hi - lo
    while rest:
        size = 1 << (rest.bit_length() - 1)
        out.append((start, start + size))
        start, rest = start + size, rest - size
    return out


def fold_right(roots: Sequence[bytes]) -> bytes:
    """``r = roots[-1]; r = H(0x01 || roots[i] || r)`` for i from the right: MTH from ``perfect_pieces`` roots."""
    if not roots:
        return EMPTY_ROOT
    r = roots[-1]
    for h in reversed(roots[:-1]):
        r = node_hash(h, r)
    return r


def _proof_from_ranges(ranges: list[Range], hashes: Sequence[bytes]) -> list[bytes]:
    return [root_of_leaf_hashes(hashes[lo:hi]) for lo, hi in ranges]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) over the leaf data: the sibling subtree roots from the leaf up."""
    return _proof_from_ranges(inclusion_ranges(index, len(leaves)), leaf_hashes(leaves))


def consistency_proof(old_size: int, new_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) over the first ``new_size`` leaf data."""
    if new_size > len(leaves):
        raise ValueError(f"new_size {new_size} exceeds {len(leaves)} leaves")
    return _proof_from_ranges(consistency_ranges(old_size, new_size), leaf_hashes(leaves[:new_size]))


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 2.1.3.2 with ``leaf`` the leaf hash: fn = index, sn = size - 1, r = leaf; for each p:
    fail if sn == 0; if LSB(fn) or fn == sn: r = H(0x01||p||r) and (if not LSB(fn)) shift both until LSB(fn)
    or fn == 0; else r = H(0x01||r||p); shift both once. Accept iff sn == 0 and r == root."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2. Trivial cases: m == n needs an empty proof and equal roots; m == 0 needs an empty
    proof. Otherwise: prepend old_root if m is a power of two; fn = m-1, sn = n-1; shift while LSB(fn);
    fr = sr = proof[0]; for each next c: fail if sn == 0; if LSB(fn) or fn == sn: fr = H(c||fr),
    sr = H(c||sr) and (if not LSB(fn)) shift until LSB(fn) or fn == 0; else sr = H(sr||c); shift once.
    Accept iff fr == old_root, sr == new_root and sn == 0."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
