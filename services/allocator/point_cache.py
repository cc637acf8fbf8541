"""In-memory pictures of the sku@sites this process promises on, each valid at one ``stock_points``
version (store_points.py: every writer bumps it in its transaction, this process's and other replicas').

A promise bumps the version as it locks the row and gets the new one, ``v``; the cached state is still
the stored one exactly when it was cached at ``v - 1`` (mod 2**31 - 1): nothing but this transaction has
changed the sku@site since. Otherwise the caller reads the state again. A state is cached only after its
transaction committed. Oldest entries are dropped past ``max_points``."""

from __future__ import annotations

from services.allocator.picture import PointState
from services.allocator.store_points import VERSION_MODULUS

DEFAULT_MAX_POINTS = 100_000


class PointCache:
    def __init__(self, max_points: int = DEFAULT_MAX_POINTS) -> None:
        self.max_points = max_points
        self._entries: dict[tuple[str, str], tuple[int, PointState]] = {}
        self.hits = 0
        self.misses = 0

    def valid_before(self, sku: str, site: str, locked_version: int) -> PointState | None:
        """The cached state if it was cached at ``locked_version - 1`` (the version before this lock)."""
        entry = self._entries.get((sku, site))
        if entry is not None and entry[0] == (locked_version - 1) % VERSION_MODULUS:
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def put(self, sku: str, site: str, version: int, state: PointState) -> None:
        """Remember ``state`` as the committed state at ``version``."""
        key = (sku, site)
        self._entries.pop(key, None)
        self._entries[key] = (version, state)
        while len(self._entries) > self.max_points:
            del self._entries[next(iter(self._entries))]

    def __len__(self) -> int:
        return len(self._entries)
