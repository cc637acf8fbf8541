"""EWMA alert state machine: raise after k windows below target, clear with hysteresis after m windows."""

from __future__ import annotations

import numpy as np
import pytest

from services.policy.domain.alerts import AlertConfig, initial_state, step


def config(k: int = 2, m: int = 2, lam: float = 0.5) -> AlertConfig:
    return AlertConfig(
        target=np.array([0.95, 0.90]),
        hysteresis=np.array([0.02, 0.02]),
        raise_after=k,
        clear_after=m,
        smoothing=lam,
        escalation=(("planner@a", "head-of-supply@a"), ("planner@b",)),
    )


def test_ewma_follows_its_recurrence() -> None:
    state = initial_state(2)
    xs = [[0.9, 0.8], [1.0, 0.95], [np.nan, 0.7], [0.97, 0.99]]
    expected = [np.nan, np.nan]
    for x in xs:
        state, _ = step(state, x, config(lam=0.3))
        for i in range(2):
            if np.isnan(x[i]):
                continue
            expected[i] = x[i] if np.isnan(expected[i]) else 0.3 * x[i] + 0.7 * expected[i]
    assert state.ewma.tolist() == pytest.approx(expected)


def test_raise_after_k_windows_then_clear_with_hysteresis() -> None:
    cfg = config(k=3, m=2, lam=1.0)  # lambda = 1: the EWMA is the observation itself
    state = initial_state(2)
    timeline = []
    # segment 0 target 0.95, clears only at >= 0.97
    for value in [0.94, 0.93, 0.96, 0.94, 0.93, 0.92, 0.96, 0.97, 0.96, 0.97, 0.98]:
        state, events = step(state, [value, 0.99], cfg)
        timeline.append([(e.segment, e.kind) for e in events])
        if events and events[0].kind == "raised":
            assert events[0].escalation == ("planner@a", "head-of-supply@a")
    # a recovery to 0.96 resets the below-run: raised only at the third consecutive low (index 5)
    assert timeline[5] == [(0, "raised")]
    # 0.96 is above target but inside the hysteresis band: no clear; two windows >= 0.97 needed
    assert timeline[10] == [(0, "cleared")]
    assert sum(len(t) for t in timeline) == 2
    assert not state.active.any()


def test_missing_window_neither_counts_nor_resets() -> None:
    cfg = config(k=2, m=1, lam=1.0)
    state = initial_state(2)
    state, _ = step(state, [0.5, np.nan], cfg)
    state, events = step(state, [np.nan, np.nan], cfg)
    assert events == [] and state.below_run[0] == 1
    state, events = step(state, [0.5, np.nan], cfg)
    assert [(e.segment, e.kind) for e in events] == [(0, "raised")]
    state, events = step(state, [0.5, np.nan], cfg)
    assert events == []  # already active: raised once
