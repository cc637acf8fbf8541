"""Schemathesis against the gateway's OpenAPI on a live uvicorn: no server errors, no undocumented status
codes, responses that match their declared content types and schemas.

The gateway (embedded, SQLite) and a stand-in upstream run in a background thread with their own event
loop; requests carry an admin token so every operation is reachable past its role check.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from services.gateway import app as gateway_app
from services.gateway.settings import GatewaySettings
from services.runtime.auth import issue_token
from services.runtime.bus.memory import MemoryBus
from tests.unit.gateway.standin import Served, StandInState, standin_app

SECRET = "fuzz-secret-0123456789abcdef0123456789"


class LiveGateway:
    """Runs the stand-in upstream and the gateway under uvicorn in a thread with its own loop."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ready = threading.Event()
        self.url = ""
        self.settings: GatewaySettings | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        upstream = await Served(standin_app(StandInState())).start()
        self.settings = GatewaySettings(
            data_dir=self.data_dir,
            mode="embedded",
            env="test",
            jwt_secret=SECRET,
            classifier_url=upstream.url,
            allocator_url=upstream.url,
            policy_url=upstream.url,
            audit_url=upstream.url,
            gateway_rate_per_s=1e6,
            gateway_rate_burst=1e6,
        )
        gateway = await Served(gateway_app.build(self.settings, bus=MemoryBus()).app).start()
        self.url = gateway.url
        self.ready.set()
        await self._stop.wait()
        await gateway.stop()
        await upstream.stop()

    def start(self) -> LiveGateway:
        self.thread.start()
        if not self.ready.wait(60):
            raise AssertionError("the live gateway did not start")
        return self

    def stop(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(60)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    server = LiveGateway(tmp_path_factory.mktemp("fuzz")).start()
    yield server
    server.stop()


def _openapi_document() -> dict:  # type: ignore[type-arg]
    """The gateway's OpenAPI document (building the app connects to nothing)."""
    settings = GatewaySettings(data_dir=Path("/nonexistent"), env="test", jwt_secret=SECRET)
    return gateway_app.build(settings, bus=MemoryBus()).app.openapi()


schema = schemathesis.openapi.from_dict(_openapi_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_gateway_api_fuzz(case: schemathesis.Case, live: LiveGateway) -> None:
    assert live.settings is not None
    token = issue_token(live.settings, subject="fuzzer", roles=["admin"])
    case.call_and_validate(base_url=live.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
