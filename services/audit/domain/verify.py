"""Whole-log verification: the hash chain, the Merkle root at every signed tree head, every signature.

Rule: walk the entries once, checking the chain (``chain.verify_chain`` rules) while appending each entry
hash to a Merkle frontier; when the frontier reaches a tree head's size, ``frontier.root()`` must equal the
signed root and the Ed25519 signature must verify. A chain break names its entry; a root mismatch (a chain
rewritten from some point on) names the first seq the failing head covers beyond the previous good head.
``LogVerifier`` does this over consecutive chunks (O(chunk + log n) memory); ``verify_log`` is one chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.domain.chain import FIRST_SEQ, GENESIS_HASH, ChainEntry, VerifyResult, verify_chain
from services.audit.domain.checkpoint import SignedTreeHead, verify_tree_head
from services.audit.domain.frontier import MerkleFrontier


class LogVerifier:
    """Streaming ``verify_log``: ``feed`` consecutive chunks in seq order, then ``finish``.

    ``feed`` returns the failure as soon as one is found (later chunks are then ignored) else None.
    """

    def __init__(
        self, heads: Sequence[SignedTreeHead], public_key: Ed25519PublicKey | bytes, *, deep: bool = False
    ) -> None:
        self.deep = deep
        self.frontier = MerkleFrontier()
        self.prev_hash = GENESIS_HASH
        self.checked = 0
        self.good_size = 0
        self.failure: VerifyResult | None = None
        ordered = sorted(heads, key=lambda h: h.tree_size)
        self._waiting = [h for h in ordered if h.tree_size > 0][::-1]  # a stack, smallest size on top
        for head in ordered:
            if not verify_tree_head(head, public_key):
                self.failure = VerifyResult(
                    False, 0, None, f"bad_signature: tree head of size {head.tree_size}"
                )
                return
        for head in ordered:
            if head.tree_size == 0 and head.root_hash != self.frontier.root():
                self.failure = VerifyResult(
                    False, 0, FIRST_SEQ, "root_mismatch: empty tree head has a non-empty root"
                )
                return

    def feed(self, entries: Iterable[ChainEntry]) -> VerifyResult | None:
        if self.failure is not None:
            return self.failure
        chunk = list(entries)
        root_failure: SignedTreeHead | None = None
        frontier, waiting = self.frontier, self._waiting

        def tap(stream: Iterable[ChainEntry]) -> Iterable[ChainEntry]:
            nonlocal root_failure
            for entry in stream:
                yield entry
                frontier.append(entry.entry_hash)
                while waiting and waiting[-1].tree_size == frontier.size:
                    head = waiting.pop()
                    if frontier.root() != head.root_hash:
                        root_failure = head
                        return
                    self.good_size = head.tree_size

        result = verify_chain(
            tap(chunk), prev_hash=self.prev_hash, first_seq=FIRST_SEQ + self.checked, deep=self.deep
        )
        if root_failure is not None:
            first_bad = FIRST_SEQ + self.good_size
            self.failure = VerifyResult(
                False,
                root_failure.tree_size,
                first_bad,
                f"root_mismatch: entries {first_bad}..{FIRST_SEQ + root_failure.tree_size - 1} differ from the "
                f"tree head signed at size {root_failure.tree_size}",
            )
            return self.failure
        if not result.ok:
            self.failure = VerifyResult(
                False, self.checked + result.checked, result.first_bad_seq, result.reason
            )
            return self.failure
        self.checked += result.checked
        if chunk:
            self.prev_hash = chunk[-1].entry_hash
        return None

    def finish(self) -> VerifyResult:
        if self.failure is not None:
            return self.failure
        if self._waiting:
            return VerifyResult(
                False,
                self.checked,
                FIRST_SEQ + self.checked,
                f"truncated: {self.checked} entries, a tree head was signed at size {self._waiting[0].tree_size}",
            )
        return VerifyResult(True, self.checked)


def verify_log(
    entries: Iterable[ChainEntry],
    heads: Sequence[SignedTreeHead],
    public_key: Ed25519PublicKey | bytes,
    *,
    deep: bool = False,
) -> VerifyResult:
    """Verify the full log from genesis against its signed tree heads (sizes count from ``FIRST_SEQ``)."""
    verifier = LogVerifier(heads, public_key, deep=deep)
    verifier.feed(entries)
    return verifier.finish()
