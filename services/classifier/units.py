"""Quantity normalisation: an order's UN/ECE Rec 20 unit -> the product's base unit.

Order of rules: same unit -> factor 1; a product-specific conversion (``uom_conversions``, base units
per one of the unit, e.g. CS = 12 EA) -> that factor; a physical unit pint can convert to the base unit
(KGM -> GRM) -> pint's factor; a physical unit pint converts to a unit the product has a conversion for
(GRM -> KGM -> EA) -> the chained factor. Anything else raises ``UnknownUnit`` (the order is poison
until master data knows the unit). Factors are cached: pint is consulted once per unit pair.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

# UN/ECE Recommendation 20 codes -> pint unit expressions (count units are dimensionless multiples)
REC20_TO_PINT: dict[str, str] = {
    "EA": "count",
    "C62": "count",
    "H87": "count",
    "PCE": "count",
    "PR": "2 * count",
    "DZN": "12 * count",
    "GRO": "144 * count",
    "KGM": "kilogram",
    "GRM": "gram",
    "MGM": "milligram",
    "TNE": "metric_ton",
    "LBR": "pound",
    "ONZ": "ounce",
    "LTR": "liter",
    "MLT": "milliliter",
    "MTQ": "meter ** 3",
    "MTR": "meter",
    "CMT": "centimeter",
    "MMT": "millimeter",
    "KMT": "kilometer",
    "MTK": "meter ** 2",
    "FOT": "foot",
    "INH": "inch",
    "GLL": "gallon",
}


class UnknownUnit(ValueError):
    """The unit cannot be converted to the product's base unit with what is known."""


@functools.cache
def _registry() -> Any:
    import pint

    return pint.UnitRegistry()


@functools.cache
def pint_factor(unit: str, base: str) -> float | None:
    """Base units per one ``unit`` when pint can convert between the two Rec 20 codes, else None."""
    if unit not in REC20_TO_PINT or base not in REC20_TO_PINT:
        return None
    registry = _registry()
    try:
        quantity = registry.Quantity(1.0, "dimensionless") * registry(REC20_TO_PINT[unit])
        converted = quantity.to(registry(REC20_TO_PINT[base]).units) / registry(REC20_TO_PINT[base]).magnitude
        return float(converted.magnitude)
    except Exception:  # pint's DimensionalityError and friends: not convertible
        return None


def conversion_factor(unit: str, base_uom: str, conversions: Mapping[str, float]) -> float:
    """Base units per one ``unit`` for a product (rules in the module docstring)."""
    if unit == base_uom:
        return 1.0
    if unit in conversions:
        return float(conversions[unit])
    direct = pint_factor(unit, base_uom)
    if direct is not None:
        return direct
    for known, per_known in sorted(conversions.items()):
        via = pint_factor(unit, known)
        if via is not None:
            return via * float(per_known)
    raise UnknownUnit(f"unit {unit!r} cannot be converted to the base unit {base_uom!r} of this product")


def to_base_units(quantity: float, unit: str, base_uom: str, conversions: Mapping[str, float]) -> float:
    """``quantity`` of ``unit`` expressed in the product's base unit."""
    return quantity * conversion_factor(unit, base_uom, conversions)
