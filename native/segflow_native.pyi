"""segflow's compiled hot loops (Rust, native/src): the audit capture writer's drafting and sealing.

The rules are ``services.audit.sealing`` (``draft_of``, the reference) and ``services.audit.domain``."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

DEDUP_KEY_BYTES: int

class Draft:
    """A received record plus the metadata the chain stores about it (before seq and hashing)."""

    record: Any
    dedup_key: bytes
    event_id: str
    type: str | None
    subject: str | None
    event_time: str
    event_us: int

    def __init__(
        self,
        record: Any,
        dedup_key: bytes,
        event_id: str,
        type: str | None,
        subject: str | None,
        event_time: str,
        event_us: int,
    ) -> None: ...

def draft_batch(
    records: Iterable[Any],
    seen: set[bytes],
    dlq_topic: str,
    dlq_headers: list[str],
    usable_event_us: Callable[[str], int | None],
    broker_time: Callable[[int], str],
) -> list[Draft]:
    """Drafts of ``records``, each dedup key once (``seen`` holds earlier chunks' keys and is updated)."""

def seal_batch(
    prev_hash: bytes,
    size: int,
    frontier: Sequence[bytes],
    drafts: Sequence[Draft],
    payloads: Sequence[bytes | None],
    captured_us: int,
    subtree_min_level: int,
) -> tuple[list[tuple[Any, ...]], list[bytes], list[tuple[int, int, bytes]]]:
    """Seal drafts as entries ``size, size + 1, ...`` after ``prev_hash`` on top of the Merkle ``frontier``:
    ``(COPY rows in ENTRY_COLUMNS order, the frontier's roots after, completed subtrees (level, index, root))``."""
