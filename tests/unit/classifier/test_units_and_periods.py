"""Unit normalisation (pint + product conversions), period numbering, survivorship, supplier stats."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from services.classifier.domain.operations import next_run_due
from services.classifier.domain.periods import month_index, period_label, period_start, week_index
from services.classifier.domain.supplier import supplier_stats
from services.classifier.domain.survivorship import SourceRecord, survive
from services.classifier.units import UnknownUnit, conversion_factor, to_base_units


@pytest.mark.parametrize(
    ("unit", "base", "conversions", "expected"),
    [
        ("EA", "EA", {}, 1.0),
        ("CS", "EA", {"CS": 12}, 12.0),  # product-specific: CS = 12 EA
        ("KGM", "GRM", {}, 1000.0),  # physical: 1 kg = 1000 g
        ("LBR", "KGM", {}, 0.45359237),  # 1 lb = 0.45359237 kg exactly
        ("DZN", "EA", {}, 12.0),
        ("GRM", "EA", {"KGM": 4}, 0.004),  # chained: 1 g = 0.001 kg, 1 kg = 4 EA
        ("EA", "DZN", {}, 1 / 12),
    ],
)
def test_conversion_factors(unit: str, base: str, conversions: dict[str, float], expected: float) -> None:
    assert conversion_factor(unit, base, conversions) == pytest.approx(expected, rel=1e-12)


def test_quantity_in_base_units() -> None:
    assert to_base_units(3, "CS", "EA", {"CS": 12}) == 36


@pytest.mark.parametrize(("unit", "base"), [("XYZ", "EA"), ("KGM", "EA"), ("LTR", "KGM"), ("CS", "EA")])
def test_unknown_or_incompatible_units_raise(unit: str, base: str) -> None:
    with pytest.raises(UnknownUnit):
        conversion_factor(unit, base, {})


def test_month_and_week_periods() -> None:
    assert month_index(date(2011, 1, 31)) - month_index(date(2010, 12, 1)) == 1
    assert month_index(date(2011, 12, 9)) - month_index(date(2010, 12, 1)) == 12
    monday = date(2024, 1, 1)  # a Monday
    assert week_index(monday + timedelta(days=6)) == week_index(monday)
    assert week_index(monday + timedelta(days=7)) == week_index(monday) + 1
    assert period_start(week_index(date(2024, 1, 4)), "week") == monday
    assert period_start(month_index(date(2024, 3, 17)), "month") == date(2024, 3, 1)
    assert period_label(month_index(date(2011, 3, 5)), "month") == "2011-03"
    assert period_label(week_index(date(2024, 1, 4)), "week") == "2024-W01"


def test_survivorship_prefers_priority_then_recency() -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    records = [
        SourceRecord(
            "WMS", "1", t + timedelta(days=5), {"name": "wms name", "region": "EU-W", "owner": None}
        ),
        SourceRecord("SAP-EU", "1", t, {"name": "sap name", "region": None, "owner": "ann"}),
        SourceRecord("SAP-EU", "2", t + timedelta(days=1), {"name": "sap newer", "region": None}),
    ]
    golden = survive(records, ["SAP-EU", "WMS"])
    assert golden["name"] == "sap newer"  # best source; within it, the most recent
    assert golden["region"] == "EU-W"  # only the lower-priority source has it
    assert golden["owner"] == "ann"
    assert survive(list(reversed(records)), ["SAP-EU", "WMS"]) == golden  # input order never matters
    assert survive(records, [])["name"] == "wms name"  # no priorities: recency alone


def test_supplier_stats_against_plain_python() -> None:
    delays = [-1, 0, 2, 5, 0]
    leads = [10, 12, 14, float("nan"), 9]
    stats = supplier_stats(np.array(delays, float), np.array(leads, float))
    known = [x for x in leads if x == x]
    assert stats.receipts == 5
    assert stats.on_time_rate == pytest.approx(3 / 5)
    assert stats.lead_time_mean == pytest.approx(sum(known) / len(known))
    assert stats.lead_time_std == pytest.approx(statistics.pstdev(known))
    assert stats.lead_time_cv == pytest.approx(statistics.pstdev(known) / (sum(known) / len(known)))
    empty = supplier_stats(np.array([]), np.array([]))
    assert empty.receipts == 0 and np.isnan(empty.on_time_rate) and np.isnan(empty.lead_time_cv)


def test_schedule_due() -> None:
    last = datetime(2024, 1, 31, 8, tzinfo=UTC)
    assert next_run_due(None, "weekly", last)
    assert not next_run_due(last, "daily", last + timedelta(hours=23))
    assert next_run_due(last, "daily", last + timedelta(days=1))
    assert not next_run_due(last, "weekly", last + timedelta(days=6))
    assert next_run_due(last, "monthly", datetime(2024, 2, 28, 8, tzinfo=UTC))
    assert not next_run_due(last, "quarterly", datetime(2024, 4, 27, tzinfo=UTC))
    assert next_run_due(last, "quarterly", datetime(2024, 4, 28, 8, tzinfo=UTC))
