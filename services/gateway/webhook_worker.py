"""The webhook delivery worker: posts due deliveries, signed, and applies retry / dead-letter rules.

Headers of each POST: ``X-Segflow-Timestamp`` (unix seconds of this attempt), ``X-Segflow-Signature:
sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`` and ``X-Segflow-Delivery`` (delivery id); see
services/gateway/domain/webhooks.py for the receiver's check (``verify_delivery``). A 2xx answer delivers;
anything else (or no answer) counts as a failed attempt: retried after backoff_s(attempts), dead after
``gateway_webhook_max_attempts`` attempts (listed, replayable).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from services.gateway import store
from services.gateway.domain.webhooks import backoff_s, next_status, sign
from services.gateway.settings import GatewaySettings
from services.runtime.db import Database
from services.runtime.logging import get_logger

_log = get_logger("segflow.gateway.webhooks")


async def deliver_due(
    db: Database, client: httpx.AsyncClient, settings: GatewaySettings, limit: int = 50
) -> int:
    """Attempt every delivery due now once; returns how many were attempted."""
    async with db.read() as session:
        due = await store.due_deliveries(session, time.time(), limit)
    if not due:
        return 0

    async def attempt(delivery: store.Delivery) -> None:
        body = delivery.body.encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Segflow-Signature": sign(delivery.secret, timestamp, body),
            "X-Segflow-Timestamp": str(timestamp),
            "X-Segflow-Delivery": delivery.id,
        }
        attempts = delivery.attempts + 1
        error: str | None = None
        try:
            response = await client.post(delivery.url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        async with db.unit_of_work() as session:
            if error is None:
                await store.mark_delivered(session, delivery.id, attempts)
            else:
                status = next_status(attempts, settings.gateway_webhook_max_attempts)
                delay = backoff_s(
                    attempts, settings.gateway_webhook_backoff_s, settings.gateway_webhook_backoff_cap_s
                )
                await store.mark_failed(session, delivery.id, attempts, status, time.time() + delay, error)
                _log.info(
                    "webhook.failed", delivery=delivery.id, attempts=attempts, status=status, error=error
                )

    await asyncio.gather(*(attempt(d) for d in due))
    return len(due)


async def run_worker(
    db: Database, client: httpx.AsyncClient, settings: GatewaySettings, stop: asyncio.Event
) -> None:
    """Deliver until ``stop`` is set. Idle polls back off: after n empty polls in a row the worker waits
    min(IDLE_BACKOFF_CAP, 2**(n-1)) * gateway_webhook_poll_s, and any delivery attempt resets it, so an
    idle gateway does not query its database five times a second."""
    idle_polls = 0
    while not stop.is_set():
        try:
            attempted = await deliver_due(db, client, settings)
        except Exception:  # the worker must survive a DB hiccup; it retries on the next poll
            _log.exception("webhook.worker_error")
            attempted = 0
        idle_polls = 0 if attempted else idle_polls + 1
        if attempted == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stop.wait(), timeout=idle_wait_s(idle_polls, settings.gateway_webhook_poll_s)
                )


IDLE_BACKOFF_CAP = 5


def idle_wait_s(idle_polls: int, poll_s: float) -> float:
    """Wait after ``idle_polls`` (>= 1) empty polls in a row: min(IDLE_BACKOFF_CAP, 2**(idle_polls-1)) * poll_s."""
    return float(min(IDLE_BACKOFF_CAP, 2 ** max(0, idle_polls - 1)) * poll_s)
