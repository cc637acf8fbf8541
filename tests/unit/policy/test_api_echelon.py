"""POST /v1/policy/echelon against an independent brute-force placement and the capacity rule."""

from __future__ import annotations

import itertools
import math

import httpx
import pytest
from fastapi import FastAPI
from scipy.stats import norm

from services.policy.api_echelon import router
from services.runtime.auth import issue_token
from services.runtime.http import create_app
from services.runtime.settings import Settings

SETTINGS = Settings()


@pytest.fixture
def app() -> FastAPI:
    return create_app(service="policy", settings=SETTINGS, routers=[router])


async def post(app: FastAPI, body: dict) -> httpx.Response:  # type: ignore[type-arg]
    token = issue_token(SETTINGS, subject="p", roles=["planner"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.post("/v1/policy/echelon", json=body, headers={"Authorization": f"Bearer {token}"})


def brute_force_serial(T: list[int], h: list[float], sigma: list[float], z: float) -> float:
    """Every integer outbound service time of the upstream stage; the customer-facing stage quotes 0."""
    best = math.inf
    for s0 in range(0, T[0] + 1):
        tau0, tau1 = T[0] - s0, s0 + T[1]
        best = min(best, h[0] * z * sigma[0] * math.sqrt(tau0) + h[1] * z * sigma[1] * math.sqrt(tau1))
    return best


async def test_serial_placement_matches_brute_force(app: FastAPI) -> None:
    body = {
        "stages": [
            {"id": "DC", "processing_time": 3, "holding_cost": 1.0, "demand_std": 20, "service_level": 0.95},
            {
                "id": "STORE",
                "processing_time": 1,
                "holding_cost": 3.0,
                "demand_std": 20,
                "service_level": 0.95,
                "max_service_time": 0,
            },
        ],
        "edges": [{"supplier": "DC", "customer": "STORE"}],
    }
    res = await post(app, body)
    assert res.status_code == 200, res.text
    data = res.json()
    z = float(norm.ppf(0.95))
    assert data["total_cost"] == pytest.approx(brute_force_serial([3, 1], [1.0, 3.0], [20, 20], z))
    store = next(s for s in data["stages"] if s["id"] == "STORE")
    assert store["outbound_service"] == 0
    # the expensive store stage holds the buffer only over its own net replenishment time
    assert store["safety_stock"] == pytest.approx(z * 20 * math.sqrt(store["net_replenishment"]))


async def test_capacity_cuts_lowest_priority_first_and_reports_shortfall(app: FastAPI) -> None:
    stages = [
        {
            "id": f"S{i}",
            "processing_time": 4,
            "holding_cost": 1.0,
            "demand_std": 10,
            "max_service_time": 0,
            "priority": p,
        }
        for i, p in enumerate([3, 1])
    ] + [{"id": "DC", "processing_time": 0, "holding_cost": 1.0, "demand_std": 0}]
    edges = [{"supplier": "DC", "customer": "S0"}, {"supplier": "DC", "customer": "S1"}]
    free = (await post(app, {"stages": stages, "edges": edges})).json()
    wanted = {s["id"]: s["safety_stock"] for s in free["stages"]}
    capacity = wanted["S0"] + 0.25 * wanted["S1"]
    cut = (await post(app, {"stages": stages, "edges": edges, "capacity": capacity})).json()
    kept = {s["id"]: s for s in cut["stages"]}
    assert cut["capacity_binding"] is True
    assert kept["S0"]["kept"] == pytest.approx(wanted["S0"])  # high priority untouched
    assert kept["S1"]["kept"] == pytest.approx(0.25 * wanted["S1"])
    assert kept["S1"]["shortfall"] == pytest.approx(0.75 * wanted["S1"])
    assert cut["space_used"] == pytest.approx(capacity)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"service_level": 97.5}, "stages.0.service_level"),
        ({"processing_time": -1}, "stages.0.processing_time"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(app: FastAPI, patch: dict, field: str) -> None:  # type: ignore[type-arg]
    stage = {"id": "A", "processing_time": 1, "holding_cost": 1, "demand_std": 1, **patch}
    res = await post(app, {"stages": [stage]})
    assert res.status_code == 400
    assert res.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"] == field for e in res.json()["errors"]), res.json()


async def test_edges_must_name_stages_and_form_a_tree(app: FastAPI) -> None:
    stages = [{"id": x, "processing_time": 1, "holding_cost": 1, "demand_std": 1} for x in "ABC"]
    res = await post(app, {"stages": stages, "edges": [{"supplier": "A", "customer": "Z"}]})
    assert res.status_code == 400 and res.json()["errors"][0]["field"] == "edges.0"
    res = await post(app, {"stages": stages, "edges": [{"supplier": "A", "customer": "B"}]})
    assert res.status_code == 400 and res.json()["errors"][0]["field"] == "edges"


def test_brute_force_reference_enumerates_all_service_times() -> None:
    # sanity of the reference itself: with equal holding costs, pooling at the DC never costs more
    z = 1.0
    assert brute_force_serial([2, 2], [1, 1], [1, 1], z) == pytest.approx(
        min(math.sqrt(2 - s) + math.sqrt(s + 2) for s in itertools.islice(range(3), 3))
    )
