"""Whole-log verification: the hash chain, the Merkle root at every signed tree head, every signature.

Rule: walk the entries once, checking the chain (``chain.verify_chain`` rules) while appending each entry
hash to a Merkle frontier; when the frontier reaches a tree head's size, ``frontier.root()`` must equal the
signed root and the Ed25519 signature must verify. A chain break names its entry; a root mismatch (a chain
rewritten from some point on) names the first seq the failing head covers beyond the previous good head.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.domain.chain import FIRST_SEQ, GENESIS_HASH, ChainEntry, VerifyResult, verify_chain
from services.audit.domain.checkpoint import SignedTreeHead, verify_tree_head
from services.audit.domain.frontier import MerkleFrontier


def verify_log(
    entries: Iterable[ChainEntry],
    heads: Sequence[SignedTreeHead],
    public_key: Ed25519PublicKey | bytes,
    *,
    deep: bool = False,
) -> VerifyResult:
    """Verify the full log from genesis against its signed tree heads (sizes count from ``FIRST_SEQ``)."""
    ordered = sorted(heads, key=lambda h: h.tree_size)
    for head in ordered:
        if not verify_tree_head(head, public_key):
            return VerifyResult(False, 0, None, f"bad_signature: tree head of size {head.tree_size}")
    frontier = MerkleFrontier()
    waiting = [h for h in ordered if h.tree_size > 0][::-1]  # a stack, smallest size on top
    for head in ordered:
        if head.tree_size == 0 and head.root_hash != frontier.root():
            return VerifyResult(False, 0, FIRST_SEQ, "root_mismatch: empty tree head has a non-empty root")
    good_size = 0
    failed: SignedTreeHead | None = None

    def tap(stream: Iterable[ChainEntry]) -> Iterable[ChainEntry]:
        nonlocal good_size, failed
        for entry in stream:
            yield entry
            frontier.append(entry.entry_hash)
            while waiting and waiting[-1].tree_size == frontier.size:
                head = waiting.pop()
                if frontier.root() != head.root_hash:
                    failed = head
                    return
                good_size = head.tree_size

    result = verify_chain(tap(entries), prev_hash=GENESIS_HASH, first_seq=FIRST_SEQ, deep=deep)
    if failed is not None:
        first_bad = FIRST_SEQ + good_size
        return VerifyResult(
            False,
            failed.tree_size,
            first_bad,
            f"root_mismatch: entries {first_bad}..{FIRST_SEQ + failed.tree_size - 1} differ from the tree head "
            f"signed at size {failed.tree_size}",
        )
    if not result.ok:
        return result
    if waiting:
        return VerifyResult(
            False,
            result.checked,
            FIRST_SEQ + result.checked,
            f"truncated: {result.checked} entries, a tree head was signed at size {waiting[0].tree_size}",
        )
    return result
