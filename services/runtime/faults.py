"""Fault injection points for the reliability suite.

``SEGFLOW_FAULT_POINT=<name>`` (optionally ``SEGFLOW_FAULT_AFTER=<n>``: fire on the n-th pass, default 1)
makes the process SIGKILL itself at that point, exactly as a crash would. Points:
``consumer_after_db_commit`` (effects committed, offset not), ``consumer_mid_batch``,
``relay_after_ack`` (broker acknowledged, row not marked sent). Unset in normal runs: a no-op.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def maybe_crash(point: str) -> None:
    """SIGKILL this process if the configured fault point is reached the configured number of times."""
    if os.environ.get("SEGFLOW_FAULT_POINT") != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] >= int(os.environ.get("SEGFLOW_FAULT_AFTER", "1")):
        os.kill(os.getpid(), signal.SIGKILL)
