"""Read routes over the current assignments: list with filters and cursor paging, ABC x XYZ matrix,
one entity with explanation and history, CSV export. Financial fields (revenue, margin, and a driver
value or reason quoting them) only for finance/admin; customers and partners see only their entities."""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.runtime.auth import AUTH_RESPONSES, Principal, mask_financials, require_roles
from services.runtime.problems import Problem, problem_responses

from . import store
from .measures import CUSTOMER_PRODUCT_SEPARATOR

router = APIRouter()
FINANCIAL_DRIVERS = ("revenue", "margin")
DIMENSION_PATTERN = "^(customer|product|customer_product|supplier)$"


def _cursor(after: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(after)).encode()).decode()


def _after(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    try:
        dimension, entity = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(dimension), str(entity)
    except Exception as error:
        raise Problem(
            400,
            "Invalid cursor",
            "cursor is not one this API returned",
            errors=[{"field": "cursor", "message": "unreadable cursor"}],
        ) from error


def visible_to(principal: Principal, row: Any) -> bool:
    """Object-level rule: customers see their own entities, partners those they serve; others see all."""
    if (
        principal.has_role("customer")
        and principal.customer_id
        and not principal.has_any_role(("admin", "planner", "approver", "finance"))
    ):
        owner = row.entity_id.partition(CUSTOMER_PRODUCT_SEPARATOR)[0]
        return row.dimension in ("customer", "customer_product") and (
            owner == principal.customer_id or owner.endswith(f":{principal.customer_id}")
        )
    if (
        principal.has_role("partner")
        and principal.partner_id
        and not principal.has_any_role(("admin", "planner", "approver", "finance"))
    ):
        return principal.partner_id in (row.partner_ids or [])
    return True


def item(row: Any, principal: Principal, *, detail: bool = False) -> dict[str, Any]:
    """An assignment as JSON, masked for the caller; ``masked_fields`` lists what was removed."""
    explanation = dict(row.explanation)
    out: dict[str, Any] = {
        "dimension": row.dimension,
        "entity_id": row.entity_id,
        "name": row.name,
        "segment": row.segment,
        "computed_segment": row.computed_segment,
        "tier": row.tier,
        "abc": row.abc,
        "xyz": row.xyz,
        "pattern": row.pattern,
        "region": row.region,
        "overridden": bool(row.overridden),
        "pending_segment": row.pending_segment,
        "service_policy": row.service_policy,
        "partner_ids": row.partner_ids,
        "ruleset_version": row.ruleset_version,
        "ruleset_hash": row.ruleset_hash,
        "run_id": row.run_id,
        "updated_at": store.aware(row.updated_at).isoformat(),  # type: ignore[union-attr]
        "revenue": row.revenue,
        "margin": row.margin,
        "local_names": explanation.get("local_names", {}),
    }
    if detail:
        out["explanation"] = explanation
    masked_out, masked = mask_financials(out, principal)
    if not principal.sees_financials and detail and explanation.get("driver") in FINANCIAL_DRIVERS:
        driver = explanation["driver"]
        masked_out["explanation"] = {
            **masked_out["explanation"],
            "driver_value": None,
            "reasons": [r for r in explanation.get("reasons", []) if not r.startswith(f"{driver} ")],
        }
        masked.append("explanation.driver_value")
    masked_out["masked_fields"] = masked
    return masked_out


@dataclass(frozen=True)
class SegmentFilters:
    """The list and CSV export's filters (query parameters): all optional, combined with AND."""

    dimension: str | None = Query(default=None, pattern=DIMENSION_PATTERN)
    segment: str | None = None
    abc: str | None = Query(default=None, pattern="^[ABC]$")
    xyz: str | None = Query(default=None, pattern="^[XYZ]$")
    region: str | None = None
    q: str | None = Query(default=None, max_length=200)


async def _page(
    request: Request, principal: Principal, filters: SegmentFilters, *, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    host = request.app.state.host
    after = _after(cursor)
    found: list[Any] = []
    async with host.db.read() as session:
        while len(found) < limit:
            rows = await store.search_assignments(
                session,
                dimension=filters.dimension,
                segment=filters.segment,
                abc=filters.abc,
                xyz=filters.xyz,
                region=filters.region,
                text=filters.q,
                after=after,
                limit=limit,
            )
            if not rows:
                return found, None
            for row in rows:
                after = (row.dimension, row.entity_id)
                if visible_to(principal, row):
                    found.append(row)
                    if len(found) == limit:
                        break
            if len(rows) < limit and len(found) < limit:
                return found, None
    return found, _cursor(after) if after is not None else None


@router.get(
    "/v1/segments",
    responses={**problem_responses(400), **AUTH_RESPONSES},
    summary="Current segment assignments, filtered, cursor-paged",
)
async def list_segments(
    request: Request,
    filters: SegmentFilters = Depends(),
    cursor: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    principal: Principal = Depends(require_roles()),
) -> dict[str, Any]:
    rows, next_cursor = await _page(request, principal, filters, cursor=cursor, limit=limit)
    return {"items": [item(r, principal) for r in rows], "next_cursor": next_cursor}


@router.get(
    "/v1/segments/matrix",
    responses={**problem_responses(400), **AUTH_RESPONSES},
    summary="ABC x XYZ counts of a dimension",
)
async def matrix(
    request: Request,
    dimension: str = Query(pattern=DIMENSION_PATTERN),
    principal: Principal = Depends(require_roles("planner", "approver", "finance", "admin", "service")),
) -> dict[str, Any]:
    async with request.app.state.host.db.read() as session:
        rows = await store.abc_xyz_counts(session, dimension)
    return {
        "dimension": dimension,
        "cells": [{"abc": r.abc, "xyz": r.xyz or "-", "count": int(r.count)} for r in rows],
    }


@router.get(
    "/v1/segments/export.csv",
    responses={**problem_responses(400), **AUTH_RESPONSES},
    summary="The filtered assignments as CSV (financial columns empty unless finance/admin)",
)
async def export_csv(
    request: Request,
    filters: SegmentFilters = Depends(),
    principal: Principal = Depends(require_roles()),
) -> Response:
    columns = [
        "dimension",
        "entity_id",
        "name",
        "segment",
        "tier",
        "abc",
        "xyz",
        "pattern",
        "region",
        "overridden",
        "ruleset_version",
        "revenue",
        "margin",
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    cursor: str | None = None
    while True:
        rows, cursor = await _page(request, principal, filters, cursor=cursor, limit=1000)
        for row in rows:
            data = item(row, principal)
            writer.writerow(["" if data[c] is None else data[c] for c in columns])
        if cursor is None:
            break
    headers = {"Content-Disposition": 'attachment; filename="segments.csv"'}
    if not principal.sees_financials:
        headers["X-Masked-Fields"] = "revenue,margin"
    return Response(buffer.getvalue(), media_type="text/csv", headers=headers)


@router.get(
    "/v1/segments/{dimension}/{entity_id:path}",
    responses={**problem_responses(404), **AUTH_RESPONSES},
    summary="One entity: current assignment, explanation and history",
)
async def one_segment(
    request: Request, dimension: str, entity_id: str, principal: Principal = Depends(require_roles())
) -> dict[str, Any]:
    async with request.app.state.host.db.read() as session:
        row = await store.assignment(session, dimension, entity_id)
        if row is None or not visible_to(principal, row):
            raise Problem(404, "Not found", f"no assignment for {dimension}:{entity_id}")
        history = await store.history(session, dimension, entity_id)
    out = item(row, principal, detail=True)
    out["history"] = [
        {
            "at": h.at.isoformat() if h.at.tzinfo else h.at.replace(tzinfo=UTC).isoformat(),
            "old": h.old_segment,
            "new": h.new_segment,
            "reasons": h.reasons,
            "run_id": h.run_id,
        }
        for h in history
    ]
    return out
