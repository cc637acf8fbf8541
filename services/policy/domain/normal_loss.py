"""The standard normal loss function G(k) and its vectorised inverse (for fill-rate targets)."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from services.policy.domain.validate import FloatArray

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_K_MAX = 38.0  # G(38) ~ 1e-317: beyond any target representable in float64


def standard_normal_loss(k: FloatArray) -> FloatArray:
    """Expected shortage of a standard normal above k: G(k) = E[(X - k)^+] = phi(k) - k * (1 - Phi(k))."""
    k = np.asarray(k, dtype=np.float64)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * k * k)
    result: FloatArray = pdf - k * ndtr(-k)
    return result


def inverse_standard_normal_loss(
    target: FloatArray, tolerance: float = 1e-12, max_iter: int = 200
) -> FloatArray:
    """Solve G(k) = target for k, elementwise, for target > 0 (k may be negative).

    G is convex and strictly decreasing with G(k) >= -k, so the root lies in [-target - 1, 38].
    Safeguarded Newton (G'(k) = -(1 - Phi(k))) that falls back to bisection whenever a step leaves the
    bracket; converges to |G(k) - target| <= tolerance * max(target, 1e-300) or a bracket of width 1e-13.
    """
    target = np.asarray(target, dtype=np.float64)
    low = -target - 1.0
    high = np.full_like(target, _K_MAX)
    k = np.clip(np.zeros_like(target), low, high)
    for _ in range(max_iter):
        excess = standard_normal_loss(k) - target
        done = (np.abs(excess) <= tolerance * np.maximum(target, 1e-300)) | (high - low <= 1e-13)
        if np.all(done):
            break
        # G decreasing: excess > 0 means k is left of the root.
        low = np.where(excess > 0, k, low)
        high = np.where(excess < 0, k, high)
        slope = ndtr(-k)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = k + excess / slope
        inside = np.isfinite(newton) & (newton > low) & (newton < high)
        k = np.where(done, k, np.where(inside, newton, 0.5 * (low + high)))
    return k
