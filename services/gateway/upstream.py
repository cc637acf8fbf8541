"""Pooled HTTP clients to the four upstream services and the one way the gateway calls them.

Every call forwards the caller's Authorization header; connect errors and 5xx answers are retried
(exponential backoff: wait_i = min(1 s, 0.05 s * 2**(i-1)) before retry i) with the SAME body and
Idempotency-Key, so a retried promise reserves once. Each call is a CLIENT span whose ``traceparent``
travels to the upstream, so one trace covers the gateway and the service behind it. An upstream that stays unreachable raises
``UpstreamDown``. The hot path allocates no retry machinery per call: a plain loop does the retries.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from services.gateway.settings import GatewaySettings

UPSTREAMS = ("classifier", "allocator", "policy", "audit")
BACKOFF_FIRST_S = 0.05
BACKOFF_CAP_S = 1.0
# an idle pooled connection is probed (a poll syscall) on every request: keep few idle ones around
MAX_CONNECTIONS = 100
MAX_KEEPALIVE = 16


def quiet_httpx_request_log() -> None:
    """httpx logs every request at INFO ("HTTP Request: POST ... 200"): one more formatted JSON line per
    proxied call on top of the gateway's own access line. Its warnings and errors still pass."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


def backoff_s(retry: int) -> float:
    """Wait before retry number ``retry`` (1-based): min(cap, first * 2**(retry - 1))."""
    return float(min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2 ** (retry - 1)))


class UpstreamDown(Exception):
    """The upstream could not be reached (or kept answering 5xx) after the retries."""

    def __init__(self, upstream: str, reason: str) -> None:
        self.upstream = upstream
        self.reason = reason
        super().__init__(f"{upstream} unavailable: {reason}")


@dataclass
class Upstreams:
    """One pooled ``httpx.AsyncClient`` per upstream, created on start and closed on stop."""

    settings: GatewaySettings
    clients: dict[str, httpx.AsyncClient]

    @classmethod
    def open(cls, settings: GatewaySettings) -> Upstreams:
        quiet_httpx_request_log()
        timeout = httpx.Timeout(
            settings.gateway_upstream_timeout_s, connect=settings.gateway_upstream_connect_timeout_s
        )
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE)
        urls = {
            "classifier": settings.classifier_url,
            "allocator": settings.allocator_url,
            "policy": settings.policy_url,
            "audit": settings.audit_url,
        }
        clients = {
            name: httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits)
            for name, url in urls.items()
        }
        for (
            client
        ) in clients.values():  # a CLIENT span per call; its traceparent continues the trace upstream
            HTTPXClientInstrumentor.instrument_client(client)
        return cls(settings, clients)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def call(
        self,
        upstream: str,
        method: str,
        path: str,
        *,
        authorization: str | None,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        idempotency_key: str | None = None,
        retries: int | None = None,
    ) -> httpx.Response:
        """The upstream's response (any status below 500); retries connect errors and 5xx.

        ``content`` is a body already encoded as JSON (sent as is); otherwise ``json_body`` is encoded."""
        client = self.clients[upstream]
        headers: dict[str, str] = {}
        if authorization:
            headers["Authorization"] = authorization
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if content is not None:
            headers["Content-Type"] = "application/json"
        clean = {k: v for k, v in params.items() if v is not None} if params else None
        attempts = max(1, retries if retries is not None else self.settings.gateway_upstream_retries)
        reason = "no attempt made"
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await asyncio.sleep(backoff_s(attempt - 1))
            try:
                if content is not None:
                    response = await client.request(
                        method, path, params=clean, content=content, headers=headers
                    )
                else:
                    response = await client.request(
                        method, path, params=clean, json=json_body, headers=headers
                    )
            except httpx.TransportError as error:
                reason = f"{type(error).__name__}: {error}"
                continue
            if response.status_code < 500:
                return response
            reason = f"HTTP {response.status_code}"
        raise UpstreamDown(upstream, reason)

    async def ping(self, upstream: str) -> None:
        """Readiness: the upstream answers GET /healthz with 200 within the connect timeout."""
        response = await self.clients[upstream].get("/healthz", timeout=2.0)
        if response.status_code != 200:
            raise RuntimeError(f"healthz answered {response.status_code}")
