"""Promise latency and throughput at a fixed arrival rate (open loop) against a bare FastAPI endpoint.

The allocator (embedded SQLite, or PostgreSQL when SEGFLOW_TEST_DATABASE_URL is set) and a bare FastAPI
app returning a constant JSON are each served by uvicorn in a subprocess on 127.0.0.1. The client
schedules request i at ``t0 + i / rate`` whatever the completions (no coordinated omission) and measures
each latency from its scheduled start. Full: 500 req/s for 10 s; smoke: 30 requests at 50/s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench._common import percentiles, result, write

FULL = {"rate": 500, "seconds": 10.0}
SMOKE = {"rate": 50, "seconds": 0.6}
SECRET = "bench-secret-0123456789abcdef0123456789"
STOCK = 10**9
ROOT = Path(__file__).resolve().parents[1]


def _settings(data_dir: str) -> Any:
    from services.runtime.settings import Settings

    url = os.environ.get("SEGFLOW_TEST_DATABASE_URL")
    return Settings(env="test", jwt_secret=SECRET, data_dir=Path(data_dir), database_url=url, log_json=True,
                    log_level="WARNING")  # fmt: skip


def _serve(kind: str, data_dir: str, port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    if kind == "bare":
        app = FastAPI()

        @app.post("/v1/promise")
        async def constant() -> dict[str, Any]:
            return {"confirmations": [{"date": "2030-01-01", "quantity": 1.0}], "unconfirmed": 0.0}

        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        return
    from services.allocator import app as allocator_app

    host = allocator_app.build(_settings(data_dir))
    uvicorn.run(host.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _seed(data_dir: str) -> None:
    from services.allocator import app as allocator_app
    from services.allocator import store
    from services.runtime.bus.memory import MemoryBus

    host = allocator_app.build(_settings(data_dir), bus=MemoryBus())
    await host.start(consume=False)
    async with host.db.unit_of_work() as session:
        await store.set_position(session, "SKU", "S1", STOCK, time.time())
    await host.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            try:
                if (await client.get(f"{url}/docs")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start")


async def _open_loop(url: str, token: str, rate: int, seconds: float, prefix: str) -> dict[str, Any]:
    count = max(1, round(rate * seconds))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    latencies: list[float] = []
    confirmed = 0.0
    errors = 0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0,
                                 headers={"Authorization": f"Bearer {token}"}) as client:  # fmt: skip

        async def one(i: int, scheduled: float) -> None:
            nonlocal confirmed, errors
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = {"idempotency_key": f"{prefix}-{i}", "customer_id": "C", "sku": "SKU", "site": "S1",
                    "quantity": 1, "requested_date": today}  # fmt: skip
            response = await client.post("/v1/promise", json=body)
            latencies.append(time.perf_counter() - scheduled)
            if response.status_code != 200:
                errors += 1
            else:
                confirmed += float(response.json()["confirmations"][0]["quantity"])

        t0 = time.perf_counter() + 0.05
        tasks = [asyncio.create_task(one(i, t0 + i / rate)) for i in range(count)]
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return {"requests": count, "errors": errors, "confirmed_units": confirmed, "elapsed_s": elapsed,
            "throughput_rps": count / elapsed, **percentiles(latencies)}  # fmt: skip


async def _measure(kind: str, data_dir: str, rate: int, seconds: float) -> dict[str, Any]:
    from services.runtime.auth import issue_token

    port = _free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 - a short-lived benchmark server
        [sys.executable, "-m", "bench.allocator_promise", "--serve", kind, data_dir, str(port)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_ready(url)
        token = issue_token(_settings(data_dir), subject="bench", roles=["service"])
        await _open_loop(url, token, rate, min(seconds, 1.0), f"warm-{kind}")  # warm-up
        return await _open_loop(url, token, rate, seconds, f"run-{kind}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def run(smoke: bool = False) -> dict[str, Any]:
    load = SMOKE if smoke else FULL
    with tempfile.TemporaryDirectory() as data_dir:
        asyncio.run(_seed(data_dir))
        measured = asyncio.run(_measure("allocator", data_dir, int(load["rate"]), float(load["seconds"])))
        baseline = asyncio.run(_measure("bare", data_dir, int(load["rate"]), float(load["seconds"])))
    measured["checks"] = {
        "no_errors": measured["errors"] == 0,
        "every_request_confirmed": measured["confirmed_units"] == measured["requests"],
    }
    ratio = {
        "p50_vs_baseline": measured["p50_ms"] / baseline["p50_ms"],
        "p99_vs_baseline": measured["p99_ms"] / baseline["p99_ms"],
        "throughput_vs_baseline": measured["throughput_rps"] / baseline["throughput_rps"],
    }
    workload = {"rate_rps": load["rate"], "seconds": load["seconds"], "requests": measured["requests"],
                "database": "postgresql" if os.environ.get("SEGFLOW_TEST_DATABASE_URL") else "sqlite"}  # fmt: skip
    goal = "keep up with the arrival rate (throughput ratio ~1) with p99 in milliseconds"
    return result("allocator_promise", workload=workload, measured=measured, baseline=baseline, ratio=ratio,
                  goal=goal, smoke=smoke)  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        print(write(run()))
