"""RFC 6962 / 9162 Merkle trees against a naive recursive reference and the published CT test vectors."""

from __future__ import annotations

import hashlib
import random

import pytest

from services.audit.domain.frontier import MerkleFrontier
from services.audit.domain.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# --- a deliberately naive reference, written straight from RFC 6962 section 2.1 ---------------------


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def random_leaves(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(32) for _ in range(n)]


# --- Certificate Transparency vectors --------------------------------------------------------------
# Source: transparency-dev/merkle, testonly/constants.go (LeafInputs, NodeHashes, RootHashes,
# CompactTrees), the same data as google/certificate-transparency's merkle_tree_test.
CT_LEAVES = [bytes.fromhex(h) for h in
             ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
CT_ROOTS = [bytes.fromhex(h) for h in [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]  # fmt: skip
NH = {  # NodeHashes()[level][index]
    (0, 0): "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    (0, 1): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    (0, 2): "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    (0, 4): "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    (0, 6): "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    (1, 0): "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (3, 0): "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
CT_COMPACT = [[], [(0, 0)], [(1, 0)], [(1, 0), (0, 2)], [(2, 0)], [(2, 0), (0, 4)], [(2, 0), (1, 2)],
              [(2, 0), (1, 2), (0, 6)], [(3, 0)]]  # fmt: skip


def nh(*keys: tuple[int, int]) -> list[bytes]:
    return [bytes.fromhex(NH[k]) for k in keys]


def test_ct_vector_roots_for_every_prefix() -> None:
    for n in range(9):
        assert root(CT_LEAVES[:n]) == CT_ROOTS[n], n
    assert CT_ROOTS[0] == EMPTY_ROOT


def test_ct_vector_proofs() -> None:
    # Paths in an 8-leaf tree are the sibling subtrees listed in NodeHashes.
    assert inclusion_proof(0, CT_LEAVES) == nh((0, 1), (1, 1), (2, 1))
    assert inclusion_proof(5, CT_LEAVES) == nh((0, 4), (1, 3), (2, 0))
    assert consistency_proof(2, 8, CT_LEAVES) == nh((1, 1), (2, 1))
    assert consistency_proof(6, 8, CT_LEAVES) == nh((1, 2), (1, 3), (2, 0))
    assert verify_inclusion(leaf_hash(CT_LEAVES[5]), 5, 8, nh((0, 4), (1, 3), (2, 0)), CT_ROOTS[8])
    assert verify_consistency(6, 8, CT_ROOTS[6], CT_ROOTS[8], nh((1, 2), (1, 3), (2, 0)))


def test_ct_vector_compact_frontiers() -> None:
    frontier = MerkleFrontier()
    for n in range(9):
        assert frontier.size == n
        assert list(frontier.hashes) == nh(*CT_COMPACT[n])
        assert frontier.root() == CT_ROOTS[n]
        if n < 8:
            frontier.append(CT_LEAVES[n])


@pytest.mark.parametrize("seed", [1, 2])
def test_root_matches_naive_reference_for_sizes_0_to_70(seed: int) -> None:
    leaves = random_leaves(70, seed)
    frontier = MerkleFrontier()
    for n in range(71):
        expected = ref_mth(leaves[:n])
        assert root(leaves[:n]) == expected, n
        assert frontier.root() == expected, n
        if n < 70:
            frontier.append(leaves[n])


def test_all_inclusion_proofs_up_to_40_match_reference_verify_and_reject_tampering() -> None:
    leaves = random_leaves(40)
    for n in range(1, 41):
        r = ref_mth(leaves[:n])
        for i in range(n):
            proof = inclusion_proof(i, leaves[:n])
            assert proof == ref_path(i, leaves[:n])
            lh = leaf_hash(leaves[i])
            assert verify_inclusion(lh, i, n, proof, r)
            assert not verify_inclusion(leaf_hash(leaves[i] + b"x"), i, n, proof, r)
            assert not verify_inclusion(lh, i, n, proof, hashlib.sha256(r).digest())
            # The root binds the size; the path alone fixes only the depth (sizes 3 and 4 share leaf 0's
            # path), so a doubled or halved size, which changes the depth, must fail.
            assert not verify_inclusion(lh, i, 2 * n, proof, r)
            if n > 1 and i < n // 2:
                assert not verify_inclusion(lh, i, n // 2, proof, r)
            if n > 1:
                assert not verify_inclusion(lh, (i + 1) % n, n, proof, r)
                bad = list(proof)
                bad[len(bad) // 2] = hashlib.sha256(bad[len(bad) // 2]).digest()
                assert not verify_inclusion(lh, i, n, bad, r)
                assert not verify_inclusion(lh, i, n, proof[:-1], r)
            assert not verify_inclusion(lh, i, n, [*proof, r], r)


def test_all_consistency_proofs_up_to_40_match_reference_verify_and_reject_tampering() -> None:
    leaves = random_leaves(40, seed=3)
    roots = [ref_mth(leaves[:n]) for n in range(41)]
    for n in range(1, 41):
        for m in range(0, n + 1):
            proof = consistency_proof(m, n, leaves)
            expected = [] if m in (0, n) else ref_subproof(m, leaves[:n], True)
            assert proof == expected, (m, n)
            assert verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
            if 0 < m < n:
                assert not verify_consistency(
                    m, n, roots[m], roots[n - 1] if n - 1 != m else EMPTY_ROOT, proof
                )
                assert not verify_consistency(m, n, hashlib.sha256(roots[m]).digest(), roots[n], proof)
                for j in range(len(proof)):
                    bad = list(proof)
                    bad[j] = hashlib.sha256(bad[j]).digest()
                    assert not verify_consistency(m, n, roots[m], roots[n], bad), (m, n, j)
                assert not verify_consistency(m, n, roots[m], roots[n], proof[:-1])
                assert not verify_consistency(m, n, roots[m], roots[n], [])
                if n < 40:
                    assert not verify_consistency(m, n + 1, roots[m], roots[n + 1], proof)


def test_consistency_trivial_and_invalid_sizes() -> None:
    leaves = random_leaves(5)
    r5 = root(leaves)
    assert verify_consistency(5, 5, r5, r5, [])
    assert not verify_consistency(5, 5, r5, EMPTY_ROOT, [])
    assert not verify_consistency(5, 5, r5, r5, [r5])
    assert verify_consistency(0, 5, EMPTY_ROOT, r5, [])
    assert not verify_consistency(6, 5, r5, r5, [])
    with pytest.raises(ValueError):
        consistency_ranges(6, 5)
    with pytest.raises(ValueError):
        inclusion_ranges(5, 5)
    with pytest.raises(ValueError):
        consistency_proof(2, 9, leaves)


def test_ranges_partition_the_tree_the_proof_covers() -> None:
    # Every inclusion range is disjoint from the leaf and together with it covers [0, n).
    for n in range(1, 65):
        for i in range(n):
            covered = {i}
            for lo, hi in inclusion_ranges(i, n):
                span = set(range(lo, hi))
                assert not covered & span
                covered |= span
            assert covered == set(range(n))


def test_frontier_state_round_trip_and_validation() -> None:
    leaves = random_leaves(23)
    frontier = MerkleFrontier()
    frontier.extend(leaves[:13])
    restored = MerkleFrontier(frontier.size, frontier.hashes)
    restored.extend(leaves[13:])
    assert restored.root() == ref_mth(leaves)
    assert frontier.root() == ref_mth(leaves[:13])  # the original is untouched
    assert len(frontier.hashes) == bin(13).count("1")
    with pytest.raises(ValueError):
        MerkleFrontier(13, frontier.hashes[:2])
