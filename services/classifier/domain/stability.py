"""Stable reclassification: hysteresis (persistence or margin), a per-run move cap, override locks.

A computed segment change is applied only when it has persisted for N consecutive runs or clears
the deciding boundary by a margin; at most floor(max_move_share * entities) such moves apply per run
(largest boundary clearance first, then id); the rest wait and are reported. Locked entities (an
active override) take the override segment and skip automatic moves; when the lock ends the entity
reverts to its computed segment at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InvalidInput


@dataclass(frozen=True)
class EntityState:
    """What a run remembers per entity: its applied segment and a pending (not yet applied) change."""

    segment: str
    pending_segment: str | None = None
    pending_runs: int = 0
    overridden: bool = False


@dataclass(frozen=True)
class Computed:
    """This run's computed segment and how far the entity sits from the deciding boundary
    (e.g. |cum_share_before - nearest ABC cutoff|)."""

    segment: str
    clearance: float


@dataclass(frozen=True)
class Change:
    """An applied change (``old_segment`` None for an entity seen for the first time)."""

    entity_id: str
    old_segment: str | None
    new_segment: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Deferred:
    """A computed change that waits, with the reason it waits."""

    entity_id: str
    current_segment: str
    proposed_segment: str
    pending_runs: int
    reason: str


@dataclass(frozen=True)
class _Candidate:
    entity_id: str
    old: str
    new: str
    runs: int
    clearance: float
    why: str


def _check_parameters(persistence_runs: int, margin: float, max_move_share: float) -> None:
    if persistence_runs < 1:
        raise InvalidInput(f"persistence_runs must be >= 1, got {persistence_runs}")
    if margin < 0 or math.isnan(margin):
        raise InvalidInput(f"margin must be >= 0, got {margin}")
    if not 0.0 <= max_move_share <= 1.0:
        raise InvalidInput(f"max_move_share must be a fraction in [0, 1], got {max_move_share}")


def stabilise(
    previous_state: Mapping[str, EntityState],
    computed: Mapping[str, Computed],
    *,
    persistence_runs: int,
    margin: float,
    max_move_share: float,
    locks: Mapping[str, str],
) -> tuple[dict[str, EntityState], list[Change], list[Deferred]]:
    """Apply this run's computed segments to the previous state under the stability rules.

    Per entity (ids in ascending order):
    - locked (id in ``locks``): segment = lock segment (override beats rules), pending cleared;
    - previously overridden, lock gone: revert to the computed segment immediately;
    - new (no previous state): take the computed segment;
    - computed == current: pending cleared;
    - otherwise runs = previous pending_runs + 1 if the same segment was pending, else 1; the change is
      eligible when runs >= persistence_runs or clearance >= margin, else it waits.
    Eligible changes are capped at floor(max_move_share * len(computed)), taken by clearance
    descending then id ascending; the others wait (pending kept) with the reason "move cap".
    Entities only in ``previous_state`` are carried over unchanged. Returns (state, changes, deferred).
    """
    _check_parameters(persistence_runs, margin, max_move_share)
    state: dict[str, EntityState] = dict(previous_state)
    changes: list[Change] = []
    deferred: list[Deferred] = []
    candidates: list[_Candidate] = []
    for entity_id in sorted(set(computed) | set(locks)):
        previous = previous_state.get(entity_id)
        if entity_id in locks:
            target = locks[entity_id]
            if previous is None or previous.segment != target:
                old = None if previous is None else previous.segment
                changes.append(
                    Change(entity_id, old, target, ("active override beats the computed segment",))
                )
            state[entity_id] = EntityState(segment=target, overridden=True)
            continue
        now = computed[entity_id]
        if previous is None:
            state[entity_id] = EntityState(segment=now.segment)
            changes.append(Change(entity_id, None, now.segment, ("first classification",)))
            continue
        if previous.overridden:
            state[entity_id] = EntityState(segment=now.segment)
            if now.segment != previous.segment:
                changes.append(Change(entity_id, previous.segment, now.segment, ("override ended: reverts",)))
            continue
        if now.segment == previous.segment:
            state[entity_id] = EntityState(segment=previous.segment)
            continue
        runs = previous.pending_runs + 1 if previous.pending_segment == now.segment else 1
        persisted = runs >= persistence_runs
        clears = now.clearance >= margin
        if not (persisted or clears):
            state[entity_id] = EntityState(previous.segment, now.segment, runs)
            reason = (
                f"persisted {runs} of {persistence_runs} runs and clears the boundary by"
                f" {now.clearance:.4f} < margin {margin:.4f}"
            )
            deferred.append(Deferred(entity_id, previous.segment, now.segment, runs, reason))
            continue
        why = (
            f"persisted {runs} of {persistence_runs} runs"
            if persisted
            else f"clears the boundary by {now.clearance:.4f} >= margin {margin:.4f}"
        )
        candidates.append(_Candidate(entity_id, previous.segment, now.segment, runs, now.clearance, why))
    cap = math.floor(max_move_share * len(computed) + 1e-9)
    candidates.sort(key=lambda c: (-c.clearance, c.entity_id))
    for position, candidate in enumerate(candidates):
        if position < cap:
            state[candidate.entity_id] = EntityState(segment=candidate.new)
            changes.append(Change(candidate.entity_id, candidate.old, candidate.new, (candidate.why,)))
        else:
            state[candidate.entity_id] = EntityState(candidate.old, candidate.new, candidate.runs)
            reason = f"move cap reached: at most {cap} of {len(computed)} entities may move per run"
            deferred.append(
                Deferred(candidate.entity_id, candidate.old, candidate.new, candidate.runs, reason)
            )
    changes.sort(key=lambda c: c.entity_id)
    deferred.sort(key=lambda d: d.entity_id)
    return state, changes, deferred


def computed_from_arrays(
    keys: Sequence[str] | np.ndarray,
    segments: Sequence[str] | np.ndarray,
    clearance: Sequence[float] | np.ndarray,
) -> dict[str, Computed]:
    """``stabilise``'s ``computed`` input from engine arrays (entity key, segment name, boundary clearance)."""
    return {
        str(key): Computed(str(segment), float(gap))
        for key, segment, gap in zip(keys, segments, clearance, strict=True)
    }
