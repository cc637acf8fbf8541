"""One vectorised entry point over a mixed batch of items: each item picks its method by its inputs.

Method per item: continuous review (no review period) or periodic review over L + R; cycle service or
fill-rate target; normal formulas, or a discrete (Poisson / negative binomial) lead-time demand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.discrete import (
    NEGATIVE_BINOMIAL,
    POISSON,
    discrete_cycle_stock,
    discrete_fill_rate_stock,
    fit_lead_time_demand,
)
from services.policy.domain.errors import DomainError
from services.policy.domain.service_level import (
    StockParameters,
    cycle_service_stock,
    fill_rate_stock,
    lead_time_sigma,
    periodic_review_stock,
)
from services.policy.domain.validate import FloatArray, fraction, non_negative

NORMAL = "normal"
DISTRIBUTIONS = (NORMAL, POISSON, NEGATIVE_BINOMIAL)


@dataclass(frozen=True)
class ComputedPolicies:
    """Stock parameters per item plus the method label that produced them (e.g. ``fill_rate_normal``)."""

    parameters: StockParameters
    method: npt.NDArray[np.str_]


def compute_policies(
    demand_mean: npt.ArrayLike,
    demand_std: npt.ArrayLike,
    lead_time: npt.ArrayLike,
    lead_time_std: npt.ArrayLike,
    target: npt.ArrayLike,
    fill_rate: npt.ArrayLike,
    order_quantity: npt.ArrayLike,
    review_period: npt.ArrayLike,
    distribution: npt.ArrayLike,
) -> ComputedPolicies:
    """Route each item to its calculator and gather the results in input order.

    ``order_quantity`` NaN = none (required for continuous-review fill-rate items); ``review_period``
    NaN or 0 = continuous review; ``distribution`` one of normal | poisson | negative_binomial.
    Discrete items report z = (s - mu) / sigma (0 where sigma = 0), the implied safety factor.
    """
    d = non_negative("demand_mean", demand_mean)
    sd, lead, lead_sd = (
        non_negative(f, v)
        for f, v in (
            ("demand_std", demand_std),
            ("lead_time_mean", lead_time),
            ("lead_time_std", lead_time_std),
        )
    )
    b = fraction("target", target)
    use_fill = np.asarray(fill_rate, dtype=bool)
    q = np.asarray(order_quantity, dtype=np.float64)
    review = np.nan_to_num(np.asarray(review_period, dtype=np.float64), nan=0.0)
    non_negative("review_period", review)
    dist = np.asarray(distribution).astype(str)
    d, sd, lead, lead_sd, b, use_fill, q, review, dist = np.broadcast_arrays(
        d, sd, lead, lead_sd, b, use_fill, q, review, dist
    )
    if not np.all(np.isin(dist, DISTRIBUTIONS)):
        raise DomainError("distribution", f"must be one of {', '.join(DISTRIBUTIONS)}")
    periodic = review > 0
    if np.any(use_fill & ~periodic & ~(q > 0)):
        raise DomainError("order_quantity", "is required (> 0) for a continuous-review fill-rate target")

    n = d.shape[0]
    out = {name: np.full(n, np.nan) for name in ("z", "sigma", "ss", "rop", "s_up")}
    method = np.empty(n, dtype=object)

    def put(mask: npt.NDArray[np.bool_], params: StockParameters, label: str | npt.NDArray[np.str_]) -> None:
        out["z"][mask], out["sigma"][mask] = params.z, params.sigma_lt
        out["ss"][mask], out["rop"][mask], out["s_up"][mask] = (
            params.safety_stock,
            params.reorder_point,
            params.order_up_to,
        )
        method[mask] = label

    normal = dist == NORMAL
    for mask, label in (
        (normal & ~periodic & ~use_fill, "cycle_service_normal"),
        (normal & ~periodic & use_fill, "fill_rate_normal"),
        (normal & periodic, "periodic_review_normal"),
    ):
        if not np.any(mask):
            continue
        args = (d[mask], sd[mask], lead[mask], lead_sd[mask])
        if label == "cycle_service_normal":
            put(mask, cycle_service_stock(*args, b[mask]), label)
        elif label == "fill_rate_normal":
            put(mask, fill_rate_stock(*args, b[mask], q[mask]), label)
        else:
            params = periodic_review_stock(*args, review[mask], b[mask], use_fill[mask])
            put(mask, params, np.where(use_fill[mask], "periodic_fill_rate_normal", "periodic_cycle_normal"))
    discrete = ~normal
    if np.any(discrete):
        _discrete(discrete, d, sd, lead, lead_sd, b, use_fill, q, review, dist, put)
    params = StockParameters(out["z"], out["sigma"], out["ss"], out["rop"], out["s_up"])
    return ComputedPolicies(params, method.astype(str))


def _discrete(
    mask: npt.NDArray[np.bool_],
    d: FloatArray,
    sd: FloatArray,
    lead: FloatArray,
    lead_sd: FloatArray,
    b: FloatArray,
    use_fill: npt.NDArray[np.bool_],
    q: FloatArray,
    review: FloatArray,
    dist: npt.NDArray[np.str_],
    put: Callable[[npt.NDArray[np.bool_], StockParameters, str | npt.NDArray[np.str_]], None],
) -> None:
    """Discrete items: lead-time demand over L (continuous) or L + R (periodic), cycle or fill rate."""
    for family in (POISSON, NEGATIVE_BINOMIAL):
        for fill in (False, True):
            m = mask & (dist == family) & (use_fill == fill)
            if not np.any(m):
                continue
            horizon = lead[m] + review[m]
            sigma = lead_time_sigma(d[m], sd[m], horizon, lead_sd[m])
            fit = fit_lead_time_demand(d[m] * horizon, sigma * sigma, family)
            quantity = np.where(review[m] > 0, d[m] * review[m], q[m])
            stock = discrete_fill_rate_stock(fit, b[m], quantity) if fill else discrete_cycle_stock(fit, b[m])
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.where(sigma > 0, stock.safety_stock / sigma, 0.0)
            periodic = review[m] > 0
            order_up_to = np.where(periodic, stock.reorder_point, np.nan)
            reorder = np.where(periodic, d[m] * lead[m] + stock.safety_stock, stock.reorder_point)
            params = StockParameters(z, sigma, stock.safety_stock, reorder, order_up_to)
            kind = "fill_rate" if fill else "cycle_service"
            put(
                m,
                params,
                np.char.add(np.where(periodic, f"periodic_{kind}_", f"{kind}_"), stock.distribution),
            )
