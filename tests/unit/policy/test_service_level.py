"""Normal-formula calculators against textbook values computed independently here (DESIGN.md section 6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from services.policy.domain import DomainError
from services.policy.domain.normal_loss import inverse_standard_normal_loss, standard_normal_loss
from services.policy.domain.service_level import (
    cycle_service_stock,
    cycle_service_z,
    fill_rate_k,
    fill_rate_stock,
    lead_time_sigma,
    periodic_review_stock,
)


def test_z_of_95_percent_is_the_textbook_1_6449() -> None:
    assert cycle_service_z(0.95)[0] == pytest.approx(1.6449, abs=1e-4)
    assert cycle_service_z(0.5)[0] == pytest.approx(0.0, abs=1e-12)


def test_worked_example_d100_sd20_l2_sl05() -> None:
    # sigma_LT = sqrt(L sd^2 + d^2 sL^2) = sqrt(2*400 + 10000*0.25) = sqrt(3300)
    sigma = math.sqrt(2 * 400 + 10000 * 0.25)
    result = cycle_service_stock(100, 20, 2, 0.5, 0.95)
    assert result.sigma_lt[0] == pytest.approx(sigma)
    assert result.safety_stock[0] == pytest.approx(1.6448536 * sigma, rel=1e-6)
    assert result.reorder_point[0] == pytest.approx(200 + 1.6448536 * sigma, rel=1e-6)
    assert np.isnan(result.order_up_to[0])


@pytest.mark.parametrize("k", [-3.0, -1.2, 0.0, 0.5, 1.7, 3.5])
def test_loss_function_matches_numerical_integration(k: float) -> None:
    expected, _ = integrate.quad(lambda x: (x - k) * stats.norm.pdf(x), k, np.inf)
    assert standard_normal_loss(np.array([k]))[0] == pytest.approx(expected, rel=1e-8, abs=1e-12)


def test_inverse_loss_round_trips_over_a_wide_range() -> None:
    targets = np.array([1e-9, 1e-5, 0.01, 0.08, 0.3989, 1.0, 2.5, 40.0])
    k = inverse_standard_normal_loss(targets)
    assert np.allclose(standard_normal_loss(k), targets, rtol=1e-9, atol=0)
    # independent root finding with brentq, one item at a time
    for target, found in zip(targets, k, strict=True):
        reference = optimize.brentq(lambda x, t=target: standard_normal_loss(np.array([x]))[0] - t, -60, 20)
        assert found == pytest.approx(reference, abs=1e-7)


def test_fill_rate_k_satisfies_the_equation_including_negative_k() -> None:
    d, sd, lead, q = 100.0, 20.0, 2.0, np.array([100.0, 500.0, 5000.0])
    b = np.array([0.99, 0.98, 0.95])
    result = fill_rate_stock(d, sd, lead, 0.0, b, q)
    sigma = math.sqrt(lead) * sd
    # sigma_LT * G(k) = (1 - b) Q, evaluated with the integral form of G
    for k, target in zip(result.z, (1 - b) * q, strict=True):
        g, _ = integrate.quad(lambda x, k=k: (x - k) * stats.norm.pdf(x), k, np.inf)
        assert sigma * g == pytest.approx(target, rel=1e-6)
    assert result.z[2] < 0  # a large Q delivers 95 % by itself
    assert np.allclose(result.safety_stock, result.z * sigma)
    assert np.allclose(result.reorder_point, d * lead + result.safety_stock)


def test_periodic_review_order_up_to_over_l_plus_r() -> None:
    d, sd, lead, sl, review = 50.0, 10.0, 3.0, 1.0, 2.0
    sigma = math.sqrt((lead + review) * sd**2 + d**2 * sl**2)
    z = stats.norm.ppf(0.98)
    result = periodic_review_stock(d, sd, lead, sl, review, 0.98)
    assert result.sigma_lt[0] == pytest.approx(sigma)
    assert result.order_up_to[0] == pytest.approx(d * (lead + review) + z * sigma)
    assert result.safety_stock[0] == pytest.approx(z * sigma)


def test_periodic_review_fill_rate_uses_demand_per_review_as_q() -> None:
    d, sd, lead, review, b = 40.0, 15.0, 2.0, 1.0, 0.97
    sigma = math.sqrt((lead + review) * sd**2)
    result = periodic_review_stock(d, sd, lead, 0.0, review, b, fill_rate=True)
    assert sigma * standard_normal_loss(result.z)[0] == pytest.approx((1 - b) * d * review, rel=1e-9)


@pytest.mark.parametrize("bad", [97.5, 1.0, 0.0, -0.2, float("nan")])
def test_service_level_outside_the_open_unit_interval_is_an_error_never_clamped(bad: float) -> None:
    with pytest.raises(DomainError) as caught:
        cycle_service_stock(100, 20, 2, 0.5, bad)
    assert caught.value.field == "target"


def test_negative_inputs_name_their_field() -> None:
    with pytest.raises(DomainError) as caught:
        lead_time_sigma(100, -1, 2, 0)
    assert caught.value.field == "demand_std"


def test_zero_lead_time_zero_demand_zero_std_are_finite() -> None:
    zero_lead = cycle_service_stock([100, 0, 100], [20, 0, 0], [0, 3, 2], [0, 0, 0], 0.95)
    for array in (zero_lead.z, zero_lead.sigma_lt, zero_lead.safety_stock, zero_lead.reorder_point):
        assert np.all(np.isfinite(array))
    assert zero_lead.safety_stock.tolist() == [0.0, 0.0, 0.0]
    assert zero_lead.reorder_point.tolist() == [0.0, 0.0, 200.0]
    fill = fill_rate_stock([0, 100], [0, 0], [2, 2], [0, 0], 0.98, [10, 10])
    assert np.all(np.isfinite(fill.safety_stock)) and fill.safety_stock.tolist() == [0.0, 0.0]
    periodic = periodic_review_stock(0.0, 0.0, 0.0, 0.0, 1.0, 0.9, fill_rate=True)
    assert np.isfinite(periodic.order_up_to[0]) and periodic.order_up_to[0] == 0.0


def test_fill_rate_needs_a_positive_order_quantity() -> None:
    with pytest.raises(DomainError) as caught:
        fill_rate_k(np.array([10.0]), 0.98, np.array([0.0]))
    assert caught.value.field == "order_quantity"


def test_vectorised_matches_item_by_item() -> None:
    rng = np.random.default_rng(3)
    d, sd, lead = rng.uniform(1, 200, 50), rng.uniform(0, 60, 50), rng.uniform(0, 8, 50)
    b, q = rng.uniform(0.8, 0.999, 50), rng.uniform(10, 800, 50)
    batch = fill_rate_stock(d, sd, lead, 0.5, b, q)
    for i in range(50):
        one = fill_rate_stock(d[i], sd[i], lead[i], 0.5, b[i], q[i])
        assert one.safety_stock[0] == pytest.approx(batch.safety_stock[i], rel=1e-9, abs=1e-9)
