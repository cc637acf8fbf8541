"""The upstream client: retry schedule, retries that keep body and key, async-library detection, and the
webhook worker's idle back-off."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.gateway.settings import GatewaySettings
from services.gateway.upstream import UpstreamDown, Upstreams, backoff_s
from services.gateway.webhook_worker import IDLE_BACKOFF_CAP, idle_wait_s
from tests.unit.gateway.standin import StandInState


def test_backoff_doubles_from_50_ms_and_is_capped_at_one_second() -> None:
    expected, wait = [], 0.05
    for _ in range(8):
        expected.append(min(wait, 1.0))
        wait *= 2
    assert [backoff_s(i) for i in range(1, 9)] == pytest.approx(expected)


def test_idle_wait_doubles_per_empty_poll_up_to_the_cap() -> None:
    poll = 0.2
    factors = [1, 2, 4, 5, 5, 5]  # 2**(n-1) capped at IDLE_BACKOFF_CAP = 5
    assert IDLE_BACKOFF_CAP == 5
    assert [idle_wait_s(n, poll) for n in range(1, 7)] == pytest.approx([f * poll for f in factors])


async def test_httpcore_detects_asyncio_through_sniffio() -> None:
    """sniffio is a dependency: without it httpcore searched sys.path for it on every lock it created."""
    import sniffio
    from httpcore._synchronization import current_async_library

    assert sniffio.current_async_library() == current_async_library() == "asyncio"


def _upstreams(url: str, retries: int) -> Upstreams:
    settings = GatewaySettings(
        env="test",
        jwt_secret="u" * 40,
        allocator_url=url,
        classifier_url=url,
        policy_url=url,
        audit_url=url,
        gateway_upstream_retries=retries,
    )
    return Upstreams.open(settings)


async def test_persistent_5xx_raises_upstream_down_after_every_attempt(standin: Any) -> None:
    served, state = standin
    assert isinstance(state, StandInState)
    state.promise_failures = 10
    upstreams = _upstreams(served.url, retries=3)
    body = json.dumps({"idempotency_key": "k-9", "quantity": 1}).encode()
    try:
        with pytest.raises(UpstreamDown) as down:
            await upstreams.call(
                "allocator",
                "POST",
                "/v1/promise",
                authorization="Bearer t",
                content=body,
                idempotency_key="k-9",
            )
    finally:
        await upstreams.close()
    assert down.value.upstream == "allocator" and down.value.reason == "HTTP 503"
    attempts = [c for c in state.calls if c.path == "/v1/promise"]
    assert len(attempts) == 3
    for call in attempts:  # the same bytes, key and caller every time
        assert call.body == {"idempotency_key": "k-9", "quantity": 1}
        assert call.headers["idempotency-key"] == "k-9"
        assert call.headers["content-type"] == "application/json"
        assert call.headers["authorization"] == "Bearer t"


async def test_unreachable_upstream_names_the_transport_error() -> None:
    from tests.unit.gateway.standin import free_port

    upstreams = _upstreams(f"http://127.0.0.1:{free_port()}", retries=2)
    try:
        with pytest.raises(UpstreamDown) as down:
            await upstreams.call("policy", "GET", "/v1/kpis", authorization=None, params={"a": None})
    finally:
        await upstreams.close()
    assert down.value.upstream == "policy" and "ConnectError" in down.value.reason


async def test_opening_the_clients_silences_httpx_per_request_info_lines_only() -> None:
    import logging

    upstreams = _upstreams("http://127.0.0.1:9", retries=1)
    await upstreams.close()
    httpx_log = logging.getLogger("httpx")
    assert not httpx_log.isEnabledFor(logging.INFO)
    assert httpx_log.isEnabledFor(logging.WARNING)
