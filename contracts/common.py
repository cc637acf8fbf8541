"""Building blocks shared by every event model: the base config and constrained field types.

Inbound events are strict on types (no "5" -> 5, no "true" -> True, no unix-number timestamps,
timestamps must carry a timezone) and on units (UN/ECE Rec 20 codes, ISO 4217 currencies); unknown
fields are ignored so producers can add fields without breaking consumers. Service levels are
fractions strictly inside (0, 1): 97.5 is a validation error, never clamped.
Parse wire bytes with ``Model.model_validate_json``; Python callers holding text values may use
``Model.model_validate(data, strict=False)``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import JsonDict

UNIT_CODE_PATTERN = r"^[A-Z0-9]{2,3}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
PERSONAL: JsonDict = {"x-personal": True}
FINANCIAL: JsonDict = {"x-financial": True}


class EventModel(BaseModel):
    """Base of every event payload: strict, unknown fields ignored, frozen."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    EVENT_TYPE: ClassVar[str] = ""


class Part(BaseModel):
    """Base of a nested value object inside an event: same rules as :class:`EventModel`."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


NonEmptyStr = Annotated[str, StringConstraints(min_length=1, max_length=256, strip_whitespace=False)]
Text = Annotated[str, StringConstraints(max_length=4000)]
UnitCode = Annotated[
    str,
    StringConstraints(pattern=UNIT_CODE_PATTERN),
    Field(description="UN/ECE Recommendation 20 unit code, e.g. EA, KGM, CS (2-3 upper-case letters/digits)"),
]
Currency = Annotated[str, StringConstraints(pattern=CURRENCY_PATTERN), Field(description="ISO 4217 code")]
Country = Annotated[str, StringConstraints(pattern=COUNTRY_PATTERN), Field(description="ISO 3166-1 alpha-2")]
PositiveQuantity = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
ServiceLevel = Annotated[
    float, Field(gt=0, lt=1, allow_inf_nan=False, description="a fraction strictly inside (0, 1), e.g. 0.975")
]
Tier = Annotated[int, Field(ge=1, description="1 = highest priority")]
Dimension = Literal["customer", "product", "customer_product", "supplier"]
ServiceLevelType = Literal["cycle", "fill_rate"]
