"""Input checks shared by the calculators: arrays of finite numbers, fractions in (0, 1), non-negatives.

A service level of 97.5 is an error naming the field, never clamped to 0.975.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError

FloatArray = npt.NDArray[np.float64]


def as_float_array(field: str, values: npt.ArrayLike) -> FloatArray:
    """``values`` as a 1-D-or-more float64 array of finite numbers, else ``DomainError(field)``."""
    array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if not np.all(np.isfinite(array)):
        raise DomainError(field, "must be finite numbers")
    return array


def non_negative(field: str, values: npt.ArrayLike) -> FloatArray:
    """Finite values >= 0, else ``DomainError(field)``."""
    array = as_float_array(field, values)
    if np.any(array < 0):
        raise DomainError(field, "must be >= 0")
    return array


def positive(field: str, values: npt.ArrayLike) -> FloatArray:
    """Finite values > 0, else ``DomainError(field)``."""
    array = as_float_array(field, values)
    if np.any(array <= 0):
        raise DomainError(field, "must be > 0")
    return array


def fraction(field: str, values: npt.ArrayLike) -> FloatArray:
    """Service levels as fractions strictly inside (0, 1); 97.5 or 1.0 raise ``DomainError(field)``."""
    array = as_float_array(field, values)
    if np.any((array <= 0) | (array >= 1)):
        raise DomainError(field, "must be a fraction strictly between 0 and 1 (e.g. 0.975, not 97.5)")
    return array
