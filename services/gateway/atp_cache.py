"""The last known ATP per sku@site, kept for degraded promises when the allocator is down.

Saved from every GET /v1/atp answer that passes through the gateway and refreshed (at most every
``gateway_atp_refresh_s`` per sku@site, in the background) after every successful promise.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

from services.gateway import store
from services.runtime.host import ServiceHost
from services.runtime.logging import get_logger

_log = get_logger("segflow.gateway.atp")


def atp_key(sku: str, site: str | None) -> str:
    return f"{sku}@{site or ''}"


def parse_buckets(data: Any) -> list[tuple[str, float]]:
    """(ISO date, ATP) pairs from an allocator ATP answer ``{buckets: [{date, atp, ...}]}``; [] if none."""
    raw = data.get("buckets") if isinstance(data, dict) else None
    out: list[tuple[str, float]] = []
    for bucket in raw if isinstance(raw, list) else []:
        if not isinstance(bucket, dict):
            continue
        value = bucket.get("atp", bucket.get("available", bucket.get("quantity")))
        try:
            day = date.fromisoformat(str(bucket.get("date"))[:10])
            out.append((day.isoformat(), float(value)))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    return out


async def remember_atp(host: ServiceHost, sku: str, site: str | None, data: Any, *, source: str) -> None:
    buckets = parse_buckets(data)
    if not buckets:
        return
    async with host.db.unit_of_work() as session:
        await store.save_atp(session, atp_key(sku, site), buckets, source)


async def load_atp(
    host: ServiceHost, sku: str, site: str | None
) -> tuple[list[tuple[str, float]], str] | None:
    async with host.db.read() as session:
        return await store.load_atp(session, atp_key(sku, site))


def schedule_refresh(
    host: ServiceHost, sku: str, site: str | None, authorization: str | None, resolved_site: str | None = None
) -> None:
    """Fetch GET /v1/atp in the background unless this sku@site was refreshed recently.

    ``site`` is the site the caller asked for (None: the allocator's default site), under which the
    snapshot is kept; ``resolved_site`` the site the allocator answered with, which is queried."""
    query_site = resolved_site or site
    if query_site is None:  # the allocator's ATP needs a site; nothing to refresh
        return
    last: dict[str, float] = host.state.setdefault("atp_refreshed", {})
    key = atp_key(sku, site)
    now = time.monotonic()
    if now - last.get(key, -1e9) < host.settings.gateway_atp_refresh_s:  # type: ignore[attr-defined]
        return
    last[key] = now
    tasks: set[asyncio.Task[None]] = host.state.setdefault("atp_tasks", set())
    task = asyncio.create_task(_refresh(host, sku, site, authorization, query_site))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _refresh(
    host: ServiceHost, sku: str, site: str | None, authorization: str | None, query_site: str
) -> None:
    upstreams = host.state.get("upstreams")
    if upstreams is None:
        return
    try:
        params = {"sku": sku, "site": query_site}
        response = await upstreams.call(
            "allocator", "GET", "/v1/atp", authorization=authorization, params=params, retries=1
        )
        if response.status_code == 200:
            await remember_atp(host, sku, site, response.json(), source="refresh")
    except Exception as error:  # best effort: the snapshot simply stays older
        _log.info("atp.refresh_failed", sku=sku, site=site, error=str(error))
