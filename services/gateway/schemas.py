"""Request and response models of the gateway's own routes (public promise, portal, feeds, webhooks)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from services.runtime.auth import KNOWN_ROLES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromiseRequest(_Strict):
    idempotency_key: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    customer_id: str = Field(min_length=1, max_length=256)
    customer_source: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="source system of customer_id (e.g. SAP-EU); the allocator resolves it to the golden id",
    )
    sku: str = Field(min_length=1, max_length=256)
    site: str | None = Field(default=None, min_length=1, max_length=256)
    quantity: int = Field(ge=1, le=10**9, description="whole units (the allocator promises whole units)")
    requested_date: dt.date
    reserve: bool = True
    channel: str | None = Field(default=None, max_length=256)


class Confirmation(BaseModel):
    date: dt.date
    quantity: float


class PromiseAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    confirmations: list[Confirmation]
    unconfirmed: float
    segment: str | None = None
    tier: int | None = None
    explanation: Any = None
    promise_id: str | None = None
    degraded: bool = Field(
        description="true when answered from the last known ATP snapshot (nothing reserved)"
    )


class HistoryEntry(BaseModel):
    at: str
    kind: str
    old_segment: str | None
    new_segment: str | None
    reasons: list[str]
    summary: str = Field(description="the change in plain language")


class MySegment(BaseModel):
    customer_id: str
    segment: str
    tier: int
    valid_from: str | None
    reasons: list[str]
    masked_fields: list[str]


class Entitlements(BaseModel):
    customer_id: str
    segment: str
    tier: int
    service_level_type: str | None
    service_level_target: float | None
    otif_target: float | None
    promise_lead_time_days: int | None
    backorder_strategy: str | None
    delivery_window_days: int | None
    history: list[HistoryEntry]


class FeedItem(BaseModel):
    seq: int
    key: str
    op: Literal["upsert", "removed", "deleted"]
    at: str
    assignment: dict[str, Any]


class FeedPage(BaseModel):
    items: list[FeedItem]
    next_cursor: str


class WebhookRequest(_Strict):
    url: HttpUrl


class WebhookCreated(BaseModel):
    id: str
    url: str
    secret: str = Field(
        description=(
            "shown once: verify X-Segflow-Signature = sha256=hex(HMAC-SHA256(secret, "
            "X-Segflow-Timestamp + '.' + raw body)) and reject timestamps older than 5 minutes"
        )
    )
    created_at: str


class Webhook(BaseModel):
    id: str
    url: str
    active: bool
    created_at: str


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    feed_seq: int
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_error: str | None
    created_at: str
    delivered_at: str | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]


class WebhookList(BaseModel):
    items: list[Webhook]


class DevTokenRequest(_Strict):
    subject: str = Field(min_length=1, max_length=128)
    roles: list[Literal["admin", "planner", "approver", "finance", "customer", "partner", "service"]] = Field(
        min_length=1, max_length=len(KNOWN_ROLES)
    )
    customer_id: str | None = Field(default=None, min_length=1, max_length=256)
    partner_id: str | None = Field(default=None, min_length=1, max_length=64)
    ttl_s: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)


class DevToken(BaseModel):
    token: str
    subject: str
    roles: list[str]
