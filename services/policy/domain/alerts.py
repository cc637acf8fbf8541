"""KPI alerts as a pure state machine per segment: an EWMA of the KPI, raised after k consecutive windows
below target, cleared with hysteresis after m consecutive windows at or above target + h.

EWMA: e_t = lambda * x_t + (1 - lambda) * e_{t-1}, e_0 = x_0. A NaN observation (no data in the window)
leaves the state unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray

RAISED = "raised"
CLEARED = "cleared"


@dataclass(frozen=True)
class AlertConfig:
    """Per segment: target, hysteresis h, windows k to raise and m to clear, EWMA weight lambda, and the
    escalation path (who is told, in order) returned with each raise."""

    target: FloatArray
    hysteresis: FloatArray
    raise_after: int
    clear_after: int
    smoothing: float
    escalation: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class AlertState:
    """Per segment: EWMA (NaN before the first observation), run lengths below / recovered, active flag."""

    ewma: FloatArray
    below_run: npt.NDArray[np.int64]
    recovered_run: npt.NDArray[np.int64]
    active: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class AlertEvent:
    """A transition: ``raised`` (with the escalation path) or ``cleared`` for a segment."""

    segment: int
    kind: str
    ewma: float
    target: float
    escalation: tuple[str, ...]


def initial_state(segments: int) -> AlertState:
    """No observations yet, no alert active."""
    zeros = np.zeros(segments, dtype=np.int64)
    return AlertState(np.full(segments, np.nan), zeros, zeros.copy(), np.zeros(segments, dtype=bool))


def step(
    state: AlertState, observation: npt.ArrayLike, config: AlertConfig
) -> tuple[AlertState, list[AlertEvent]]:
    """Advance every segment by one window.

    below_run counts consecutive windows with EWMA < target; recovered_run consecutive windows with
    EWMA >= target + h. Raise when inactive and below_run >= k; clear when active and recovered_run >= m.
    """
    if not 0 < config.smoothing <= 1:
        raise DomainError("smoothing", "must be in (0, 1]")
    if config.raise_after < 1 or config.clear_after < 1:
        raise DomainError("raise_after", "window counts must be >= 1")
    x = np.asarray(observation, dtype=np.float64)
    seen = np.isfinite(x)
    lam = config.smoothing
    updated = np.where(np.isnan(state.ewma), x, lam * x + (1.0 - lam) * state.ewma)
    ewma = np.where(seen, updated, state.ewma)
    below = seen & (ewma < config.target)
    recovered = seen & (ewma >= config.target + config.hysteresis)
    below_run = np.where(seen, np.where(below, state.below_run + 1, 0), state.below_run)
    recovered_run = np.where(seen, np.where(recovered, state.recovered_run + 1, 0), state.recovered_run)
    raise_now = ~state.active & (below_run >= config.raise_after)
    clear_now = state.active & (recovered_run >= config.clear_after)
    active = (state.active | raise_now) & ~clear_now
    events = [
        AlertEvent(
            int(i),
            RAISED if raise_now[i] else CLEARED,
            float(ewma[i]),
            float(config.target[i]),
            config.escalation[i] if raise_now[i] else (),
        )
        for i in np.nonzero(raise_now | clear_now)[0]
    ]
    return AlertState(ewma, below_run, recovered_run, active), events
