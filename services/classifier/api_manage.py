"""Management routes: rule sets (create, list, get, validate, impact, activate), runs (start, latest, get)
and overrides (request, list, approve, reject; four-eyes -> 403)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.runtime.auth import AUTH_RESPONSES, Principal, require_roles
from services.runtime.problems import Problem, problem_responses

from . import overrides as override_flow
from . import rulesets, store
from .domain.errors import FourEyesViolation, InvalidTransition, NotAnApprover, OverrideError
from .domain.local_names import standard_segment
from .domain.ruleset import content_hash

router = APIRouter()
RULESET_PROBLEM_TYPE = "urn:segflow:problem:invalid-ruleset"
READERS = ("planner", "approver", "finance", "admin", "service")


def _host(request: Request) -> Any:
    return request.app.state.host


async def _ruleset_from(request: Request) -> dict[str, Any]:
    try:
        body = rulesets.parse_body(await request.body(), request.headers.get("content-type"))
    except (rulesets.RuleSetParseError, UnicodeDecodeError) as error:
        raise Problem(400, "Unreadable rule set", str(error)) from error
    issues = rulesets.validate(body)
    if issues:
        raise Problem(
            400,
            "Invalid rule set",
            f"{len(issues)} problem(s) in the rule set",
            type=RULESET_PROBLEM_TYPE,
            errors=[{"field": i.path, "message": i.message, "type": "ruleset"} for i in issues],
        )
    return dict(body)


async def _version_row(request: Request, version: int) -> Any:
    async with _host(request).db.read() as session:
        row = await store.ruleset_row(session, version)
    if row is None:
        raise Problem(404, "Not found", f"rule set version {version} does not exist")
    return row


@router.post(
    "/v1/rulesets",
    status_code=201,
    responses={**problem_responses(400), **AUTH_RESPONSES},
    summary="Store a rule set (JSON or YAML body) as a new version",
)
async def create_ruleset(
    request: Request, principal: Principal = Depends(require_roles("planner", "admin"))
) -> Any:
    body = await _ruleset_from(request)
    async with _host(request).db.unit_of_work() as session:
        row, created = await rulesets.create(session, body, principal.subject)
    return JSONResponse(rulesets.describe(row), status_code=201 if created else 200)


@router.get("/v1/rulesets", responses=AUTH_RESPONSES, summary="Every rule-set version")
async def list_rulesets(
    request: Request, principal: Principal = Depends(require_roles(*READERS))
) -> dict[str, Any]:
    async with _host(request).db.read() as session:
        rows = await store.ruleset_rows(session)
    return {"items": [rulesets.describe(r, with_body=False) for r in rows]}


@router.post(
    "/v1/rulesets/validate",
    responses={**problem_responses(400), **AUTH_RESPONSES},
    summary="Validate a rule set without storing it",
)
async def validate_ruleset(
    request: Request, principal: Principal = Depends(require_roles(*READERS))
) -> dict[str, Any]:
    body = await _ruleset_from(request)
    return {"valid": True, "hash": content_hash(body)}


@router.get(
    "/v1/rulesets/{version}",
    responses={**problem_responses(404), **AUTH_RESPONSES},
    summary="One rule-set version with its body and activation history",
)
async def get_ruleset(
    request: Request, version: int, principal: Principal = Depends(require_roles(*READERS))
) -> dict[str, Any]:
    row = await _version_row(request, version)
    async with _host(request).db.read() as session:
        actions = await store.ruleset_actions(session, version)
    return {
        **rulesets.describe(row),
        "history": [
            {"action": a.action, "actor": a.actor, "at": store.aware(a.at).isoformat(), "detail": a.detail}  # type: ignore[union-attr]
            for a in actions
        ],
    }


@router.post(
    "/v1/rulesets/{version}/impact",
    responses={**problem_responses(400, 404), **AUTH_RESPONSES},
    summary="Migration matrix of a candidate rule set against the current assignments",
)
async def ruleset_impact(
    request: Request,
    version: int,
    dimension: str = Query(default="product", pattern="^(customer|product|customer_product|supplier)$"),
    principal: Principal = Depends(require_roles("planner", "approver", "admin")),
) -> dict[str, Any]:
    await _version_row(request, version)
    return await rulesets.impact(_host(request).db, version, dimension)


@router.post(
    "/v1/rulesets/{version}/activate",
    responses={**problem_responses(404), **AUTH_RESPONSES},
    summary="Make a rule-set version the active one (audited)",
)
async def activate_ruleset(
    request: Request, version: int, principal: Principal = Depends(require_roles("planner", "admin"))
) -> dict[str, Any]:
    await _version_row(request, version)
    async with _host(request).db.unit_of_work() as session:
        row = await rulesets.activate_version(session, version, principal.subject)
    return rulesets.describe(row, with_body=False)


# ---------------------------------------------------------------- runs


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ruleset_version: int | None = Field(default=None, ge=1)
    dimension: str = Field(default="product", pattern="^(customer|product|customer_product|supplier)$")


def _run_json(row: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        aware = store.aware(value)
        return aware.isoformat() if aware else None

    return {
        "run_id": row.run_id,
        "dimension": row.dimension,
        "ruleset_version": row.ruleset_version,
        "ruleset_hash": row.ruleset_hash,
        "engine_version": row.engine_version,
        "status": row.status,
        "progress": row.progress,
        "stage": row.stage,
        "trigger": row.trigger,
        "requested_by": row.requested_by,
        "created_at": iso(row.created_at),
        "finished_at": iso(row.finished_at),
        "data_cutoff": iso(row.data_cutoff),
        "stream_lag": row.stream_lag,
        "counts": row.counts,
        "migration": row.migration,
        "notes": row.notes,
        "error": row.error,
    }


@router.post(
    "/v1/runs",
    status_code=202,
    responses={**problem_responses(400, 404), **AUTH_RESPONSES},
    summary="Start a classification run in the background",
)
async def start_run(
    request: Request, body: RunRequest, principal: Principal = Depends(require_roles("planner", "admin"))
) -> dict[str, Any]:
    try:
        run_id = (
            await _host(request)
            .state["runs"]
            .start_run(
                dimension=body.dimension,
                ruleset_version=body.ruleset_version,
                trigger="api",
                requested_by=principal.subject,
            )
        )
    except LookupError as error:
        raise Problem(404, "Not found", str(error)) from error
    return {"run_id": run_id, "status": "queued"}


@router.get(
    "/v1/runs/latest", responses={**problem_responses(404), **AUTH_RESPONSES}, summary="The latest run"
)
async def latest_run(
    request: Request, dimension: str | None = None, principal: Principal = Depends(require_roles(*READERS))
) -> dict[str, Any]:
    async with _host(request).db.read() as session:
        row = await store.latest_run(session, dimension)
    if row is None:
        raise Problem(404, "Not found", "no run yet")
    return _run_json(row)


@router.get(
    "/v1/runs/{run_id}",
    responses={**problem_responses(404), **AUTH_RESPONSES},
    summary="A run: progress, counts, migration matrix",
)
async def get_run(
    request: Request, run_id: str, principal: Principal = Depends(require_roles(*READERS))
) -> dict[str, Any]:
    async with _host(request).db.read() as session:
        row = await store.run_row(session, run_id)
    if row is None:
        raise Problem(404, "Not found", f"no run {run_id}")
    return _run_json(row)


# ---------------------------------------------------------------- overrides


class OverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dimension: str = Field(pattern="^(customer|product|customer_product|supplier)$")
    entity_id: str = Field(min_length=1, max_length=600)
    segment: str = Field(
        min_length=1, max_length=64, description="a standard segment, or a local name of ``source``"
    )
    source: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="source system whose local segment name ``segment`` is (rule set local_names)",
    )
    reason: str = Field(min_length=1, max_length=4000)
    expires_at: AwareDatetime


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=4000)


async def _active(request: Request) -> Any:
    async with _host(request).db.read() as session:
        row = await store.active_ruleset(session)
    if row is None:
        raise Problem(409, "No active rule set", "activate a rule set first")
    return row


@router.post(
    "/v1/overrides",
    status_code=201,
    responses={**problem_responses(400, 409), **AUTH_RESPONSES},
    summary="Request an override (pending until a different approver decides)",
)
async def request_override(
    request: Request, body: OverrideRequest, principal: Principal = Depends(require_roles("planner", "admin"))
) -> dict[str, Any]:
    active = await _active(request)
    segment = standard_segment(
        active.body.get("local_names", {}), active.body["segments"], body.source, body.segment
    )
    if segment is None:
        known = f"nor a local name of {body.source} in local_names" if body.source else "(no source given)"
        raise Problem(
            400,
            "Unknown segment",
            f"{body.segment} is not a segment of the active rule set {known}",
            errors=[{"field": "segment", "message": f"not a segment of the active rule set {known}"}],
        )
    try:
        async with _host(request).db.unit_of_work() as session:
            row = await override_flow.request(
                session,
                dimension=body.dimension,
                entity_id=body.entity_id,
                segment=segment,
                reason=body.reason
                if segment == body.segment
                else f"{body.reason} [{body.source}: {body.segment}]",
                expires_at=body.expires_at,
                requested_by=principal.subject,
                now=datetime.now(UTC),
            )
    except OverrideError as error:
        raise Problem(400, "Invalid override", str(error)) from error
    _host(request).relay.wake()
    return override_flow.as_json(row)


@router.get(
    "/v1/overrides", responses={**problem_responses(400), **AUTH_RESPONSES}, summary="Overrides by status"
)
async def list_overrides(
    request: Request,
    status: str | None = Query(default=None, pattern="^(pending|approved|rejected|expired)$"),
    principal: Principal = Depends(require_roles(*READERS)),
) -> dict[str, Any]:
    async with _host(request).db.read() as session:
        rows = await store.override_rows(session, status=status)
    return {"items": [override_flow.as_json(r) for r in rows]}


async def _decide(
    request: Request, override_id: str, body: Decision | None, principal: Principal, approve: bool
) -> dict[str, Any]:
    host = _host(request)
    active = await _active(request)
    try:
        async with host.db.unit_of_work() as session:
            row = await store.override_row(session, override_id)
            if row is None:
                raise Problem(404, "Not found", f"no override {override_id}")
            decided = await override_flow.decide(
                session,
                host.bus,
                row,
                approve=approve,
                user=principal.subject,
                roles=principal.roles,
                note=body.note if body else None,
                now=datetime.now(UTC),
                ruleset=active.body,
                ruleset_version=active.version,
            )
    except (FourEyesViolation, NotAnApprover) as error:
        raise Problem(403, "Forbidden", str(error)) from error
    except InvalidTransition as error:
        raise Problem(409, "Conflict", str(error)) from error
    host.relay.wake()
    return override_flow.as_json(decided)


@router.post(
    "/v1/overrides/{override_id}/approve",
    responses={**problem_responses(404, 409), **AUTH_RESPONSES},
    summary="Approve an override (approver role, not the requester)",
)
async def approve_override(
    request: Request,
    override_id: str,
    body: Decision | None = None,
    principal: Principal = Depends(require_roles("approver")),
) -> dict[str, Any]:
    return await _decide(request, override_id, body, principal, approve=True)


@router.post(
    "/v1/overrides/{override_id}/reject",
    responses={**problem_responses(404, 409), **AUTH_RESPONSES},
    summary="Reject an override (approver role, not the requester)",
)
async def reject_override(
    request: Request,
    override_id: str,
    body: Decision | None = None,
    principal: Principal = Depends(require_roles("approver")),
) -> dict[str, Any]:
    return await _decide(request, override_id, body, principal, approve=False)
