"""Operational settings a rule set may carry: stability parameters and the rebalancing schedule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

SCHEDULES: tuple[str, ...] = ("daily", "weekly", "monthly", "quarterly")
DEFAULT_PERSISTENCE_RUNS = 2
DEFAULT_MARGIN = 0.05
DEFAULT_MAX_MOVE_SHARE = 0.25


@dataclass(frozen=True)
class StabilitySettings:
    """Hysteresis and move cap for ``stability.stabilise``."""

    persistence_runs: int = DEFAULT_PERSISTENCE_RUNS
    margin: float = DEFAULT_MARGIN
    max_move_share: float = DEFAULT_MAX_MOVE_SHARE


def stability_settings(ruleset: Mapping[str, Any]) -> StabilitySettings:
    """Rule: ``ruleset.stability`` values where given, else persistence 2 runs, margin 0.05, cap 25 %."""
    spec = ruleset.get("stability") or {}
    return StabilitySettings(
        persistence_runs=int(spec.get("persistence_runs", DEFAULT_PERSISTENCE_RUNS)),
        margin=float(spec.get("margin", DEFAULT_MARGIN)),
        max_move_share=float(spec.get("max_move_share", DEFAULT_MAX_MOVE_SHARE)),
    )


def stability_issues(spec: Any) -> list[tuple[str, str]]:
    """(path, message) for every problem of a ``stability`` block."""
    if not isinstance(spec, Mapping):
        return [("stability", "must be an object {persistence_runs, margin, max_move_share}")]
    issues: list[tuple[str, str]] = []
    runs = spec.get("persistence_runs", DEFAULT_PERSISTENCE_RUNS)
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        issues.append(("stability.persistence_runs", "must be an integer >= 1"))
    margin = spec.get("margin", DEFAULT_MARGIN)
    if not isinstance(margin, int | float) or isinstance(margin, bool) or not 0 <= margin <= 1:
        issues.append(("stability.margin", "must be a number in [0, 1]"))
    share = spec.get("max_move_share", DEFAULT_MAX_MOVE_SHARE)
    if not isinstance(share, int | float) or isinstance(share, bool) or not 0 <= share <= 1:
        issues.append(("stability.max_move_share", "must be a fraction in [0, 1]"))
    for key in spec:
        if key not in ("persistence_runs", "margin", "max_move_share"):
            issues.append((f"stability.{key}", "unknown key"))
    return issues


def schedule_issues(schedule: Any) -> list[tuple[str, str]]:
    """(path, message) when ``schedule`` is not one of daily, weekly, monthly, quarterly."""
    if schedule in SCHEDULES:
        return []
    return [("schedule", f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")]


def next_run_due(last_run: datetime | None, schedule: str, now: datetime) -> bool:
    """Rule: a scheduled run is due when there was none, or when ``now`` has reached last run + period,
    with periods daily = 1 day, weekly = 7 days, monthly = the same day next month, quarterly = 3 months.
    """
    if last_run is None:
        return True
    if schedule == "daily":
        return now >= last_run + timedelta(days=1)
    if schedule == "weekly":
        return now >= last_run + timedelta(days=7)
    months = {"monthly": 1, "quarterly": 3}[schedule]
    total = last_run.year * 12 + last_run.month - 1 + months
    year, month = divmod(total, 12)
    day = min(last_run.day, 28)
    return now >= last_run.replace(year=year, month=month + 1, day=day)
