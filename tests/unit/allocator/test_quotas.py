"""Quota resolution: number, percent and ratio bases; defaults; conflicts settled by tier."""

from __future__ import annotations

import pytest

from services.allocator.domain.quotas import QuotaScope, QuotaSpec, resolve_quotas

GOLD, SILVER, BRONZE = QuotaScope("GOLD"), QuotaScope("SILVER"), QuotaScope("BRONZE")


def test_number_and_percent() -> None:
    resolved = resolve_quotas(
        200,
        [QuotaSpec(GOLD, "maximum", "number", 120), QuotaSpec(SILVER, "maximum", "percent", 0.25)],
    )
    assert resolved.bounds[GOLD].maximum == 120
    assert resolved.bounds[SILVER].maximum == pytest.approx(50)  # 25 % of 200
    assert resolved.bounds[GOLD].minimum == 0
    assert resolved.conflicts == ()


def test_ratio_splits_what_number_and_percent_leave() -> None:
    resolved = resolve_quotas(
        100,
        [
            QuotaSpec(BRONZE, "maximum", "number", 40),
            QuotaSpec(GOLD, "maximum", "ratio", 2),
            QuotaSpec(SILVER, "maximum", "ratio", 1),
        ],
    )
    # 100 - 40 = 60 left, split 2:1 -> 40 and 20
    assert resolved.bounds[GOLD].maximum == pytest.approx(40)
    assert resolved.bounds[SILVER].maximum == pytest.approx(20)


def test_maximum_never_exceeds_supply_and_minimum_never_exceeds_maximum() -> None:
    resolved = resolve_quotas(
        50,
        [
            QuotaSpec(GOLD, "maximum", "number", 80),
            QuotaSpec(SILVER, "minimum", "number", 30),
            QuotaSpec(SILVER, "maximum", "number", 20),
        ],
    )
    assert resolved.bounds[GOLD].maximum == 50
    assert resolved.bounds[SILVER].minimum == 20
    assert [(c.scope, c.requested, c.granted) for c in resolved.conflicts] == [(SILVER, 30, 20)]


def test_minimums_over_supply_are_granted_by_tier() -> None:
    resolved = resolve_quotas(
        100,
        [
            QuotaSpec(BRONZE, "minimum", "number", 30, tier=3),
            QuotaSpec(GOLD, "minimum", "number", 60, tier=1),
            QuotaSpec(SILVER, "minimum", "percent", 0.3, tier=2),
        ],
    )
    assert resolved.bounds[GOLD].minimum == 60
    assert resolved.bounds[SILVER].minimum == pytest.approx(30)
    assert resolved.bounds[BRONZE].minimum == pytest.approx(10)  # 100 - 60 - 30
    assert len(resolved.conflicts) == 1
    conflict = resolved.conflicts[0]
    assert (conflict.scope, conflict.requested, conflict.granted) == (BRONZE, 30, pytest.approx(10))
    assert "tier" in conflict.reason


def test_region_channel_scopes_and_periods() -> None:
    eu_web = QuotaScope("GOLD", region="EU", channel="web")
    specs = [
        QuotaSpec(eu_web, "maximum", "number", 10, period="2026-W48"),
        QuotaSpec(eu_web, "maximum", "number", 25, period="2026-W49"),
        QuotaSpec(GOLD, "maximum", "percent", 0.5),
    ]
    week48 = resolve_quotas(100, specs, period="2026-W48")
    week49 = resolve_quotas(100, specs, period="2026-W49")
    assert week48.bounds[eu_web].maximum == 10 and week49.bounds[eu_web].maximum == 25
    assert week48.bounds[GOLD].maximum == 50


def test_invalid_specs() -> None:
    with pytest.raises(ValueError):
        resolve_quotas(10, [QuotaSpec(GOLD, "maximum", "percent", 97.5)])
    with pytest.raises(ValueError):
        resolve_quotas(10, [QuotaSpec(GOLD, "minimum", "number", -1)])
    with pytest.raises(ValueError):
        resolve_quotas(-1, [])
