"""The Merkle frontier (compact range [0, n)): O(log n) state that updates the RFC 9162 root per append.

A tree of n leaves splits into perfect subtrees, one per 1-bit of n, largest (leftmost) first; the frontier
stores their roots. Appending merges equal-sized neighbours like a binary counter carry, and
``MTH = fold from the right: r = h_last; r = H(0x01 || h_i || r)`` over the stored roots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.audit.domain.merkle import EMPTY_ROOT, leaf_hash, node_hash


class MerkleFrontier:
    """Roots of the perfect subtrees covering leaves [0, size); persist with ``size`` and ``hashes``."""

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} holds {size.bit_count()} hashes, got {len(hashes)}")
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf (the entry hash, leaf-hashed here): merge while the size's low bit is set."""
        self.append_leaf_hash(leaf_hash(leaf))

    def append_leaf_hash(self, hashed: bytes) -> None:
        """Add one already leaf-hashed value (amortised O(1), worst O(log n) node hashes)."""
        n = self._size
        while n & 1:
            hashed = node_hash(self._hashes.pop(), hashed)
            n >>= 1
        self._hashes.append(hashed)
        self._size += 1

    def append_completing(self, leaf: bytes, min_level: int) -> list[tuple[int, int, bytes]]:
        """Add one leaf and return ``(level, index, root)`` of every perfect subtree of ``2^level`` leaves
        (``level >= min_level >= 1``) the append completes; it covers leaves
        ``[index * 2^level, (index + 1) * 2^level)``, so ``index = (size_after >> level) - 1``."""
        hashed = leaf_hash(leaf)
        n, level, size_after = self._size, 0, self._size + 1
        done: list[tuple[int, int, bytes]] = []
        while n & 1:
            hashed = node_hash(self._hashes.pop(), hashed)
            n >>= 1
            level += 1
            if level >= min_level:
                done.append((level, (size_after >> level) - 1, hashed))
        self._hashes.append(hashed)
        self._size = size_after
        return done

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """MTH of the leaves so far: right fold of the subtree roots; SHA-256("") when empty."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r

    def copy(self) -> MerkleFrontier:
        return MerkleFrontier(self._size, self._hashes)
