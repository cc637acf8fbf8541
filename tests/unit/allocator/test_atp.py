"""ATP with backward consumption: the docstring's worked example, hand cases and the batch closed form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.allocator.domain.atp import available_to_promise, available_to_promise_batch


def reference_atp(on_hand: float, receipts: list[float], orders: list[float]) -> list[float]:
    """Plain-Python backward consumption, written independently: scan earlier buckets from t-1 down to 0."""
    net = [r - o for r, o in zip(receipts, orders, strict=True)]
    net[0] += on_hand
    atp = [0.0] * len(net)
    for t, amount in enumerate(net):
        if amount >= 0:
            atp[t] = amount
            continue
        need = -amount
        for earlier in range(t - 1, -1, -1):
            take = min(need, max(atp[earlier], 0.0))
            atp[earlier] -= take
            need -= take
        atp[t] = -need
    return atp


def test_worked_example_with_uncovered_shortages() -> None:
    picture = available_to_promise(10, [0, 5, 0, 20, 0], [4, 2, 12, 5, 30])
    assert picture.net.tolist() == [6, 3, -12, 15, -30]
    assert picture.atp.tolist() == [0, 0, -3, 0, -15]
    assert picture.cumulative_atp.tolist() == [0, 0, -3, -3, -18]


def test_worked_example_fully_covered() -> None:
    picture = available_to_promise(10, [0, 5, 0, 20, 0], [4, 2, 5, 5, 10])
    # bucket 2 (-5) takes 3 from bucket 1 then 2 from bucket 0; bucket 4 (-10) takes 10 from bucket 3.
    assert picture.atp.tolist() == [4, 0, 0, 5, 0]
    assert picture.cumulative_atp.tolist() == [4, 4, 4, 9, 9]


def test_consumption_is_latest_first_and_never_from_later_buckets() -> None:
    # bucket 1 short by 4: takes from bucket 0 only, not from bucket 2's later receipt of 100
    picture = available_to_promise(5, [0, 0, 100], [0, 4, 0])
    assert picture.atp.tolist() == [1, 0, 100]
    # shortage with no earlier supply stays in its bucket even though a later bucket has plenty
    picture = available_to_promise(0, [0, 100], [7, 0])
    assert picture.atp.tolist() == [-7, 100]
    assert picture.cumulative_atp.tolist() == [-7, 93]


def test_single_bucket_and_shape_errors() -> None:
    assert available_to_promise(3, [2], [1]).atp.tolist() == [4]
    with pytest.raises(ValueError):
        available_to_promise(3, [], [])
    with pytest.raises(ValueError):
        available_to_promise(3, [1, 2], [1])


quantities = st.lists(st.integers(0, 50), min_size=1, max_size=12)


@given(st.integers(0, 60), quantities, st.data())
def test_stack_equals_reference_and_conserves_supply(
    on_hand: int, receipts: list[int], data: st.DataObject
) -> None:
    orders = data.draw(st.lists(st.integers(0, 60), min_size=len(receipts), max_size=len(receipts)))
    picture = available_to_promise(on_hand, receipts, orders)
    assert picture.atp.tolist() == pytest.approx(reference_atp(on_hand, receipts, orders))
    # consumption moves supply between buckets, never creates or destroys it
    assert picture.cumulative_atp[-1] == pytest.approx(on_hand + sum(receipts) - sum(orders))


@given(st.integers(1, 6), st.integers(1, 10), st.data())
def test_batch_closed_form_equals_per_sku_stack(n_sku: int, n_buckets: int, data: st.DataObject) -> None:
    grid = st.lists(st.integers(0, 40), min_size=n_buckets, max_size=n_buckets)
    receipts = [data.draw(grid) for _ in range(n_sku)]
    orders = [data.draw(grid) for _ in range(n_sku)]
    on_hand = data.draw(st.lists(st.integers(0, 40), min_size=n_sku, max_size=n_sku))
    batch = available_to_promise_batch(on_hand, receipts, orders)
    for row in range(n_sku):
        single = available_to_promise(on_hand[row], receipts[row], orders[row])
        np.testing.assert_allclose(batch.atp[row], single.atp, atol=1e-9)
        np.testing.assert_allclose(batch.cumulative_atp[row], single.cumulative_atp, atol=1e-9)
