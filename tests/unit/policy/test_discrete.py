"""Discrete lead-time demand: reorder points against plain cumulative-sum loops over the pmf."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.policy.domain import DomainError
from services.policy.domain.compute import compute_policies
from services.policy.domain.discrete import (
    discrete_cycle_stock,
    discrete_fill_rate_stock,
    expected_shortage,
    fit_lead_time_demand,
)


def poisson_pmf(mu: float, k: int) -> float:
    return math.exp(-mu + k * math.log(mu) - math.lgamma(k + 1)) if mu > 0 else float(k == 0)


def nb_pmf(n: float, p: float, k: int) -> float:
    log = math.lgamma(k + n) - math.lgamma(n) - math.lgamma(k + 1) + n * math.log(p) + k * math.log(1 - p)
    return math.exp(log)


def smallest_s_with_cdf_at_least(pmf, a: float) -> int:  # type: ignore[no-untyped-def]
    cumulative, s = 0.0, 0
    while True:
        cumulative += pmf(s)
        if cumulative >= a:
            return s
        s += 1


def loop_shortage(pmf, s: int, upto: int = 400) -> float:  # type: ignore[no-untyped-def]
    return sum((k - s) * pmf(k) for k in range(s + 1, upto))


@pytest.mark.parametrize(("mu", "a"), [(0.4, 0.9), (2.0, 0.95), (7.5, 0.99), (15.0, 0.8), (0.0, 0.95)])
def test_poisson_reorder_point_matches_a_cumulative_sum_loop(mu: float, a: float) -> None:
    fit = fit_lead_time_demand(mu, mu, "poisson")
    stock = discrete_cycle_stock(fit, a)
    expected = smallest_s_with_cdf_at_least(lambda k: poisson_pmf(mu, k), a)
    assert stock.reorder_point[0] == expected
    assert stock.safety_stock[0] == pytest.approx(expected - mu)
    assert stock.distribution[0] == "poisson"


def test_negative_binomial_fitted_by_moments_when_overdispersed() -> None:
    mu, var = 4.0, 12.0
    fit = fit_lead_time_demand(mu, var)
    p, n = mu / var, mu * mu / (var - mu)
    assert fit.uses_negative_binomial[0]
    assert fit.nb_p[0] == pytest.approx(p) and fit.nb_n[0] == pytest.approx(n)
    # the fitted pmf reproduces the moments
    ks = range(400)
    mean = sum(k * nb_pmf(n, p, k) for k in ks)
    second = sum(k * k * nb_pmf(n, p, k) for k in ks)
    assert mean == pytest.approx(mu, rel=1e-9) and second - mean**2 == pytest.approx(var, rel=1e-9)
    stock = discrete_cycle_stock(fit, 0.95)
    assert stock.reorder_point[0] == smallest_s_with_cdf_at_least(lambda k: nb_pmf(n, p, k), 0.95)
    assert stock.distribution[0] == "negative_binomial"


def test_underdispersed_falls_back_to_poisson() -> None:
    fit = fit_lead_time_demand([3.0, 3.0], [2.0, 3.0])
    assert not fit.uses_negative_binomial.any()


@pytest.mark.parametrize(
    ("mu", "var", "s"), [(3.0, 3.0, 0), (3.0, 3.0, 4), (3.0, 9.0, 2), (6.0, 20.0, 9), (0.5, 2.0, 1)]
)
def test_expected_shortage_closed_form_matches_the_sum(mu: float, var: float, s: int) -> None:
    fit = fit_lead_time_demand(mu, var)
    if fit.uses_negative_binomial[0]:
        n, p = fit.nb_n[0], fit.nb_p[0]
        reference = loop_shortage(lambda k: nb_pmf(n, p, k), s)
    else:
        reference = loop_shortage(lambda k: poisson_pmf(mu, k), s)
    assert expected_shortage(np.array([float(s)]), fit)[0] == pytest.approx(reference, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("mu", "var", "b", "q"),
    [(3.0, 3.0, 0.95, 5.0), (3.0, 10.0, 0.98, 4.0), (12.0, 30.0, 0.9, 20.0), (0.3, 0.9, 0.99, 2.0)],
)
def test_fill_rate_reorder_point_is_the_smallest_meeting_the_shortage_allowance(
    mu: float, var: float, b: float, q: float
) -> None:
    fit = fit_lead_time_demand(mu, var)
    if fit.uses_negative_binomial[0]:
        n, p = fit.nb_n[0], fit.nb_p[0]

        def pmf(k: int) -> float:
            return nb_pmf(n, p, k)
    else:

        def pmf(k: int) -> float:
            return poisson_pmf(mu, k)

    expected = 0
    while loop_shortage(pmf, expected) > (1 - b) * q:
        expected += 1
    assert discrete_fill_rate_stock(fit, b, q).reorder_point[0] == expected


def test_discrete_items_in_the_mixed_entry_point() -> None:
    # d = 0.5/period, L = 4: mu = 2, var = 4 * 1.5^2 = 9 > 2 -> negative binomial
    result = compute_policies(
        [0.5, 0.5],
        [1.5, 1.5],
        [4, 4],
        [0, 0],
        [0.95, 0.95],
        [False, False],
        [np.nan, np.nan],
        [0, 2],
        ["negative_binomial", "poisson"],
    )
    fit = fit_lead_time_demand(2.0, 9.0)
    n, p = fit.nb_n[0], fit.nb_p[0]
    expected = smallest_s_with_cdf_at_least(lambda k: nb_pmf(n, p, k), 0.95)
    assert result.parameters.reorder_point[0] == expected
    assert result.method[0] == "cycle_service_negative_binomial"
    # periodic Poisson over L + R = 6 periods: mu = 3; order-up-to is its 95 % point
    assert result.parameters.order_up_to[1] == smallest_s_with_cdf_at_least(
        lambda k: poisson_pmf(3.0, k), 0.95
    )
    assert result.method[1] == "periodic_cycle_service_poisson"


def test_unknown_distribution_and_bad_target_are_named() -> None:
    with pytest.raises(DomainError) as caught:
        fit_lead_time_demand(1.0, 1.0, "gamma")
    assert caught.value.field == "distribution"
    with pytest.raises(DomainError) as caught:
        discrete_cycle_stock(fit_lead_time_demand(1.0, 1.0), 97.5)
    assert caught.value.field == "target"
