"""RFC 9457 problem details (``application/problem+json``): the one error shape of every segflow API.

Owns the ``Problem`` exception routes raise, the response builder, the OpenAPI model and the helper
that declares a route's error statuses, plus the translation of request validation errors into a
400 problem whose ``errors`` name each offending field (``items.0.service_level.target``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_SCHEMA_REF = "#/components/schemas/ProblemDetail"
VALIDATION_PROBLEM_TYPE = "urn:segflow:problem:validation-error"
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


class FieldError(BaseModel):
    """One invalid input: where it is, what is wrong, and the machine-readable error type."""

    field: str = Field(description="dotted path of the field, e.g. items.0.service_level.target")
    message: str
    type: str = Field(description="error type, e.g. less_than, missing, json_invalid")
    location: str | None = Field(default=None, description="body, query, path, header or cookie")


class ProblemDetail(BaseModel):
    """RFC 9457 problem details object; extension members are allowed."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI reference identifying the problem type")
    title: str = Field(description="short, human-readable summary of the problem type")
    status: int = Field(description="HTTP status code")
    detail: str | None = Field(default=None, description="explanation specific to this occurrence")
    instance: str | None = Field(default=None, description="URI reference of this occurrence")
    errors: list[FieldError] | None = Field(default=None, description="invalid fields, when any")
    trace_id: str | None = Field(default=None, description="trace id of the request (32 hex digits)")


def status_phrase(status: int) -> str:
    """The standard reason phrase of an HTTP status (``"Error"`` for an unknown code)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Problem(Exception):
    """Raise from a route to answer with a problem+json response of ``status``."""

    def __init__(
        self,
        status: int,
        title: str | None = None,
        detail: str | None = None,
        type: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        self.status = status
        self.title = title or status_phrase(status)
        self.detail = detail
        self.type = type
        self.errors = errors
        self.headers = dict(headers or {})
        self.extensions = extensions
        super().__init__(f"{status} {self.title}" + (f": {detail}" if detail else ""))

    def to_dict(self, *, instance: str | None = None, trace_id: str | None = None) -> dict[str, Any]:
        """The problem's JSON members (absent members are left out)."""
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail is not None:
            body["detail"] = self.detail
        if instance is not None:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        if trace_id is not None:
            body["trace_id"] = trace_id
        body.update(self.extensions)
        return body

    def to_response(self, *, instance: str | None = None, trace_id: str | None = None) -> JSONResponse:
        return JSONResponse(
            self.to_dict(instance=instance, trace_id=trace_id),
            status_code=self.status,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=self.headers or None,
        )


def problem_response(
    status: int,
    title: str | None = None,
    detail: str | None = None,
    *,
    type: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
    trace_id: str | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A ``JSONResponse`` with media type ``application/problem+json`` for ``status``."""
    problem = Problem(status, title, detail, type=type, errors=errors, headers=headers, **extensions)
    return problem.to_response(instance=instance, trace_id=trace_id)


def problem_content() -> dict[str, Any]:
    """The OpenAPI ``content`` object of a problem response."""
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring each status as a problem+json response.

    Usage: ``@router.get("/x", responses=problem_responses(404, 409))``. The app factory adds the
    ``ProblemDetail`` schema to the document's components.
    """
    return {code: {"description": status_phrase(code), "content": problem_content()} for code in codes}


def field_path(loc: Sequence[str | int]) -> tuple[str, str | None]:
    """(dotted field path, location) of a pydantic/FastAPI error ``loc``.

    The leading location (body, query, path, header, cookie) is split off:
    ``("body", "items", 0, "service_level", "target")`` -> ``("items.0.service_level.target", "body")``;
    a whole-body error (``("body",)``) is the field ``body``.
    """
    parts = list(loc)
    location: str | None = None
    if parts and parts[0] in _LOCATIONS:
        location = str(parts.pop(0))
    if not parts:
        return (location or "body"), location
    return ".".join(str(p) for p in parts), location


def validation_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI/pydantic validation errors as problem ``errors`` items naming each field.

    Malformed JSON (``json_invalid``, whose loc ends in a character offset) names the field ``body``.
    """
    items: list[dict[str, Any]] = []
    for error in errors:
        kind = str(error.get("type", "value_error"))
        loc = tuple(error.get("loc", ()))
        location: str | None
        if kind == "json_invalid":
            field, location = "body", "body"
        else:
            field, location = field_path(loc)
        item: dict[str, Any] = {
            "field": field,
            "message": str(error.get("msg", "invalid value")),
            "type": kind,
        }
        if location is not None:
            item["location"] = location
        items.append(item)
    return items


def validation_problem(errors: Iterable[Mapping[str, Any]]) -> Problem:
    """A 400 problem for request validation errors (never 422)."""
    items = validation_errors(errors)
    fields = ", ".join(dict.fromkeys(item["field"] for item in items))
    return Problem(
        400,
        "Request validation failed",
        f"invalid {fields}" if fields else "invalid request",
        type=VALIDATION_PROBLEM_TYPE,
        errors=items,
    )
