"""The mixed entry point routes each item to its calculator and keeps input order."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from services.policy.domain import DomainError
from services.policy.domain.compute import compute_policies
from services.policy.domain.normal_loss import standard_normal_loss


def test_mixed_batch_each_item_matches_its_formula() -> None:
    d = np.array([100.0, 100.0, 80.0])
    sd = np.array([20.0, 20.0, 10.0])
    lead = np.array([2.0, 2.0, 1.0])
    sl = np.array([0.5, 0.0, 0.0])
    result = compute_policies(
        d, sd, lead, sl, [0.95, 0.98, 0.9], [False, True, False], [np.nan, 400, np.nan], [0, 0, 3], "normal"
    )
    p = result.parameters
    assert result.method.tolist() == ["cycle_service_normal", "fill_rate_normal", "periodic_cycle_normal"]
    sigma0 = math.sqrt(2 * 400 + 100**2 * 0.25)
    assert p.reorder_point[0] == pytest.approx(200 + stats.norm.ppf(0.95) * sigma0)
    sigma1 = math.sqrt(2) * 20
    assert sigma1 * standard_normal_loss(p.z[1:2])[0] == pytest.approx(0.02 * 400, rel=1e-9)
    sigma2 = math.sqrt(4) * 10
    assert p.order_up_to[2] == pytest.approx(80 * 4 + stats.norm.ppf(0.9) * sigma2)


def test_continuous_fill_rate_without_q_is_rejected() -> None:
    with pytest.raises(DomainError) as caught:
        compute_policies(10, 2, 1, 0, 0.95, True, np.nan, 0, "normal")
    assert caught.value.field == "order_quantity"
