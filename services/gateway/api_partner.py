"""3PL feeds for partners without Kafka: the cursor feed and signed webhooks (partner id from the token).

Cursor: the opaque ``next_cursor`` is the last feed sequence returned; a partner only ever reads rows
stored under its own partner id, and only replays its own deliveries (another's id is a 404).
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Path, Query, Request

from services.gateway import store
from services.gateway.schemas import (
    DeliveryOut,
    DeliveryPage,
    FeedItem,
    FeedPage,
    WebhookCreated,
    WebhookList,
    WebhookRequest,
)
from services.runtime.auth import AUTH_RESPONSES, Principal, require_roles
from services.runtime.problems import Problem, problem_responses

router = APIRouter(tags=["partners"])
partner = require_roles("partner")
RESPONSES = {**AUTH_RESPONSES, **problem_responses(400)}


def _partner_id(principal: Principal) -> str:
    if not principal.partner_id:
        raise Problem(403, "Forbidden", "the token carries no partner_id")
    return principal.partner_id


def parse_cursor(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    if not cursor.isdigit() or len(cursor) > 18:
        raise Problem(
            400,
            "Bad Request",
            "invalid cursor",
            errors=[
                {
                    "field": "cursor",
                    "message": "not a feed cursor",
                    "type": "value_error",
                    "location": "query",
                }
            ],
        )
    return int(cursor)


@router.get(
    "/v1/partners/me/feed",
    summary="Your entities' segment assignments since a cursor",
    response_model=FeedPage,
    responses=RESPONSES,
)
async def partner_feed(
    request: Request,
    cursor: str | None = Query(None, max_length=32),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(partner),
) -> FeedPage:
    after = parse_cursor(cursor)
    async with request.app.state.host.db.read() as session:
        rows = await store.read_feed(session, _partner_id(principal), after, limit)
    next_cursor = str(rows[-1]["seq"]) if rows else str(after)
    return FeedPage(items=[FeedItem(**r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/v1/partners/me/webhooks",
    summary="Register a webhook (the secret is shown once)",
    status_code=201,
    response_model=WebhookCreated,
    responses=RESPONSES,
)
async def create_webhook(
    request: Request, body: WebhookRequest, principal: Principal = Depends(partner)
) -> WebhookCreated:
    secret = secrets.token_hex(32)
    async with request.app.state.host.db.unit_of_work() as session:
        row = await store.create_webhook(session, _partner_id(principal), str(body.url), secret)
    return WebhookCreated(id=row["id"], url=row["url"], secret=secret, created_at=row["created_at"])


@router.get(
    "/v1/partners/me/webhooks",
    summary="Your webhooks (without secrets)",
    response_model=WebhookList,
    responses=RESPONSES,
)
async def list_webhooks(request: Request, principal: Principal = Depends(partner)) -> WebhookList:
    async with request.app.state.host.db.read() as session:
        items = await store.list_webhooks(session, _partner_id(principal))
    return WebhookList.model_validate({"items": items})


@router.get(
    "/v1/partners/me/webhooks/deliveries",
    summary="Your webhook deliveries (status=dead: the dead letters)",
    response_model=DeliveryPage,
    responses=RESPONSES,
)
async def list_deliveries(
    request: Request,
    status: str | None = Query(None, pattern="^(pending|delivered|dead)$"),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(partner),
) -> DeliveryPage:
    async with request.app.state.host.db.read() as session:
        items = await store.list_deliveries(session, _partner_id(principal), status, limit)
    return DeliveryPage.model_validate({"items": items})


@router.post(
    "/v1/partners/me/webhooks/deliveries/{delivery_id}/replay",
    summary="Deliver again (resets attempts)",
    response_model=DeliveryOut,
    responses={**RESPONSES, **problem_responses(404)},
)
async def replay_delivery(
    request: Request,
    delivery_id: str = Path(min_length=1, max_length=64),
    principal: Principal = Depends(partner),
) -> DeliveryOut:
    async with request.app.state.host.db.unit_of_work() as session:
        row = await store.replay_delivery(session, _partner_id(principal), delivery_id)
    if row is None:
        raise Problem(404, "Not Found", f"no delivery {delivery_id} of yours")
    return DeliveryOut.model_validate(row)
