"""The fixed vocabulary of a rule set: drivers, fields, operators, strategies and their allowed values."""

from __future__ import annotations

from .abc import ABC_LABELS
from .pattern import PATTERN_LABELS
from .xyz import XYZ_LABELS

DRIVERS: tuple[str, ...] = ("revenue", "margin", "volume", "order_lines")
MEASURE_FIELDS: tuple[str, ...] = (
    "revenue",
    "margin",
    "margin_pct",
    "volume",
    "order_lines",
    "cv",
    "adi",
    "cv2",
)
SUPPLIER_RISK_FIELDS: tuple[str, ...] = (
    "supplier_on_time_rate",
    "supplier_lead_time_mean",
    "supplier_lead_time_std",
    "supplier_lead_time_cv",
    "supplier_receipts",
)
NUMERIC_ATTRIBUTES: tuple[str, ...] = (
    *SUPPLIER_RISK_FIELDS,
    "on_time_rate",
    "lead_time_mean",
    "lead_time_std",
    "lead_time_cv",
)
HIERARCHY_FIELDS: tuple[str, ...] = (
    "parent_id",
    "top_parent_id",
    *(
        f"{view}_{kind}"
        for view in ("sales", "logistics", "finance")
        for kind in ("parent_id", "top_parent_id")
    ),
)
ROLLUP_VIEWS: tuple[str, ...] = ("sales", "logistics", "finance")
RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    "abc": ABC_LABELS,
    "xyz": (*XYZ_LABELS, "-"),
    "pattern": PATTERN_LABELS,
}
OPERATORS: tuple[str, ...] = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in")
LIST_OPERATORS: tuple[str, ...] = ("in", "not_in")
ORDER_OPERATORS: tuple[str, ...] = ("lt", "le", "gt", "ge")
COMBINATORS: tuple[str, ...] = ("all", "any", "not")
SERVICE_LEVEL_TYPES: tuple[str, ...] = ("cycle", "fill_rate")
BACKORDER_STRATEGIES: tuple[str, ...] = ("win", "gain", "redistribute", "fill", "lose")
SPIKE_EXCEPTIONS: tuple[str, ...] = ("promo", "one_time_project")
SPIKE_HANDLING: tuple[str, ...] = ("exclude", "include", "segment")
EXCEPTION_KINDS: tuple[str, ...] = (*SPIKE_EXCEPTIONS, "new_product")
TOP_LEVEL_KEYS: tuple[str, ...] = (
    "name",
    "version",
    "description",
    "abc",
    "xyz",
    "pattern",
    "defaults",
    "rules",
    "default_segment",
    "exceptions",
    "segments",
    "contract_floors",
    "regulated_regions",
    "local_names",
    "stability",
    "schedule",
)
SEGMENT_KEYS: tuple[str, ...] = (
    "tier",
    "service_level",
    "otif_target",
    "promise_lead_time_days",
    "backorder_strategy",
    "delivery_window_days",
    "description",
)
