"""Pooled HTTP clients to the four upstream services and the one way the gateway calls them.

Every call forwards the caller's Authorization header; connect errors and 5xx answers are retried
(tenacity, exponential backoff) with the SAME body and Idempotency-Key, so a retried promise reserves
once. An upstream that stays unreachable raises ``UpstreamDown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from services.gateway.settings import GatewaySettings

UPSTREAMS = ("classifier", "allocator", "policy", "audit")


class UpstreamDown(Exception):
    """The upstream could not be reached (or kept answering 5xx) after the retries."""

    def __init__(self, upstream: str, reason: str) -> None:
        self.upstream = upstream
        self.reason = reason
        super().__init__(f"{upstream} unavailable: {reason}")


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


@dataclass
class Upstreams:
    """One pooled ``httpx.AsyncClient`` per upstream, created on start and closed on stop."""

    settings: GatewaySettings
    clients: dict[str, httpx.AsyncClient]

    @classmethod
    def open(cls, settings: GatewaySettings) -> Upstreams:
        timeout = httpx.Timeout(
            settings.gateway_upstream_timeout_s, connect=settings.gateway_upstream_connect_timeout_s
        )
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
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
        idempotency_key: str | None = None,
        retries: int | None = None,
    ) -> httpx.Response:
        """The upstream's response (any status below 500); retries connect errors and 5xx."""
        client = self.clients[upstream]
        headers: dict[str, str] = {}
        if authorization:
            headers["Authorization"] = authorization
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        attempts = max(1, retries if retries is not None else self.settings.gateway_upstream_retries)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            retry=retry_if_exception_type((httpx.TransportError, _RetryableStatus)),
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await client.request(
                        method, path, params=clean, json=json_body, headers=headers
                    )
                    if response.status_code >= 500:
                        raise _RetryableStatus(response)
                    return response
        except RetryError as error:
            last = error.last_attempt.exception()
            if isinstance(last, _RetryableStatus):
                raise UpstreamDown(upstream, f"HTTP {last.response.status_code}") from None
            raise UpstreamDown(upstream, f"{type(last).__name__}: {last}") from None
        raise UpstreamDown(upstream, "no attempt made")  # pragma: no cover

    async def ping(self, upstream: str) -> None:
        """Readiness: the upstream answers GET /healthz with 200 within the connect timeout."""
        response = await self.clients[upstream].get("/healthz", timeout=2.0)
        if response.status_code != 200:
            raise RuntimeError(f"healthz answered {response.status_code}")
