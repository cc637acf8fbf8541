"""The stateless routes in a segflow app (problem+json handlers, bearer auth: any authenticated role)."""

from __future__ import annotations

import math

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scipy import stats

from services.policy.api import router
from services.runtime.auth import issue_token
from services.runtime.http import create_app
from services.runtime.settings import Settings

SETTINGS = Settings(env="test", jwt_secret="test-secret-0123456789abcdef0123456789")


def make_app() -> FastAPI:
    return create_app(service="policy", settings=SETTINGS, routers=[router])


@pytest.fixture(scope="module")
def client() -> TestClient:
    token = issue_token(SETTINGS, subject="c1", roles=["customer"], customer_id="C1")
    return TestClient(make_app(), headers={"Authorization": f"Bearer {token}"})


def item(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "SKU1@DC1",
        "demand_mean": 100,
        "demand_std": 20,
        "lead_time_mean": 2,
        "lead_time_std": 0.5,
        "service_level": {"type": "cycle", "target": 0.95},
    }
    base.update(overrides)
    return base


def fields(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["field"] for e in response.json()["errors"]]


def test_compute_cycle_fill_rate_and_periodic(client: TestClient) -> None:
    body = {
        "items": [
            item(),
            item(
                id="B",
                service_level={"type": "fill_rate", "target": 0.98},
                order_quantity=400,
                lead_time_std=0,
            ),
            item(id="C", review_period=1, lead_time_std=0),
            item(
                id="D",
                demand_mean=0.5,
                demand_std=1.5,
                lead_time_mean=4,
                lead_time_std=0,
                distribution="negative_binomial",
            ),
        ]
    }
    response = client.post("/v1/policy/compute", json=body)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["SKU1@DC1", "B", "C", "D"]
    sigma = math.sqrt(2 * 400 + 100**2 * 0.25)
    assert results[0]["sigma_lt"] == pytest.approx(sigma)
    assert results[0]["reorder_point"] == pytest.approx(200 + stats.norm.ppf(0.95) * sigma)
    assert results[0]["order_up_to"] is None and results[0]["method"] == "cycle_service_normal"
    assert results[1]["method"] == "fill_rate_normal"
    assert results[2]["order_up_to"] == pytest.approx(300 + stats.norm.ppf(0.95) * 20 * math.sqrt(3))
    assert results[3]["method"] == "cycle_service_negative_binomial"
    assert results[3]["reorder_point"] == int(results[3]["reorder_point"])


def test_percent_service_level_is_a_400_naming_the_field(client: TestClient) -> None:
    response = client.post(
        "/v1/policy/compute", json={"items": [item(), item(service_level={"type": "cycle", "target": 97.5})]}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert fields(response) == ["items.1.service_level.target"]


def test_fill_rate_without_order_quantity_names_it(client: TestClient) -> None:
    response = client.post(
        "/v1/policy/compute", json={"items": [item(service_level={"type": "fill_rate", "target": 0.98})]}
    )
    assert response.status_code == 400
    assert fields(response) == ["items.0.order_quantity"]


def sim_item(**overrides: object) -> dict[str, object]:
    big_s = 300 + stats.norm.ppf(0.95) * 20 * math.sqrt(3)
    base: dict[str, object] = {
        "id": "SKU1@DC1",
        "policy": {"type": "order_up_to", "order_up_to": big_s},
        "demand": {"distribution": "normal", "mean": 100, "std": 20},
        "lead_time": {"mean": 2},
        "service_level": {"type": "cycle", "target": 0.9},
    }
    base.update(overrides)
    return base


def test_simulate_returns_metrics_with_intervals_and_the_gate(client: TestClient) -> None:
    body = {
        "items": [
            sim_item(),
            sim_item(
                id="B",
                policy={"type": "rop_q", "reorder_point": 5, "order_quantity": 10},
                demand={"distribution": "bootstrap", "history": [0, 0, 3, 1, 0, 7]},
                service_level={"type": "fill_rate", "target": 0.99},
            ),
        ],
        "paths": 300,
        "periods": 52,
        "seed": 3,
        "warmup": 4,
    }
    response = client.post("/v1/policy/simulate", json=body)
    assert response.status_code == 200
    data = response.json()
    first = data["results"][0]
    assert (
        first["cycle_service_level"]["lower"]
        <= first["cycle_service_level"]["mean"]
        <= first["cycle_service_level"]["upper"]
    )
    assert first["gate"] == {
        "metric": "cycle",
        "target": 0.9,
        "lower": first["cycle_service_level"]["lower"],
        "met": True,
    }
    assert data["publish"] == all(r["gate"]["met"] for r in data["results"])
    again = client.post("/v1/policy/simulate", json=body).json()
    assert again == data  # seeded: reproducible


def test_simulate_caps_the_work(client: TestClient) -> None:
    body = {"items": [sim_item(id=str(i)) for i in range(10)], "paths": 100_000, "periods": 52}
    response = client.post("/v1/policy/simulate", json=body)
    assert response.status_code == 400 and fields(response) == ["paths"]


def test_simulate_names_missing_policy_fields(client: TestClient) -> None:
    response = client.post(
        "/v1/policy/simulate", json={"items": [sim_item(policy={"type": "rop_q", "reorder_point": 4})]}
    )
    assert response.status_code == 400 and fields(response) == ["items.0.policy.order_quantity"]
    response = client.post(
        "/v1/policy/simulate", json={"items": [sim_item(demand={"distribution": "bootstrap"})]}
    )
    assert response.status_code == 400 and fields(response) == ["items.0.demand.history"]
    response = client.post(
        "/v1/policy/simulate", json={"items": [sim_item(service_level={"type": "cycle", "target": 95})]}
    )
    assert response.status_code == 400 and fields(response) == ["items.0.service_level.target"]


def test_openapi_declares_the_400(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "400" in paths["/v1/policy/compute"]["post"]["responses"]
    assert "400" in paths["/v1/policy/simulate"]["post"]["responses"]
