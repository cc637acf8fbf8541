"""Master-data events: customers and products as each source system knows them.

Identifiers are validated and normalised on the way in (GLN and GTIN check digits, 9-digit DUNS,
prefixed VAT; see contracts.identity). Contact fields are personal data and are marked
``"x-personal": true`` in the JSON schema so the audit log can encrypt them per data subject.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from contracts.common import (
    PERSONAL,
    Country,
    Currency,
    EventModel,
    NonEmptyStr,
    NonNegative,
    Part,
    PositiveQuantity,
    ServiceLevel,
    Tier,
    UnitCode,
)
from contracts.identity import normalise_duns, normalise_gln, normalise_gtin, normalise_vat

Lifecycle = Literal["npi", "active", "phase_out", "retired"]


class HierarchyParents(Part):
    """The parent's source id in each hierarchy view (None = top of that view)."""

    sales: NonEmptyStr | None = None
    logistics: NonEmptyStr | None = None
    finance: NonEmptyStr | None = None


class CustomerContract(Part):
    """Contractual floors: a computed segment never goes below them (the strictest one wins)."""

    min_tier: Tier | None = None
    min_service_level: ServiceLevel | None = None
    min_segment: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="the segment this customer never goes below on the rule set's segment ladder: a standard "
        "segment name or the source system's own name for it, mapped through the active rule set's "
        "local_names like local_segment (unknown names are dead-lettered until mapped)",
    )  # fmt: skip


class Contact(Part):
    """A person to notify; every field is personal data."""

    name: NonEmptyStr | None = Field(default=None, json_schema_extra=PERSONAL)
    email: NonEmptyStr | None = Field(default=None, json_schema_extra=PERSONAL)
    phone: NonEmptyStr | None = Field(default=None, json_schema_extra=PERSONAL)
    role: NonEmptyStr | None = None


class CustomerUpserted(EventModel):
    """A customer record was created or updated in a source system."""

    EVENT_TYPE = "segflow.customer.upserted"

    source: NonEmptyStr
    source_id: NonEmptyStr
    name: NonEmptyStr
    gln: str | None = Field(default=None, description="GS1 Global Location Number, 13 digits")
    duns: str | None = Field(default=None, description="D-U-N-S number, 9 digits")
    vat: str | None = Field(default=None, description="VAT id with country prefix, e.g. DE123456789")
    parents: HierarchyParents = HierarchyParents()
    region: NonEmptyStr
    country: Country
    strategic: bool = False
    partner_ids: list[NonEmptyStr] = Field(default_factory=list, description="3PLs serving this customer")
    account_owner: NonEmptyStr | None = None
    contract: CustomerContract | None = None
    contacts: list[Contact] = Field(default_factory=list)
    local_segment: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="the source system's own segment name for this record; mapped to the standard taxonomy "
        "through the active rule set's local_names (unknown names are dead-lettered until mapped)",
    )  # fmt: skip
    updated_at: AwareDatetime

    @field_validator("gln")
    @classmethod
    def _gln(cls, value: str | None) -> str | None:
        return None if value is None else normalise_gln(value)

    @field_validator("duns")
    @classmethod
    def _duns(cls, value: str | None) -> str | None:
        return None if value is None else normalise_duns(value)

    @model_validator(mode="after")
    def _vat(self) -> CustomerUpserted:
        if self.vat is not None:
            object.__setattr__(self, "vat", normalise_vat(self.vat, self.country))
        return self


class ProductUpserted(EventModel):
    """A product record was created or updated in a source system."""

    EVENT_TYPE = "segflow.product.upserted"

    source: NonEmptyStr
    source_id: NonEmptyStr
    gtin: str | None = Field(default=None, description="GTIN-8/12/13/14; normalised to GTIN-14")
    name: NonEmptyStr
    base_uom: UnitCode
    uom_conversions: dict[UnitCode, PositiveQuantity] = Field(
        default_factory=dict, description="unit code -> base units per one of it, e.g. {'CS': 12}"
    )
    lifecycle: Lifecycle
    launch_date: date | None = None
    category: NonEmptyStr
    lead_time_days: NonNegative | None = None
    lead_time_std_days: NonNegative | None = None
    unit_cost: NonNegative | None = None
    list_price: NonNegative | None = None
    currency: Currency | None = None
    erp_safety_stock: NonNegative | None = None
    erp_reorder_point: NonNegative | None = None
    supplier_id: NonEmptyStr | None = None
    local_segment: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="the source system's own segment name for this record; mapped to the standard taxonomy "
        "through the active rule set's local_names (unknown names are dead-lettered until mapped)",
    )  # fmt: skip
    updated_at: AwareDatetime

    @field_validator("gtin")
    @classmethod
    def _gtin(cls, value: str | None) -> str | None:
        return None if value is None else normalise_gtin(value)

    @model_validator(mode="after")
    def _consistent(self) -> ProductUpserted:
        if self.base_uom in self.uom_conversions and self.uom_conversions[self.base_uom] != 1:
            raise ValueError(f"uom_conversions[{self.base_uom}] must be 1 for the base unit")
        if (self.unit_cost is not None or self.list_price is not None) and self.currency is None:
            raise ValueError("currency is required when unit_cost or list_price is given")
        return self
