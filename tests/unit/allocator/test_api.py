"""The stateless preview routes, mounted in a small FastAPI app with segflow's problem+json handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError

from services.allocator.api import router
from services.runtime.auth import Authenticator, issue_token
from services.runtime.problems import PROBLEM_MEDIA_TYPE, Problem, validation_problem
from services.runtime.settings import Settings

SETTINGS = Settings(env="test", jwt_secret="test-secret-0123456789abcdef0123456789")


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.authenticator = Authenticator(SETTINGS)

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return exc.to_response(instance=request.url.path)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_problem(exc.errors()).to_response(instance=request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.include_router(router)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    token = issue_token(SETTINGS, subject="portal", roles=["customer"], customer_id="C1")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://allocator", headers=headers) as http:
        yield http


def problem_fields(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    return [error["field"] for error in response.json()["errors"]]


async def test_atp_preview_worked_example(client: httpx.AsyncClient) -> None:
    days = ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04", "2026-12-05"]
    receipts, orders = [0, 5, 0, 20, 0], [4, 2, 5, 5, 10]
    body = {
        "on_hand": 10,
        "buckets": [
            {"date": d, "receipts": r, "orders": o} for d, r, o in zip(days, receipts, orders, strict=True)
        ],
    }
    response = await client.post("/v1/atp/preview", json=body)
    assert response.status_code == 200, response.text
    buckets = response.json()["buckets"]
    assert [b["date"] for b in buckets] == days
    assert [b["atp"] for b in buckets] == [4, 0, 0, 5, 0]
    assert [b["cumulative_atp"] for b in buckets] == [4, 4, 4, 9, 9]


async def test_atp_preview_rejects_dates_out_of_order_and_negatives(client: httpx.AsyncClient) -> None:
    body = {"on_hand": 1, "buckets": [{"date": "2026-12-02"}, {"date": "2026-12-01"}]}
    assert problem_fields(await client.post("/v1/atp/preview", json=body)) == ["buckets.1.date"]
    body = {"on_hand": 1, "buckets": [{"date": "2026-12-01"}, {"date": "2026-12-01"}]}
    assert problem_fields(await client.post("/v1/atp/preview", json=body)) == ["buckets.1.date"]
    body = {"on_hand": 1, "buckets": [{"date": "2026-12-01", "orders": -3}]}
    assert problem_fields(await client.post("/v1/atp/preview", json=body)) == ["buckets.0.orders"]
    body = {"on_hand": -1, "buckets": [{"date": "2026-12-01"}]}
    assert problem_fields(await client.post("/v1/atp/preview", json=body)) == ["on_hand"]


LINES = [
    {"id": "big", "tier": 1, "quantity": 20, "due": "2026-12-01"},
    {"id": "c", "tier": 2, "quantity": 5, "due": "2026-12-03"},
    {"id": "a", "tier": 2, "quantity": 5, "due": "2026-12-01"},
    {"id": "b", "tier": 2, "quantity": 5, "due": "2026-12-02"},
    {"id": "late", "tier": 3, "quantity": 9, "due": "2026-11-30"},
]


async def test_allocate_preview_priority_fair_share(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/allocate/preview", json={"supply": 30, "mode": "priority_fair_share", "lines": LINES}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    got = {a["id"]: a for a in body["allocations"]}
    assert {k: v["allocated"] for k, v in got.items()} == {"big": 20, "a": 4, "b": 3, "c": 3, "late": 0}
    assert got["a"]["explanation"]["limited_by"] == "supply" and got["a"]["explanation"]["tier"] == 2
    assert got["big"]["explanation"]["limited_by"] == "request"
    assert body["allocated"] == 30 and body["unallocated"] == 0 and body["segments"] is None


async def test_allocate_preview_modes_and_caps(client: httpx.AsyncClient) -> None:
    body = {"supply": 30, "mode": "priority_fair_share", "within_tier": "fifo", "lines": LINES}
    fifo = (await client.post("/v1/allocate/preview", json=body)).json()
    got = {a["id"]: a["allocated"] for a in fifo["allocations"]}
    assert got == {"big": 20, "a": 5, "b": 5, "c": 0, "late": 0}
    body = {"supply": 30, "mode": "priority_fair_share", "lines": LINES, "tier_caps": {"1": 0.5}}
    response = (await client.post("/v1/allocate/preview", json=body)).json()
    got = {a["id"]: a for a in response["allocations"]}
    assert got["big"]["allocated"] == 15 and got["big"]["explanation"]["limited_by"] == "cap"
    assert {t["tier"]: t["distortion"] for t in response["tiers"]} == {1: -5, 2: 5, 3: 0}


async def test_allocate_preview_ranked_shares(client: httpx.AsyncClient) -> None:
    segments = [
        {"segment": "GOLD", "rank": 1, "share": 0.5, "demand": 30},
        {"segment": "SILVER", "rank": 2, "share": 0.3},
        {"segment": "BRONZE", "rank": 3, "share": 0.2, "minimum": 25},
    ]
    response = await client.post(
        "/v1/allocate/preview", json={"supply": 100, "mode": "ranked_shares", "segments": segments}
    )
    assert response.status_code == 200, response.text
    got = {s["segment"]: s for s in response.json()["segments"]}
    assert {k: v["allocated"] for k, v in got.items()} == {"GOLD": 30, "SILVER": 50, "BRONZE": 20}
    assert got["SILVER"]["explanation"]["carried_in"] == 20
    assert got["BRONZE"]["explanation"]["limited_by"] == "supply"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"supply": -1, "mode": "priority_fair_share", "lines": LINES}, ["supply"]),
        (
            {"supply": 5, "mode": "priority_fair_share", "lines": [{**LINES[0], "quantity": -2}]},
            ["lines.0.quantity"],
        ),
        ({"supply": 5, "mode": "priority_fair_share", "lines": [LINES[0], LINES[0]]}, ["lines.1.id"]),
        ({"supply": 5, "mode": "priority_fair_share"}, ["lines"]),
        ({"supply": 5, "mode": "ranked_shares"}, ["segments"]),
        (
            {
                "supply": 5,
                "mode": "ranked_shares",
                "segments": [
                    {"segment": "A", "rank": 1, "share": 0.7},
                    {"segment": "B", "rank": 2, "share": 0.4},
                ],
            },
            ["segments"],
        ),
        (
            {"supply": 5, "mode": "priority_fair_share", "lines": LINES, "tier_caps": {"1": 2}},
            ["tier_caps.1"],
        ),
        ({"supply": 5, "mode": "best_effort", "lines": LINES}, ["mode"]),
    ],
)
async def test_allocate_preview_rejections_name_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], fields: list[str]
) -> None:
    assert problem_fields(await client.post("/v1/allocate/preview", json=body)) == fields


def test_openapi_declares_the_problem_response() -> None:
    schema = make_app().openapi()
    for path in ("/v1/atp/preview", "/v1/allocate/preview"):
        assert "400" in schema["paths"][path]["post"]["responses"]


async def test_previews_need_a_bearer_token() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://allocator") as http:
        body = {"on_hand": 1, "buckets": [{"date": "2026-12-01"}]}
        assert (await http.post("/v1/atp/preview", json=body)).status_code == 401
