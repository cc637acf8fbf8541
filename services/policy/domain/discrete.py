"""Discrete lead-time demand for intermittent and lumpy items: Poisson or negative binomial reorder points.

Lead-time demand D_L has mean mu = d * L and variance v = L * sd^2 + d^2 * sL^2 (the same moments as the
normal formulas). A negative binomial is fitted by moments when v > mu (p = mu / v, n = mu^2 / (v - mu));
otherwise the Poisson(mu) is used. All functions are vectorised over items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray, fraction, non_negative

POISSON = "poisson"
NEGATIVE_BINOMIAL = "negative_binomial"


@dataclass(frozen=True)
class LeadTimeDemand:
    """Fitted discrete lead-time demand per item: mean, variance, and NB parameters where used."""

    mean: FloatArray
    variance: FloatArray
    uses_negative_binomial: npt.NDArray[np.bool_]
    nb_n: FloatArray  # NaN where Poisson
    nb_p: FloatArray  # NaN where Poisson


@dataclass(frozen=True)
class DiscreteStock:
    """Per-item integer reorder point s, safety stock s - mu, and the distribution actually used."""

    reorder_point: FloatArray
    safety_stock: FloatArray
    distribution: npt.NDArray[np.str_]


def fit_lead_time_demand(
    mean: npt.ArrayLike, variance: npt.ArrayLike, distribution: str = NEGATIVE_BINOMIAL
) -> LeadTimeDemand:
    """Moment fit: negative binomial with p = mu / v, n = mu^2 / (v - mu) when asked for and v > mu,
    else Poisson(mu) (a Poisson cannot carry v != mu; under-dispersed items fall back to it)."""
    if distribution not in (POISSON, NEGATIVE_BINOMIAL):
        raise DomainError("distribution", f"must be {POISSON!r} or {NEGATIVE_BINOMIAL!r}")
    mu, var = np.broadcast_arrays(non_negative("mean", mean), non_negative("variance", variance))
    use_nb = (var > mu) & (mu > 0) if distribution == NEGATIVE_BINOMIAL else np.zeros(mu.shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(use_nb, mu / var, np.nan)
        n = np.where(use_nb, mu * mu / (var - mu), np.nan)
    return LeadTimeDemand(mu.astype(np.float64), var.astype(np.float64), use_nb, n, p)


def _cdf(s: FloatArray, fit: LeadTimeDemand) -> FloatArray:
    nb = fit.uses_negative_binomial
    poisson_cdf = stats.poisson.cdf(s, fit.mean)
    if not np.any(nb):
        return np.asarray(poisson_cdf, dtype=np.float64)
    nb_cdf = stats.nbinom.cdf(s, np.where(nb, fit.nb_n, 1.0), np.where(nb, fit.nb_p, 0.5))
    return np.asarray(np.where(nb, nb_cdf, poisson_cdf), dtype=np.float64)


def expected_shortage(reorder_point: npt.ArrayLike, fit: LeadTimeDemand) -> FloatArray:
    """Expected lead-time shortage E[(D_L - s)^+] = sum_{k > s} (k - s) P(D_L = k).

    Closed forms: Poisson mu * P(D >= s) - s * P(D > s); negative binomial
    mu * P(D' >= s) - s * P(D > s) with D' ~ NB(n + 1, p) (because k * P_{n,p}(k) = mu * P_{n+1,p}(k - 1)).
    """
    s = np.asarray(reorder_point, dtype=np.float64)
    mu = fit.mean
    nb = fit.uses_negative_binomial
    above = 1.0 - _cdf(s, fit)
    shifted_sf = stats.poisson.sf(s - 1.0, mu)
    if np.any(nb):
        nb_shifted = stats.nbinom.sf(s - 1.0, np.where(nb, fit.nb_n + 1.0, 1.0), np.where(nb, fit.nb_p, 0.5))
        shifted_sf = np.where(nb, nb_shifted, shifted_sf)
    result: FloatArray = np.maximum(mu * shifted_sf - s * above, 0.0)
    return result


def _labels(fit: LeadTimeDemand) -> npt.NDArray[np.str_]:
    return np.where(fit.uses_negative_binomial, NEGATIVE_BINOMIAL, POISSON)


def discrete_cycle_stock(fit: LeadTimeDemand, target: npt.ArrayLike) -> DiscreteStock:
    """Cycle service level a: the smallest integer s with P(D_L <= s) >= a (the distribution's ppf);
    SS = s - mu."""
    a = np.broadcast_to(fraction("target", target), fit.mean.shape)
    nb = fit.uses_negative_binomial
    s = np.asarray(stats.poisson.ppf(a, fit.mean), dtype=np.float64)
    if np.any(nb):
        s_nb = stats.nbinom.ppf(a, np.where(nb, fit.nb_n, 1.0), np.where(nb, fit.nb_p, 0.5))
        s = np.where(nb, s_nb, s)
    return DiscreteStock(s, s - fit.mean, _labels(fit))


def discrete_fill_rate_stock(
    fit: LeadTimeDemand, target: npt.ArrayLike, order_quantity: npt.ArrayLike
) -> DiscreteStock:
    """Fill rate b with order quantity Q: the smallest integer s >= 0 with E[(D_L - s)^+] <= (1 - b) * Q
    (integer bisection, vectorised; the shortage is non-increasing in s); SS = s - mu."""
    b = np.broadcast_to(fraction("target", target), fit.mean.shape)
    q = np.broadcast_to(non_negative("order_quantity", order_quantity), fit.mean.shape)
    if np.any((q <= 0) & (fit.mean > 0)):
        raise DomainError("order_quantity", "must be > 0 for a fill-rate target")
    allowance = (1.0 - b) * q
    # Upper end: a quantile so far out that the expected shortage is negligible, doubled until feasible.
    high = np.maximum(_cycle_quantile(fit, 1.0 - 1e-12) + 1.0, 1.0)
    for _ in range(64):
        short = expected_shortage(high, fit) > allowance
        if not np.any(short):
            break
        high = np.where(short, 2.0 * high, high)
    low = np.full(high.shape, -1.0)  # s = -1 stands for "infeasible" (never evaluated)
    while np.any(high - low > 1.0):
        active = high - low > 1.0
        middle = np.floor((low + high) / 2.0)
        feasible = expected_shortage(np.maximum(middle, 0.0), fit) <= allowance
        high = np.where(active & feasible, middle, high)
        low = np.where(active & ~feasible, middle, low)
    return DiscreteStock(high, high - fit.mean, _labels(fit))


def _cycle_quantile(fit: LeadTimeDemand, level: float) -> FloatArray:
    nb = fit.uses_negative_binomial
    s = np.asarray(stats.poisson.ppf(level, fit.mean), dtype=np.float64)
    if np.any(nb):
        s = np.where(nb, stats.nbinom.ppf(level, np.where(nb, fit.nb_n, 1.0), np.where(nb, fit.nb_p, 0.5)), s)
    return np.where(np.isfinite(s), s, 0.0)
