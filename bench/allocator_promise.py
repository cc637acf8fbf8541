"""Promise latency and throughput at a fixed arrival rate (open loop) against a bare FastAPI endpoint.

One uvicorn subprocess on 127.0.0.1 serves the allocator (embedded SQLite, or PostgreSQL when
SEGFLOW_TEST_DATABASE_URL is set; ``SKUS`` sku@sites seeded with ample stock) and, in the same app, a bare
endpoint returning a constant JSON (the baseline: same server, middleware and client, no work). The client
schedules request i at ``t0 + i / rate`` whatever the completions (no coordinated omission), spreads the
requests over the SKUs round-robin and measures each latency from its scheduled start. Full: 500 req/s
for 10 s (plus the allocator alone at a lower rate, to show where it saturates); smoke: 20 requests
with the server in the client's own event loop (no process start).
After the run the ATP of every SKU must show exactly the units its promises reserved.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench._common import percentiles, result, write

FULL = {"rate": 500, "seconds": 10.0, "lower_rate": 50}
SMOKE = {"rate": 50, "seconds": 0.4, "lower_rate": 0}
SKUS = 200
BENCH_URL_ENV = "SEGFLOW_BENCH_ALLOCATOR_URL"
CONNECTIONS = 64
SECRET = "bench-secret-0123456789abcdef0123456789"
STOCK = 10**9
ROOT = Path(__file__).resolve().parents[1]


def _settings(data_dir: str) -> Any:
    from services.runtime.settings import Settings

    url = os.environ.get(BENCH_URL_ENV)
    return Settings(env="test", jwt_secret=SECRET, data_dir=Path(data_dir), database_url=url, log_json=True,
                    log_level="WARNING")  # fmt: skip


def _server(data_dir: str, port: int) -> Any:
    """A uvicorn server of the allocator app plus the bare baseline route."""
    import uvicorn
    from fastapi import APIRouter

    from services.allocator import app as allocator_app

    host = allocator_app.build(_settings(data_dir))
    bare = APIRouter()

    @bare.post("/bare/promise")
    async def constant() -> dict[str, Any]:
        return {"confirmations": [{"date": "2030-01-01", "quantity": 1.0}], "unconfirmed": 0.0}

    host.routers.append(bare)
    config = uvicorn.Config(host.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    return uvicorn.Server(config)


def _serve(data_dir: str, port: int, skus: int) -> None:
    asyncio.run(_seed(data_dir, skus))
    _server(data_dir, port).run()


async def _seed(data_dir: str, skus: int) -> None:
    from services.allocator import app as allocator_app
    from services.allocator import store
    from services.runtime.bus.memory import MemoryBus

    host = allocator_app.build(_settings(data_dir), bus=MemoryBus())
    await host.start(consume=False)
    async with host.db.unit_of_work() as session:
        for i in range(skus):
            await store.set_position(session, f"SKU{i:04d}", "S1", STOCK, time.time())
    await host.stop()


class RawClient:
    """A minimal keep-alive HTTP/1.1 client over ``connections`` sockets (httpx costs the client more CPU
    per request than the server spends, which would make the client the thing measured). Waiting for a
    free connection counts in the latency, as it would for a real caller."""

    def __init__(self, port: int, token: str, connections: int) -> None:
        self.port, self.token, self.size = port, token, connections
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def __aenter__(self) -> RawClient:
        for _ in range(self.size):
            self._idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()

    async def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        reader, writer = await self._idle.get()
        try:
            head = (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.token}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
            writer.write(head.encode() + body)
            status_line, *header_lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            payload = await reader.readexactly(length)
        except BaseException:
            writer.close()
            self._idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
            raise
        self._idle.put_nowait((reader, writer))
        return int(status_line.split(" ")[1]), payload


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(1200):
            try:
                if (await client.get(f"{url}/docs")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start")


async def _open_loop(
    client: RawClient, path: str, rate: int, seconds: float, prefix: str, skus: int
) -> dict[str, Any]:
    count = max(1, round(rate * seconds))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    latencies: list[float] = []
    confirmed = 0.0
    errors = 0
    per_sku: dict[str, float] = {}

    async def one(i: int, scheduled: float) -> None:
        nonlocal confirmed, errors
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sku, quantity = f"SKU{i % skus:04d}", 1 + i % 3
        body = {"idempotency_key": f"{prefix}-{i}", "customer_id": "C", "sku": sku, "site": "S1",
                "quantity": quantity, "requested_date": today}  # fmt: skip
        status, payload = await client.request("POST", path, orjson.dumps(body))
        latencies.append(time.perf_counter() - scheduled)
        if status != 200:
            errors += 1
            return
        got = sum(float(c["quantity"]) for c in orjson.loads(payload)["confirmations"])
        confirmed += got if path == "/v1/promise" else quantity
        per_sku[sku] = per_sku.get(sku, 0.0) + got

    t0 = time.perf_counter() + 0.05
    tasks = [asyncio.create_task(one(i, t0 + i / rate)) for i in range(count)]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    requested = float(sum(1 + i % 3 for i in range(count)))
    return {"rate_rps": rate, "requests": count, "errors": errors, "requested_units": requested,
            "confirmed_units": confirmed, "elapsed_s": elapsed, "throughput_rps": count / elapsed,
            "per_sku": per_sku, **percentiles(latencies)}  # fmt: skip


async def _reserved_matches(client: RawClient, reserved: dict[str, float]) -> bool:
    """Every SKU's ATP shows exactly ``STOCK - units its promises reserved`` as promisable."""
    for sku, units in sorted(reserved.items()):
        atp = orjson.loads((await client.request("GET", f"/v1/atp?sku={sku}&site=S1"))[1])
        if abs(atp["promisable"] - (STOCK - units)) > 1e-6:
            return False
    return True


async def _measure(data_dir: str, load: dict[str, Any], skus: int, *, in_process: bool) -> dict[str, Any]:
    from services.runtime.auth import issue_token

    port = _free_port()
    if in_process:  # smoke: same event loop, no process start
        await _seed(data_dir, skus)
        in_loop = _server(data_dir, port)
        serving = asyncio.create_task(in_loop.serve())
    else:
        server = subprocess.Popen(  # noqa: ASYNC220 - a short-lived benchmark server
            [sys.executable, "-m", "bench.allocator_promise", "--serve", data_dir, str(port), str(skus)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    rate, seconds = int(load["rate"]), float(load["seconds"])
    token = issue_token(_settings(data_dir), subject="bench", roles=["service"])
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_ready(url)
        async with RawClient(port, token, CONNECTIONS) as client:
            warm = min(seconds, 0.5)
            await _open_loop(client, "/v1/promise", rate, warm, "warm", skus)
            await _open_loop(client, "/bare/promise", rate, warm, "warm-bare", skus)
            measured = await _open_loop(client, "/v1/promise", rate, seconds, "run", skus)
            baseline = await _open_loop(client, "/bare/promise", rate, seconds, "run-bare", skus)
            lower = None
            if load["lower_rate"]:
                lower = await _open_loop(client, "/v1/promise", int(load["lower_rate"]), seconds, "low", skus)
            reserved: dict[str, float] = {}
            for outcome in [measured, lower] if lower else [measured]:
                for sku, units in outcome.pop("per_sku").items():
                    reserved[sku] = reserved.get(sku, 0.0) + units
            baseline.pop("per_sku")
            # the warm-up promises reserved too: count them through their idempotent replays
            for prefix, path in (("warm", "/v1/promise"),):
                replay = await _open_loop(client, path, rate, warm, prefix, skus)
                for sku, units in replay.pop("per_sku").items():
                    reserved[sku] = reserved.get(sku, 0.0) + units
            consistent = await _reserved_matches(client, reserved)
        return {"measured": measured, "baseline": baseline, "lower": lower, "atp_consistent": consistent}
    finally:
        if in_process:
            in_loop.should_exit = True
            await serving
        else:
            server.terminate()
            server.wait(timeout=30)


@contextlib.contextmanager
def _database() -> Iterator[str]:
    """With SEGFLOW_TEST_DATABASE_URL: a fresh PostgreSQL database for this run (dropped afterwards),
    handed to the server process through SEGFLOW_BENCH_ALLOCATOR_URL; otherwise SQLite ("")."""
    base = os.environ.get("SEGFLOW_TEST_DATABASE_URL")
    if not base:
        yield ""
        return
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"segflow_bench_{uuid.uuid4().hex[:12]}"
    admin_dsn = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    os.environ[BENCH_URL_ENV] = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield name
    finally:
        os.environ.pop(BENCH_URL_ENV, None)
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _loop_factory() -> Any:
    """uvloop for the client when installed (as uvicorn uses it for the server), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(smoke: bool = False) -> dict[str, Any]:
    load = SMOKE if smoke else FULL
    skus = 10 if smoke else SKUS
    with (
        _database() as database,
        tempfile.TemporaryDirectory() as data_dir,
        asyncio.Runner(loop_factory=_loop_factory()) as runner,
    ):
        outcome = runner.run(_measure(data_dir, load, skus, in_process=smoke))
    measured, baseline, lower = outcome["measured"], outcome["baseline"], outcome["lower"]
    measured["checks"] = {
        "no_errors": measured["errors"] == 0,
        "every_request_confirmed": measured["confirmed_units"] == measured["requested_units"],
        "atp_shows_exactly_the_reserved_units": outcome["atp_consistent"],
    }
    if lower is not None:
        measured["at_lower_rate"] = lower
    ratio = {
        "p50_vs_baseline": measured["p50_ms"] / baseline["p50_ms"],
        "p99_vs_baseline": measured["p99_ms"] / baseline["p99_ms"],
        "throughput_vs_baseline": measured["throughput_rps"] / baseline["throughput_rps"],
        "throughput_vs_arrival_rate": measured["throughput_rps"] / load["rate"],
    }
    workload = {"rate_rps": load["rate"], "seconds": load["seconds"], "requests": measured["requests"],
                "skus": skus, "lower_rate_rps": load["lower_rate"] or None,
                "database": "postgresql" if database else "sqlite"}  # fmt: skip
    goal = "keep up with the arrival rate (throughput ratio ~1) with p99 in milliseconds"
    return result("allocator_promise", workload=workload, measured=measured, baseline=baseline, ratio=ratio,
                  goal=goal, smoke=smoke)  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        print(write(run()))
