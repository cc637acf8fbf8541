"""The event registry: ce_type -> payload model, and strict parsing of an envelope's payload.

``parse_event`` validates the wire bytes (strict JSON mode) against the model of the envelope's
type. An unknown type, a tombstone or a schema violation raises ``EventValidationError`` whose
``reason`` names the offending field path (e.g. ``service_policy.service_level_target: ...``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.allocation import AllocationDecided, PromiseChanged, PromiseMade, PromiseReleased
from contracts.audit import CheckpointSigned
from contracts.common import EventModel
from contracts.envelope import Envelope
from contracts.erp import (
    InventoryPosition,
    InventoryReceiptScheduled,
    OrderLineCancelled,
    OrderLineChanged,
    OrderLinePlaced,
    ShipmentLineDelivered,
    ShipmentLineShipped,
)
from contracts.mdm import CustomerUpserted, ProductUpserted
from contracts.policy import KpiAlertCleared, KpiAlertRaised, PolicyPublished
from contracts.segments import (
    OverrideApproved,
    OverrideExpired,
    OverrideRejected,
    OverrideRequested,
    SegmentAssigned,
    SegmentChanged,
)

_MODELS: tuple[type[EventModel], ...] = (
    OrderLinePlaced,
    OrderLineChanged,
    OrderLineCancelled,
    ShipmentLineShipped,
    ShipmentLineDelivered,
    InventoryPosition,
    InventoryReceiptScheduled,
    CustomerUpserted,
    ProductUpserted,
    SegmentAssigned,
    SegmentChanged,
    OverrideRequested,
    OverrideApproved,
    OverrideRejected,
    OverrideExpired,
    PolicyPublished,
    KpiAlertRaised,
    KpiAlertCleared,
    AllocationDecided,
    PromiseMade,
    PromiseChanged,
    PromiseReleased,
    CheckpointSigned,
)

EVENT_MODELS: dict[str, type[BaseModel]] = {model.EVENT_TYPE: model for model in _MODELS}


class EventValidationError(ValueError):
    """A payload that does not match its event type's model; ``reason`` names the field path."""

    def __init__(self, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or []


def event_type_of(model: BaseModel | type[BaseModel]) -> str:
    """The ce_type of an event model class or instance (``KeyError`` if it is not an event)."""
    cls = model if isinstance(model, type) else type(model)
    event_type = getattr(cls, "EVENT_TYPE", "")
    if EVENT_MODELS.get(event_type) is not cls:
        raise KeyError(f"{cls.__name__} is not a registered event model")
    return str(event_type)


def format_errors(exc: ValidationError) -> str:
    """One line per pydantic error: ``field.path: message`` (``<root>`` for model-level errors)."""
    parts = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(p) for p in error["loc"]) or "<root>"
        parts.append(f"{path}: {error['msg']}")
    return "; ".join(parts)


def parse_event(env: Envelope) -> BaseModel:
    """The validated payload model of ``env``, or ``EventValidationError`` with a field-path reason."""
    model = EVENT_MODELS.get(env.type)
    if model is None:
        raise EventValidationError(f"unknown event type {env.type}")
    if env.data is None:
        raise EventValidationError(f"tombstone carries no {env.type} payload")
    try:
        return model.model_validate_json(env.data)
    except ValidationError as exc:
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors(include_url=False)
        ]
        raise EventValidationError(f"{env.type}: {format_errors(exc)}", errors) from exc
