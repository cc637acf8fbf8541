"""Order promising: earliest dates, partial confirmations, quotas, explanation, and consume."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.allocator.domain.atp import available_to_promise
from services.allocator.domain.promise import Confirmation, consume, promisable_by_day, promise

ATP = [4, 0, 0, 5, 0]  # the worked example of the ATP docstring: cumulative 4 4 4 9 9


def pairs(result_confirmations: tuple[Confirmation, ...]) -> list[tuple[int, float]]:
    return [(c.day, c.quantity) for c in result_confirmations]


def test_fully_confirmed_on_requested_day() -> None:
    result = promise(ATP, 3, requested_day=0)
    assert pairs(result.confirmations) == [(0, 3)]
    assert result.unconfirmed == 0
    assert result.explanation.limited_by == "none"


def test_supply_before_the_requested_day_is_usable_on_it() -> None:
    result = promise(ATP, 4, requested_day=2)
    assert pairs(result.confirmations) == [(2, 4)]


def test_partial_confirmations_across_dates() -> None:
    result = promise(ATP, 7, requested_day=1)
    assert pairs(result.confirmations) == [(1, 4), (3, 3)]
    assert result.confirmed == 7 and result.unconfirmed == 0
    assert result.explanation.limited_by == "atp"
    assert result.explanation.available_on_requested_day == 4


def test_unconfirmable_rest_is_returned() -> None:
    result = promise(ATP, 12, requested_day=0)
    assert pairs(result.confirmations) == [(0, 4), (3, 5)]
    assert result.unconfirmed == 3
    assert result.explanation.limited_by == "atp"


def test_quota_limits_and_is_named() -> None:
    result = promise(ATP, 7, requested_day=1, quota_remaining=5, segment="SILVER")
    assert pairs(result.confirmations) == [(1, 4), (3, 1)]
    assert result.unconfirmed == 2
    assert result.explanation.limited_by == "quota"
    assert result.explanation.segment == "SILVER" and result.explanation.quota == 5


def test_zero_quota_confirms_nothing() -> None:
    result = promise(ATP, 2, requested_day=0, quota_remaining=0)
    assert result.confirmations == () and result.unconfirmed == 2
    assert result.explanation.limited_by == "quota"


def test_later_overcommitment_is_protected() -> None:
    # on hand 10, a receipt of 5 on day 3, orders of 12 due day 2: bucket 2 takes all of 10 -> short 2,
    # the receipt on day 3 repairs it first; only 3 are promisable from day 3.
    picture = available_to_promise(10, [0, 0, 0, 5], [0, 0, 12, 0])
    assert picture.atp.tolist() == [0, 0, -2, 5]
    assert promisable_by_day(picture.atp).tolist() == [0, 0, 0, 3]
    assert pairs(promise(picture.atp, 5, 0).confirmations) == [(3, 3)]


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        promise(ATP, -1, 0)
    with pytest.raises(ValueError):
        promise(ATP, 1, 5)
    with pytest.raises(ValueError):
        consume(ATP, [Confirmation(0, 5)])  # only 4 available by day 0: would oversell


def test_consume_takes_own_day_then_earlier() -> None:
    after = consume(ATP, [Confirmation(1, 4), Confirmation(3, 3)])
    assert after.tolist() == [0, 0, 0, 2, 0]
    after = consume(ATP, [Confirmation(4, 6)])  # day 4 has 0: takes 5 from day 3, then 1 from day 0
    assert after.tolist() == [3, 0, 0, 0, 0]


series = st.lists(st.integers(0, 30), min_size=1, max_size=8)


@given(st.integers(0, 40), series, st.data())
def test_promise_then_consume_equals_recomputing_atp_with_the_order(
    on_hand: int, receipts: list[int], data: st.DataObject
) -> None:
    n = len(receipts)
    orders = data.draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    day = data.draw(st.integers(0, n - 1))
    quantity = data.draw(st.integers(0, 60))
    atp = available_to_promise(on_hand, receipts, orders).atp
    result = promise(atp, quantity, day)
    assert result.confirmed + result.unconfirmed == quantity
    assert all(c.day >= day and c.quantity > 0 for c in result.confirmations)
    # never oversell: what is confirmed by any day fits what was promisable by that day
    available = promisable_by_day(atp)
    running = 0.0
    for c in result.confirmations:
        running += c.quantity
        assert running <= available[c.day] + 1e-9
    # reserving = adding the confirmations as orders on their days and recomputing ATP
    extra = np.zeros(n)
    for c in result.confirmations:
        extra[c.day] += c.quantity
    expected = available_to_promise(on_hand, receipts, np.asarray(orders) + extra).atp
    np.testing.assert_allclose(consume(atp, result.confirmations), expected, atol=1e-9)
