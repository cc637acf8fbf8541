"""Demand bucket numbering: event dates -> month and ISO-week period indices (pure, calendar only)."""

from __future__ import annotations

from datetime import date, timedelta

_EPOCH_MONDAY = date(1970, 1, 5)  # the first Monday on or after 1970-01-01
GRAINS: tuple[str, ...] = ("week", "month")


def month_index(day: date) -> int:
    """Rule: month period = 12 * year + (month - 1), so consecutive months differ by exactly 1."""
    return 12 * day.year + day.month - 1


def week_index(day: date) -> int:
    """Rule: week period = floor((day - 1970-01-05) / 7 days); weeks start on Monday (ISO 8601)."""
    return (day - _EPOCH_MONDAY).days // 7


def period_index(day: date, grain: str) -> int:
    """The period of ``day`` at ``grain`` ("week" or "month")."""
    if grain == "month":
        return month_index(day)
    if grain == "week":
        return week_index(day)
    raise ValueError(f"unknown grain {grain!r}; expected week or month")


def period_start(period: int, grain: str) -> date:
    """Inverse of ``period_index``: the first day of the period (Monday for weeks, the 1st for months)."""
    if grain == "month":
        return date(period // 12, period % 12 + 1, 1)
    if grain == "week":
        return _EPOCH_MONDAY + timedelta(days=7 * period)
    raise ValueError(f"unknown grain {grain!r}; expected week or month")


def period_label(period: int, grain: str) -> str:
    """ "2011-03" for a month, "2011-W09" (ISO week of its Monday) for a week."""
    start = period_start(period, grain)
    if grain == "month":
        return f"{start.year:04d}-{start.month:02d}"
    year, week, _ = start.isocalendar()
    return f"{year:04d}-W{week:02d}"
