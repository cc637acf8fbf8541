"""Continuous-demand (normal) stock parameters: cycle service level, fill rate (type 2), periodic review.

All functions are vectorised over arrays of items; quantities are in the demand's period units
(d and sd per period, L and sL in periods). Service levels are fractions in (0, 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

from services.policy.domain.errors import DomainError
from services.policy.domain.normal_loss import inverse_standard_normal_loss
from services.policy.domain.validate import FloatArray, fraction, non_negative


@dataclass(frozen=True)
class StockParameters:
    """Per-item result: safety factor z (or k), sigma over the protection interval, SS, ROP, order-up-to.

    ``order_up_to`` is NaN for continuous-review items (no review period).
    """

    z: FloatArray
    sigma_lt: FloatArray
    safety_stock: FloatArray
    reorder_point: FloatArray
    order_up_to: FloatArray


def lead_time_sigma(
    demand_mean: npt.ArrayLike,
    demand_std: npt.ArrayLike,
    lead_time: npt.ArrayLike,
    lead_time_std: npt.ArrayLike,
) -> FloatArray:
    """Standard deviation of demand over a random lead time: sigma_LT = sqrt(L * sd^2 + d^2 * sL^2)."""
    d = non_negative("demand_mean", demand_mean)
    sd = non_negative("demand_std", demand_std)
    lead = non_negative("lead_time_mean", lead_time)
    lead_sd = non_negative("lead_time_std", lead_time_std)
    result: FloatArray = np.sqrt(lead * sd * sd + d * d * lead_sd * lead_sd)
    return result


def cycle_service_z(target: npt.ArrayLike) -> FloatArray:
    """Safety factor for a cycle service level a: z = Phi^-1(a)."""
    result: FloatArray = ndtri(fraction("target", target))
    return result


def fill_rate_k(sigma: npt.ArrayLike, target: npt.ArrayLike, order_quantity: npt.ArrayLike) -> FloatArray:
    """Safety factor k for a fill-rate (type 2) target b: solve sigma * G(k) = (1 - b) * Q.

    G(k) = phi(k) - k * (1 - Phi(k)). k may be negative (a large Q delivers the fill rate by itself).
    Where sigma = 0 there is nothing to buffer and k is reported as 0.
    """
    b = fraction("target", target)
    q = non_negative("order_quantity", order_quantity)
    s = non_negative("sigma", sigma)
    b, q, s = np.broadcast_arrays(b, q, s)
    k = np.zeros(s.shape)
    uncertain = s > 0
    if np.any(uncertain & (q <= 0)):
        raise DomainError("order_quantity", "must be > 0 for a fill-rate target")
    if np.any(uncertain):
        k[uncertain] = inverse_standard_normal_loss((1.0 - b[uncertain]) * q[uncertain] / s[uncertain])
    return k


def cycle_service_stock(
    demand_mean: npt.ArrayLike,
    demand_std: npt.ArrayLike,
    lead_time: npt.ArrayLike,
    lead_time_std: npt.ArrayLike,
    target: npt.ArrayLike,
) -> StockParameters:
    """Continuous review for a cycle service level a: z = Phi^-1(a), SS = z * sigma_LT, ROP = d * L + SS."""
    d = non_negative("demand_mean", demand_mean)
    lead = non_negative("lead_time_mean", lead_time)
    sigma = lead_time_sigma(d, demand_std, lead, lead_time_std)
    z = cycle_service_z(target)
    z, sigma, d, lead = np.broadcast_arrays(z, sigma, d, lead)
    safety = z * sigma
    return StockParameters(z, sigma, safety, d * lead + safety, np.full(safety.shape, np.nan))


def fill_rate_stock(
    demand_mean: npt.ArrayLike,
    demand_std: npt.ArrayLike,
    lead_time: npt.ArrayLike,
    lead_time_std: npt.ArrayLike,
    target: npt.ArrayLike,
    order_quantity: npt.ArrayLike,
) -> StockParameters:
    """Continuous review (s, Q) for a fill rate b: sigma_LT * G(k) = (1 - b) * Q, SS = k * sigma_LT,
    ROP = d * L + SS."""
    d = non_negative("demand_mean", demand_mean)
    lead = non_negative("lead_time_mean", lead_time)
    sigma = lead_time_sigma(d, demand_std, lead, lead_time_std)
    k = fill_rate_k(sigma, target, order_quantity)
    k, sigma, d, lead = np.broadcast_arrays(k, sigma, d, lead)
    safety = k * sigma
    return StockParameters(k, sigma, safety, d * lead + safety, np.full(safety.shape, np.nan))


def periodic_review_stock(
    demand_mean: npt.ArrayLike,
    demand_std: npt.ArrayLike,
    lead_time: npt.ArrayLike,
    lead_time_std: npt.ArrayLike,
    review_period: npt.ArrayLike,
    target: npt.ArrayLike,
    fill_rate: bool | npt.ArrayLike = False,
) -> StockParameters:
    """Periodic review (R, S): protect over L + R.

    sigma_{L+R} = sqrt((L + R) * sd^2 + d^2 * sL^2); cycle target: z = Phi^-1(a); fill-rate target:
    sigma_{L+R} * G(k) = (1 - b) * d * R (the expected demand per review replaces Q).
    SS = z * sigma_{L+R}; order-up-to S = d * (L + R) + SS; reorder point reported as d * L + SS.
    """
    d = non_negative("demand_mean", demand_mean)
    lead = non_negative("lead_time_mean", lead_time)
    review = non_negative("review_period", review_period)
    sigma = lead_time_sigma(d, demand_std, lead + review, lead_time_std)
    b = fraction("target", target)
    use_fill = np.asarray(fill_rate, dtype=bool)
    d, lead, review, sigma, b, use_fill = np.broadcast_arrays(d, lead, review, sigma, b, use_fill)
    factor = ndtri(b)
    if np.any(use_fill):
        # No demand per review means nothing can be short: k = 0 where d * R = 0.
        solvable = use_fill & (d * review > 0)
        factor = np.where(use_fill, 0.0, factor)
        if np.any(solvable):
            factor[solvable] = fill_rate_k(sigma[solvable], b[solvable], d[solvable] * review[solvable])
    safety = factor * sigma
    return StockParameters(factor, sigma, safety, d * lead + safety, d * (lead + review) + safety)
