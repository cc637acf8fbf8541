"""Small stand-in upstream services (one FastAPI app answering the classifier, allocator, policy and
audit paths the gateway forwards to), served by a real uvicorn on 127.0.0.1, plus webhook receivers.

The stand-in records every request (path, headers, body) so tests can check what the gateway sent.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: Any


@dataclass
class StandInState:
    calls: list[Recorded] = field(default_factory=list)
    promise_failures: int = 0  # answer 503 this many times before succeeding
    atp: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"date": "2024-03-01", "atp": 5.0, "cumulative_atp": 5.0},
            {"date": "2024-03-04", "atp": 10.0, "cumulative_atp": 15.0},
        ]
    )
    overrides: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "id": "ov-1",
                "dimension": "customer",
                "entity_id": "C1",
                "segment": "GOLD",
                "reason": "strategic launch",
                "requested_by": "alice",
                "status": "pending",
            },
        ]
    )
    decided: list[tuple[str, str]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "dimension": "product",
                "entity_id": f"SKU-{i:03d}",
                "segment": f"{a}-{x}",
                "abc": a,
                "xyz": x,
                "tier": "ABC".index(a) + 1,
                "region": "EU",
                "revenue": 1000.0 - i,
                "margin": 200.0,
            }
            for i, (a, x) in enumerate([(a, x) for a in "ABC" for x in "XYZ"] * 3)
        ]
    )

    def paths(self, prefix: str = "") -> list[str]:
        return [c.path for c in self.calls if c.path.startswith(prefix)]


def standin_app(state: StandInState) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        raw = await request.body()
        body: Any = None
        if raw:
            import json

            body = json.loads(raw)
        state.calls.append(
            Recorded(
                request.method, request.url.path, dict(request.headers), dict(request.query_params), body
            )
        )
        return await call_next(request)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/promise")
    async def promise(request: Request) -> JSONResponse:
        body = await request.json()
        if state.promise_failures > 0:
            state.promise_failures -= 1
            return JSONResponse({"title": "unavailable"}, status_code=503)
        return JSONResponse(
            {
                "confirmations": [{"date": "2024-03-01", "quantity": min(body["quantity"], 5.0)}],
                "unconfirmed": max(body["quantity"] - 5.0, 0.0),
                "segment": "GOLD",
                "tier": 1,
                "explanation": {"limited_by": "atp"},
                "promise_id": f"p-{body['idempotency_key']}",
            }
        )

    @app.get("/v1/atp")
    async def atp(sku: str, site: str | None = None) -> dict[str, Any]:
        return {"sku": sku, "site": site, "buckets": state.atp}

    @app.get("/v1/segments")
    async def segments(request: Request) -> dict[str, Any]:
        if request.query_params.get("dimension") == "product":
            rows = state.products
            for name in ("abc", "xyz"):
                if request.query_params.get(name):
                    rows = [r for r in rows if r[name] == request.query_params[name]]
            return {"items": rows, "next_cursor": None}
        return {
            "items": [
                {
                    "dimension": "customer",
                    "entity_id": "C1",
                    "segment": "GOLD",
                    "abc": "A",
                    "xyz": "X",
                    "revenue": 1200.5,
                    "margin": 300.0,
                    "measures": {"cost": 10.0, "lines": 4},
                },
            ],
            "next_cursor": None,
        }

    @app.get("/v1/runs/latest")
    async def latest_run() -> dict[str, Any]:
        return {
            "run_id": "run-7",
            "status": "done",
            "migration_matrix": [
                {"from": "A-X", "to": "A-X", "count": 40},
                {"from": "A-X", "to": "B-X", "count": 3},
                {"from": "B-X", "to": "A-X", "count": 5},
                {"from": "B-X", "to": "B-X", "count": 61},
            ],
        }

    @app.get("/v1/segments/matrix")
    async def matrix(dimension: str = "product") -> dict[str, Any]:
        cells = [
            {"abc": a, "xyz": x, "count": (i + 1) * (j + 2)}
            for i, a in enumerate("ABC")
            for j, x in enumerate("XYZ")
        ]
        return {"dimension": dimension, "cells": cells}

    @app.get("/v1/segments/export.csv")
    async def export() -> PlainTextResponse:
        return PlainTextResponse("dimension,entity_id,segment\ncustomer,C1,GOLD\n", media_type="text/csv")

    @app.get("/v1/segments/{dimension}/{entity_id}")
    async def detail(dimension: str, entity_id: str) -> JSONResponse:
        if entity_id == "missing":
            return JSONResponse(
                {"title": "Not Found", "status": 404, "detail": "no such entity"}, status_code=404
            )
        return JSONResponse(
            {
                "dimension": dimension,
                "entity_id": entity_id,
                "segment": "A-X",
                "tier": 1,
                "abc": "A",
                "xyz": "X",
                "revenue": 99.0,
                "ruleset_version": "v3",
                "explanation": {
                    "rule": "abc=A and xyz=X -> A-X",
                    "cumulative_share_before": 0.42,
                    "cv": 0.31,
                },
                "history": [
                    {
                        "at": "2024-02-01T06:00:00+00:00",
                        "old": "B-X",
                        "new": "A-X",
                        "reasons": ["cumulative revenue share before it 0.42 < 0.80"],
                    }
                ],
            }
        )

    @app.get("/v1/overrides")
    async def overrides(status: str | None = None) -> dict[str, Any]:
        return {"items": [o for o in state.overrides if status is None or o["status"] == status]}

    @app.post("/v1/overrides/{override_id}/{decision}")
    async def decide(override_id: str, decision: str) -> JSONResponse:
        state.decided.append((override_id, decision))
        for o in state.overrides:
            if o["id"] == override_id:
                o["status"] = "approved" if decision == "approve" else "rejected"
        return JSONResponse({"id": override_id, "status": decision})

    @app.get("/v1/kpis")
    async def kpis() -> dict[str, Any]:
        return {
            "series": [
                {
                    "segment": "GOLD",
                    "kpi": "otif",
                    "target": 0.95,
                    "points": [{"window": "2024-W01", "value": 0.97}, {"window": "2024-W02", "value": 0.93}],
                },
                {
                    "segment": "SILVER",
                    "kpi": "otif",
                    "target": 0.9,
                    "points": [{"window": "2024-W01", "value": 0.91}],
                },
            ]
        }

    @app.get("/v1/alerts")
    async def alerts() -> dict[str, Any]:
        return {"items": [{"segment": "GOLD", "kpi": "otif", "status": "open", "raised_at": "2024-01-14"}]}

    @app.get("/v1/allocations")
    async def allocations() -> dict[str, Any]:
        return {
            "items": [{"sku": "SKU1", "site": "S1", "customer_id": "C1", "allocated": 5, "unit_cost": 2.5}]
        }

    # creation routes answer with the status the real services use
    created = {"v1/overrides": 201, "v1/policy/proposals": 202, "v1/runs": 202}

    @app.api_route("/{rest:path}", methods=["GET", "POST"])
    async def anything(rest: str, request: Request) -> JSONResponse:
        status = created.get(rest, 200) if request.method == "POST" else 200
        return JSONResponse({"path": "/" + rest, "ok": True}, status_code=status)

    return app


class Served:
    """A uvicorn server for ``app`` on a free 127.0.0.1 port; ``await start()`` / ``await stop()``."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Served:
        self.task = asyncio.create_task(self.server.serve())
        deadline = asyncio.get_running_loop().time() + 30
        while not self.server.started:
            if self.task.done():
                self.task.result()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("uvicorn did not start")
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


@dataclass
class Receiver:
    """A webhook receiver: records deliveries; fails with 500 for the first ``fail_first`` posts."""

    fail_first: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    attempts: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return JSONResponse({"error": "down"}, status_code=500)
            self.received.append((dict(request.headers), await request.body()))
            return JSONResponse({"ok": True})

        return app
