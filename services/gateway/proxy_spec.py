"""The vocabulary of the proxy table: one ``ProxyRoute`` per public route the gateway forwards upstream.

A row says everything about a forwarded route: method and public path, the upstream service and path,
the roles that may call it (admin passes every check), its query and path parameters with their
validation, what it does with a request body, an optional object-level check run before forwarding and
an optional hook run on the upstream's answer, whether financial fields are masked, and its OpenAPI
response documentation and declared status codes. ``api_proxy`` turns every row into one route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import Request

from services.gateway.proxying import JSON_OBJECT, PROXY_RESPONSES
from services.runtime.auth import Principal

REQUIRED: Any = ...
ID_CONSTRAINTS: Mapping[str, Any] = {"min_length": 1, "max_length": 256, "pattern": r"^[^/]+$"}
Dimension = Literal["customer", "product", "customer_product", "supplier"]

# an object-level check sees the caller and the route's validated parameters; it raises a Problem to refuse
ObjectCheck = Callable[[Request, Principal, Mapping[str, Any]], Awaitable[None]]
# a hook sees the validated parameters and the upstream's parsed answer (e.g. to keep an ATP snapshot)
AnswerHook = Callable[[Request, Mapping[str, Any], Any], Awaitable[None]]

JSON_RESPONSES: Mapping[int | str, dict[str, Any]] = {**JSON_OBJECT, **PROXY_RESPONSES}
CREATED_RESPONSES: Mapping[int | str, dict[str, Any]] = {
    **PROXY_RESPONSES,
    201: JSON_OBJECT[200],
    202: JSON_OBJECT[200],
}


@dataclass(frozen=True)
class Param:
    """A query or path parameter: its Python name, type, default and FastAPI validation constraints.

    ``alias`` is the name on the wire (public and upstream) when it is not a Python identifier ("from")."""

    name: str
    annotation: Any
    where: Literal["query", "path"] = "query"
    default: Any = None
    alias: str | None = None
    constraints: Mapping[str, Any] = field(default_factory=dict)

    @property
    def wire_name(self) -> str:
        return self.alias or self.name


def query(name: str, annotation: Any, default: Any = None, **constraints: Any) -> Param:
    """An optional (default None) or required (default REQUIRED) query parameter."""
    alias = constraints.pop("alias", None)
    return Param(name, annotation, "query", default, alias, constraints)


def path_id(name: str) -> Param:
    """A path parameter holding one opaque id: 1..256 characters, no "/"."""
    return Param(name, str, "path", REQUIRED, None, ID_CONSTRAINTS)


def path_param(name: str, annotation: Any, **constraints: Any) -> Param:
    return Param(name, annotation, "path", REQUIRED, None, constraints)


@dataclass(frozen=True)
class ProxyRoute:
    """One public route forwarded to ``upstream`` at ``upstream_path`` (default: the public path).

    ``body``: "none" (no request body), "any" (a JSON object passed on as is) or "empty" (no body
    accepted; ``{}`` is sent upstream). ``kind``: "json" (parsed, masked unless ``mask`` is False,
    ``masked_fields`` added) or "text" (passed through as is with ``media_type``)."""

    name: str
    method: Literal["GET", "POST"]
    path: str
    upstream: Literal["classifier", "allocator", "policy", "audit"]
    roles: tuple[str, ...]
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    body: Literal["none", "any", "empty"] = "none"
    upstream_path: str | None = None
    status_code: int | None = None
    kind: Literal["json", "text"] = "json"
    mask: bool = True
    media_type: str | None = None
    responses: Mapping[int | str, dict[str, Any]] = field(default_factory=lambda: dict(JSON_RESPONSES))
    check: ObjectCheck | None = None
    on_answer: AnswerHook | None = None

    @property
    def path_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.where == "path")

    @property
    def query_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.where == "query")
