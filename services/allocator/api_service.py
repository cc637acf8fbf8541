"""The allocator's stateful routes: promises (with reservations), ATP of the stored picture, quotas,
allocation runs and their decisions, backorder runs. Roles per DESIGN.md section 5."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request

from services.allocator import store_promises, store_runs
from services.allocator.allocations import run_allocation
from services.allocator.backorders import execute_run, start_run
from services.allocator.domain.atp import available_to_promise
from services.allocator.domain.buckets import bucket_date
from services.allocator.domain.promise import promisable_by_day
from services.allocator.picture import load_picture
from services.allocator.promise_views import epoch_to_datetime
from services.allocator.promising import Promising
from services.allocator.schemas_service import (
    AllocationRunIn,
    AllocationRunOut,
    AtpBucketState,
    AtpOut,
    BackorderRunIn,
    BackorderRunOut,
    BackorderRunStarted,
    DecisionList,
    PromiseOut,
    PromiseRequest,
    QuotaIn,
    QuotaList,
    QuotaOut,
)
from services.runtime.auth import AUTH_RESPONSES, Principal, require_roles
from services.runtime.problems import Problem, problem_responses

router = APIRouter(tags=["allocator"])
PROMISERS = require_roles("service", "planner", "admin")
READERS = require_roles("planner", "service", "admin")
PLANNERS = require_roles("planner", "admin")


def _promising(request: Request) -> Promising:
    promising: Promising = request.app.state.host.state["promising"]
    return promising


@router.post(
    "/v1/promise", response_model=PromiseOut, responses={**problem_responses(400, 409), **AUTH_RESPONSES}
)
async def make_promise(body: PromiseRequest, request: Request, _: Principal = Depends(PROMISERS)) -> Any:
    """Confirm the earliest dates whose cumulative ATP (within the segment quota) covers the quantity;
    with ``reserve`` the confirmations are held until confirmed, released or expired."""
    return await _promising(request).promise(body)


@router.get(
    "/v1/promise/{promise_id}",
    response_model=PromiseOut,
    responses={**problem_responses(404), **AUTH_RESPONSES},
)
async def get_promise(promise_id: str, request: Request, _: Principal = Depends(PROMISERS)) -> Any:
    """A promise as it stands now (backorder processing may have changed its confirmations)."""
    return await _promising(request).get(promise_id)


@router.post(
    "/v1/promise/{promise_id}/confirm",
    response_model=PromiseOut,
    responses={**problem_responses(404, 409), **AUTH_RESPONSES},
)
async def confirm_promise(promise_id: str, request: Request, _: Principal = Depends(PROMISERS)) -> Any:
    """Turn a held reservation into a confirmed one (it no longer expires)."""
    return await _promising(request).transition(promise_id, "confirm")


@router.post(
    "/v1/promise/{promise_id}/release",
    response_model=PromiseOut,
    responses={**problem_responses(404, 409), **AUTH_RESPONSES},
)
async def release_promise(promise_id: str, request: Request, _: Principal = Depends(PROMISERS)) -> Any:
    """Give the reserved stock back (emits promise.released)."""
    return await _promising(request).transition(promise_id, "release")


@router.get("/v1/atp", response_model=AtpOut, responses={**problem_responses(400), **AUTH_RESPONSES})
async def get_atp(
    request: Request,
    sku: str = Query(min_length=1, max_length=256),
    site: str = Query(min_length=1, max_length=256),
    _: Principal = Depends(READERS),
) -> AtpOut:
    """Daily ATP of a sku@site from today: receipts, open order lines and reservations in force, with
    backward consumption and cumulative ATP; ``promisable`` is what a new order could still get."""
    promising = _promising(request)
    now = promising.clock()
    async with promising.db.read() as session:
        picture = await load_picture(session, sku, site, promising.today(now), now)
    demand = picture.orders + picture.reservations
    atp = available_to_promise(picture.on_hand, picture.receipts, demand)
    buckets = [
        AtpBucketState(
            date=bucket_date(picture.today, day),
            receipts=float(picture.receipts[day]),
            orders=float(picture.orders[day]),
            reserved=float(picture.reservations[day]),
            atp=float(atp.atp[day]),
            cumulative_atp=float(atp.cumulative_atp[day]),
        )
        for day in range(picture.days)
    ]
    promisable = float(promisable_by_day(atp.atp)[-1])
    return AtpOut(sku=sku, site=site, on_hand=picture.on_hand, promisable=promisable, buckets=buckets)


@router.post(
    "/v1/quotas",
    status_code=201,
    response_model=QuotaOut,
    responses={**problem_responses(400), **AUTH_RESPONSES},
)
async def add_quota(body: QuotaIn, request: Request, _: Principal = Depends(PLANNERS)) -> QuotaOut:
    """Add a quota statement (maximum or minimum; number, percent in [0, 1] or ratio weight)."""
    if body.basis == "percent" and body.value > 1:
        raise Problem(400, "Invalid request", "a percent quota is a fraction in [0, 1]",
                      errors=[{"field": "value", "message": "percent must be in [0, 1]"}])  # fmt: skip
    quota = QuotaOut(quota_id=str(uuid.uuid4()), **body.model_dump())
    async with _promising(request).db.unit_of_work() as session:
        await store_promises.insert_quota(session, {**quota.model_dump(), "created_at": time.time()})
    return quota


@router.get("/v1/quotas", response_model=QuotaList, responses=AUTH_RESPONSES)
async def list_quotas(request: Request, _: Principal = Depends(READERS)) -> QuotaList:
    """Every quota statement, oldest first (a later one for the same scope, kind and period wins)."""
    async with _promising(request).db.read() as session:
        rows = await store_promises.all_quotas(session)
    fields = QuotaOut.model_fields
    return QuotaList(
        items=[QuotaOut(**{k: v for k, v in row._mapping.items() if k in fields}) for row in rows]
    )


@router.post(
    "/v1/allocations/runs",
    status_code=201,
    response_model=AllocationRunOut,
    responses={**problem_responses(400), **AUTH_RESPONSES},
)
async def start_allocation(body: AllocationRunIn, request: Request, _: Principal = Depends(PLANNERS)) -> Any:
    """Allocate each sku@site's free supply across its open order lines: ``priority_fair_share`` (strict
    tier priority, fair share in the short tier, segment quotas, tier caps with their distortion) or
    ``ranked_shares`` (segment shares in rank order, globally or per sku); decisions are stored and
    emitted as allocation.decided, with per sku@site tier and segment results."""
    return await run_allocation(_promising(request), body)


@router.get(
    "/v1/allocations", response_model=DecisionList, responses={**problem_responses(400), **AUTH_RESPONSES}
)
async def recent_allocations(
    request: Request,
    sku: str | None = Query(default=None, min_length=1, max_length=256),
    site: str | None = Query(default=None, min_length=1, max_length=256),
    limit: int = Query(default=100, ge=1, le=1000),
    _: Principal = Depends(READERS),
) -> DecisionList:
    """The most recent allocation decisions, newest first."""
    async with _promising(request).db.read() as session:
        rows = await store_runs.recent_decisions(session, sku, site, limit)
    items = [
        {
            **row._mapping,
            "explanation": orjson.loads(row.explanation),
            "decided_at": epoch_to_datetime(row.decided_at),
        }
        for row in rows
    ]
    return DecisionList.model_validate({"items": items})


@router.post(
    "/v1/backorders/runs",
    status_code=202,
    response_model=BackorderRunStarted,
    responses={**problem_responses(400), **AUTH_RESPONSES},
)
async def start_backorder_run(
    body: BackorderRunIn, request: Request, _: Principal = Depends(PLANNERS)
) -> BackorderRunStarted:
    """Re-confirm every reservation (of a sku and/or site) by its segment's strategy, in the background."""
    promising = _promising(request)
    run_id = await start_run(promising, body.sku, body.site)
    background: set[asyncio.Task[None]] = request.app.state.host.state["background"]
    task = asyncio.create_task(execute_run(promising, run_id, body.sku, body.site))
    background.add(task)
    task.add_done_callback(background.discard)
    return BackorderRunStarted(run_id=run_id)


@router.get(
    "/v1/backorders/runs/{run_id}",
    response_model=BackorderRunOut,
    responses={**problem_responses(404), **AUTH_RESPONSES},
)
async def get_backorder_run(
    run_id: str, request: Request, _: Principal = Depends(PLANNERS)
) -> BackorderRunOut:
    """A backorder run: status, how many sku@sites and promises it touched, and each change."""
    async with _promising(request).db.read() as session:
        row = await store_runs.backorder_run(session, run_id)
    if row is None:
        raise Problem(404, "Not Found", f"no backorder run {run_id}")
    created = epoch_to_datetime(row.created_at)
    assert created is not None
    return BackorderRunOut(
        run_id=row.run_id, status=row.status, sku=row.sku, site=row.site, trigger=row.trigger,
        created_at=created, finished_at=epoch_to_datetime(row.finished_at), stock_points=row.stock_points,
        changed=row.changed, changes=orjson.loads(row.changes), error=row.error,
    )  # fmt: skip
