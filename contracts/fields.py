"""Where an event's marked fields are: personal data (``x-personal``) and financials (``x-financial``).

The audit log encrypts personal fields per data subject before hashing; partner projections and
field-level masking drop or mask financial ones. A path is a tuple of field names, with ``"*"`` for
every item of a list or every value of a dict, e.g. ``("contacts", "*", "email")``.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

from pydantic import BaseModel

from contracts.common import FINANCIAL, PERSONAL

Path = tuple[str, ...]


def _models_in(annotation: Any) -> list[tuple[type[BaseModel], bool]]:
    """Pydantic models inside an annotation, each with whether it sits in a list or dict."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, False)]
    origin = get_origin(annotation)
    found: list[tuple[type[BaseModel], bool]] = []
    if origin in (list, tuple, set, frozenset, dict):
        args = get_args(annotation)
        inner = args[-1:] if origin is dict else args
        for arg in inner:
            found.extend((model, True) for model, _ in _models_in(arg))
    elif origin is not None:  # Optional/Union, Annotated, ...
        for arg in get_args(annotation):
            found.extend(_models_in(arg))
    return found


def marked_paths(model: type[BaseModel], marker: str) -> list[Path]:
    """Paths of the fields whose JSON schema carries ``marker: true``, depth first in field order."""
    paths: list[Path] = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get(marker) is True:
            paths.append((name,))
            continue
        for inner, repeated in _models_in(info.annotation):
            prefix = (name, "*") if repeated else (name,)
            paths.extend(prefix + sub for sub in marked_paths(inner, marker))
    return paths


def personal_paths(model: type[BaseModel]) -> list[Path]:
    """Paths of personal-data fields (contact names, emails, phone numbers)."""
    (marker,) = PERSONAL
    return marked_paths(model, marker)


def financial_paths(model: type[BaseModel]) -> list[Path]:
    """Paths of financial fields (revenue, margin)."""
    (marker,) = FINANCIAL
    return marked_paths(model, marker)
