"""Classifier HTTP routes: the stateless ``POST /v1/classify/preview`` (any authenticated caller) plus the
stateful routes of api_segments (reads) and api_manage (rule sets, runs, overrides)."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Depends

from services.runtime.auth import AUTH_RESPONSES, Principal, require_roles
from services.runtime.problems import Problem, problem_responses

from .domain.batch import NOT_NEW, BucketMarks, EntityBatch
from .domain.engine import classify
from .domain.errors import DomainError
from .domain.flags import FLAG_BITS
from .domain.local_names import local_name
from .domain.ruleset import DEFAULT_RULESET, validate
from .schemas import EntityIn, PreviewRequest, PreviewResponse, ResultOut

router = APIRouter()

RULESET_PROBLEM_TYPE = "urn:segflow:problem:invalid-ruleset"


def _marks(entities: list[EntityIn], attribute: str) -> BucketMarks:
    pairs = [(row, bucket) for row, e in enumerate(entities) for bucket in getattr(e, attribute)]
    return BucketMarks.from_pairs(pairs)


def _demand_matrix(entities: list[EntityIn]) -> np.ndarray:
    width = len(entities[0].demand) if entities else 0
    wrong = [
        {
            "field": f"entities.{row}.demand",
            "message": f"has {len(e.demand)} buckets, expected {width}",
            "type": "length",
        }
        for row, e in enumerate(entities)
        if len(e.demand) != width
    ]
    if wrong:
        raise Problem(
            400, "Invalid demand", "every entity needs the same number of demand buckets", errors=wrong
        )
    return np.array([e.demand for e in entities], dtype=np.float64).reshape(len(entities), width)


def batch_from_request(entities: list[EntityIn]) -> EntityBatch:
    """Column-oriented ``EntityBatch`` from the request rows; absent measures and attributes are missing."""
    measures: dict[str, np.ndarray] = {}
    for name in ("revenue", "margin", "volume", "order_lines"):
        values = [getattr(e.measures, name) for e in entities]
        if any(v is not None for v in values):
            measures[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    keys = sorted({key for e in entities for key in e.attributes})
    attributes: dict[str, Any] = {}
    for key in keys:
        column = np.empty(len(entities), dtype=object)
        column[:] = [e.attributes.get(key) for e in entities]
        attributes[key] = column
    launch = [NOT_NEW if e.launch_period is None else e.launch_period for e in entities]
    return EntityBatch(
        ids=np.array([e.id for e in entities], dtype=np.str_),
        dimension=np.array([e.dimension for e in entities], dtype=np.str_),
        measures=measures,
        demand=_demand_matrix(entities),
        attributes=attributes,
        promo=_marks(entities, "promo_buckets"),
        one_time_project=_marks(entities, "one_time_project_buckets"),
        launch_period=np.array(launch, dtype=np.int64),
    )


@router.post(
    "/v1/classify/preview",
    response_model=PreviewResponse,
    responses={**problem_responses(400), **AUTH_RESPONSES},
    summary="Classify entities under a rule set without storing anything",
)
def preview(body: PreviewRequest, principal: Principal = Depends(require_roles())) -> PreviewResponse:
    """ABC / XYZ / pattern / segment of each entity under ``ruleset`` (the default rule set when absent).

    A sync route on purpose: FastAPI runs it in its thread pool, so a large preview never blocks the
    event loop. An invalid rule set answers 400 problem+json listing each issue's path.
    """
    ruleset = body.ruleset if body.ruleset is not None else DEFAULT_RULESET
    issues = validate(ruleset)
    if issues:
        raise Problem(
            400,
            "Invalid rule set",
            f"{len(issues)} problem(s) in the rule set",
            type=RULESET_PROBLEM_TYPE,
            errors=[{"field": f"ruleset.{i.path}", "message": i.message, "type": "ruleset"} for i in issues],
        )
    try:
        batch = batch_from_request(body.entities)
        period = body.period_index if body.period_index is not None else batch.demand.shape[1]
        result = classify(batch, ruleset, period_index=period)
    except DomainError as error:
        raise Problem(400, "Cannot classify these entities", str(error)) from error
    unknown = [
        {
            "field": f"entities.{i}.attributes.local_segment",
            "message": f"unknown local segment name {e.attributes.get('local_segment')!r} for source system "
            f"{e.attributes.get('source_system')!r} (not in the rule set's local_names)",
            "type": "local_segment",
        }
        for i, e in enumerate(body.entities)
        if int(result.flags[i]) & FLAG_BITS["unknown_local_segment"]
    ] + [
        {
            "field": f"entities.{i}.attributes.min_segment",
            "message": f"unknown contract floor segment name {e.attributes.get('min_segment')!r} for source "
            f"system {e.attributes.get('min_segment_source') or e.attributes.get('source_system')!r} "
            "(not in the rule set's local_names, nor a standard segment)",
            "type": "min_segment",
        }
        for i, e in enumerate(body.entities)
        if int(result.flags[i]) & FLAG_BITS["unknown_min_segment"]
    ]
    if unknown:
        raise Problem(400, "Unknown segment name", f"{len(unknown)} unknown name(s)", errors=unknown)
    local_names = ruleset.get("local_names", {})
    results = []
    for i, entity in enumerate(body.entities):
        record = result.record(i)
        source = entity.attributes.get("source_system")
        mapped = str(result.source_segment[i]) if result.source_segment is not None else ""
        record["source_segment"] = mapped or None
        record["local_name"] = local_name(local_names, str(source), record["segment"]) if source else None
        results.append(ResultOut.model_validate(record))
    return PreviewResponse(
        ruleset_hash=result.ruleset_hash, engine_version=result.engine_version, results=results
    )


def _include_stateful_routes() -> None:
    from . import api_manage, api_segments

    router.include_router(api_segments.router)
    router.include_router(api_manage.router)


_include_stateful_routes()
