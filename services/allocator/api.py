"""The allocator's HTTP routes: the stateless previews (any authenticated caller) and, in
``api_service``, promises, ATP, quotas, allocation and backorder runs (role-restricted)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends

from services.allocator.domain.allocate import AllocationLine, allocate_lines
from services.allocator.domain.atp import available_to_promise
from services.allocator.domain.ranked import RankedSegment, ranked_shares
from services.allocator.schemas import (
    AllocatePreviewRequest,
    AllocatePreviewResponse,
    AtpBucketOut,
    AtpPreviewRequest,
    AtpPreviewResponse,
)
from services.runtime.auth import AUTH_RESPONSES, Principal, current_principal
from services.runtime.problems import Problem, problem_responses

router = APIRouter(tags=["allocator"])


def _reject(errors: list[dict[str, Any]]) -> None:
    if errors:
        fields = ", ".join(dict.fromkeys(error["field"] for error in errors))
        raise Problem(status=400, title="Invalid request", detail=f"invalid {fields}", errors=errors)


def atp_request_errors(request: AtpPreviewRequest) -> list[dict[str, Any]]:
    """Bucket dates must be strictly ascending (one bucket per date)."""
    return [
        {"field": f"buckets.{i}.date", "message": "dates must be strictly ascending"}
        for i in range(1, len(request.buckets))
        if request.buckets[i].date <= request.buckets[i - 1].date
    ]


def allocate_request_errors(request: AllocatePreviewRequest) -> list[dict[str, Any]]:
    """Lines for priority_fair_share, segments for ranked_shares; unique ids/segments; shares sum <= 1;
    tier caps in [0, 1]."""
    errors: list[dict[str, Any]] = []
    if request.mode == "priority_fair_share" and request.lines is None:
        errors.append({"field": "lines", "message": "priority_fair_share needs lines"})
    if request.mode == "ranked_shares" and request.segments is None:
        errors.append({"field": "segments", "message": "ranked_shares needs segments"})
    seen: set[str] = set()
    for i, line in enumerate(request.lines or []):
        if line.id in seen:
            errors.append({"field": f"lines.{i}.id", "message": f"duplicate id {line.id!r}"})
        seen.add(line.id)
    names: set[str] = set()
    for i, segment in enumerate(request.segments or []):
        if segment.segment in names:
            errors.append(
                {"field": f"segments.{i}.segment", "message": f"duplicate segment {segment.segment!r}"}
            )
        names.add(segment.segment)
    if request.segments and sum(s.share for s in request.segments) > 1 + 1e-9:
        errors.append({"field": "segments", "message": "shares sum to more than 1"})
    for tier, share in (request.tier_caps or {}).items():
        if not 0 <= share <= 1:
            errors.append({"field": f"tier_caps.{tier}", "message": "a cap is a share of supply in [0, 1]"})
    return errors


@router.post(
    "/v1/atp/preview",
    response_model=AtpPreviewResponse,
    responses={**problem_responses(400), **AUTH_RESPONSES},
)
def preview_atp(request: AtpPreviewRequest, _: Principal = Depends(current_principal)) -> AtpPreviewResponse:
    """ATP per bucket with backward consumption, and cumulative ATP, of the picture sent (nothing stored)."""
    _reject(atp_request_errors(request))
    picture = available_to_promise(
        request.on_hand, [b.receipts for b in request.buckets], [b.orders for b in request.buckets]
    )
    return AtpPreviewResponse(
        buckets=[
            AtpBucketOut(date=bucket.date, atp=float(atp), cumulative_atp=float(cumulative))
            for bucket, atp, cumulative in zip(
                request.buckets, picture.atp.tolist(), picture.cumulative_atp.tolist(), strict=True
            )
        ]
    )


@router.post(
    "/v1/allocate/preview",
    response_model=AllocatePreviewResponse,
    responses={**problem_responses(400), **AUTH_RESPONSES},
)
def preview_allocation(
    request: AllocatePreviewRequest, _: Principal = Depends(current_principal)
) -> AllocatePreviewResponse:
    """An allocation run of the lines (priority_fair_share) or segments (ranked_shares) sent, explained."""
    _reject(allocate_request_errors(request))
    if request.mode == "ranked_shares":
        specs = [
            RankedSegment(s.segment, s.rank, s.share, s.minimum, s.demand) for s in request.segments or []
        ]
        ranked = ranked_shares(request.supply, specs)
        return AllocatePreviewResponse.model_validate(
            {
                "mode": request.mode,
                "supply": request.supply,
                "allocated": ranked.allocated,
                "unallocated": ranked.unallocated,
                "segments": [asdict(s) for s in ranked.segments],
            }
        )
    lines = [AllocationLine(ln.id, ln.tier, ln.quantity, ln.due, ln.segment) for ln in request.lines or []]
    run = allocate_lines(lines, request.supply, request.within_tier, tier_caps=request.tier_caps)
    return AllocatePreviewResponse.model_validate(
        {
            "mode": request.mode,
            "supply": request.supply,
            "allocated": run.allocated,
            "unallocated": run.unallocated,
            "allocations": [asdict(line) for line in run.lines],
            "tiers": [asdict(tier) for tier in run.tiers],
        }
    )


from services.allocator import api_service  # noqa: E402  (registers the stateful routes on ``router``)

router.include_router(api_service.router)
