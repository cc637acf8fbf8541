"""POST /v1/classify/preview through the real app factory (problem+json errors included)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.classifier.api import router
from services.classifier.domain.engine import ENGINE_VERSION
from services.classifier.domain.ruleset import DEFAULT_RULESET, content_hash
from services.runtime.auth import issue_token
from services.runtime.http import create_app
from services.runtime.settings import Settings


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings()
    app = create_app(service="classifier", settings=settings, routers=[router])
    transport = httpx.ASGITransport(app=app)
    token = issue_token(settings, subject="planner-1", roles=["planner"])
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as http:
        yield http


def entity(entity_id: str, revenue: float | None, demand: list[float], **extra: Any) -> dict[str, Any]:
    measures = {} if revenue is None else {"revenue": revenue}
    return {"id": entity_id, "dimension": "product", "measures": measures, "demand": demand, **extra}


async def test_preview_with_the_default_rule_set(client: httpx.AsyncClient) -> None:
    body = {
        "entities": [
            entity("p1", 50, [4, 4, 4, 4]),
            entity("p2", 30, [4, 4, 4, 4]),
            entity("p3", 10, [1, 3, 1, 3]),
            entity("p4", 5, [0, 0, 0, 0]),
            entity("p5", 5, [0, 0, 1, 9], attributes={"strategic": True}),
        ]
    }
    response = await client.post("/v1/classify/preview", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["ruleset_hash"] == content_hash(DEFAULT_RULESET)
    assert payload["engine_version"] == ENGINE_VERSION
    results = {r["id"]: r for r in payload["results"]}
    assert [r["id"] for r in payload["results"]] == ["p1", "p2", "p3", "p4", "p5"]
    assert [results[i]["abc"] for i in results] == ["A", "A", "B", "B", "C"]
    assert [results[i]["cum_share_before"] for i in results] == [0.0, 0.5, 0.8, 0.9, 0.95]
    assert results["p3"]["cv"] == 0.5 and results["p3"]["xyz"] == "X" and results["p3"]["segment"] == "SILVER"
    assert (
        results["p4"]["xyz"] is None and results["p4"]["cv"] is None and "no_demand" in results["p4"]["flags"]
    )
    assert results["p5"]["segment"] == "PLATINUM" and results["p5"]["matched_rule"] == "strategic-account"
    assert results["p1"]["reasons"][0].startswith("revenue 50 ranks 1 of 5")
    assert results["p5"]["pattern"] == "lumpy" and results["p5"]["adi"] == 2.0


async def test_custom_rule_set_and_missing_revenue(client: httpx.AsyncClient) -> None:
    ruleset = copy.deepcopy(DEFAULT_RULESET)
    ruleset["abc"]["cutoffs"] = [0.5, 0.9]
    body = {
        "ruleset": ruleset,
        "entities": [entity("a", 60, [1]), entity("b", 40, [1]), entity("c", None, [1])],
    }
    payload = (await client.post("/v1/classify/preview", json=body)).json()
    assert payload["ruleset_hash"] == content_hash(ruleset)
    assert [r["abc"] for r in payload["results"]] == ["A", "B", "C"]
    assert payload["results"][2]["flags"] == ["zero_driver"] and payload["results"][2]["driver_value"] is None


async def test_invalid_rule_set_is_a_400_problem_listing_paths(client: httpx.AsyncClient) -> None:
    ruleset = copy.deepcopy(DEFAULT_RULESET)
    ruleset["rules"][2]["when"] = {"any": [{"field": "abc", "op": "gte", "value": "A"}]}
    ruleset["segments"]["GOLD"]["service_level"]["target"] = 97.5
    response = await client.post(
        "/v1/classify/preview", json={"ruleset": ruleset, "entities": [entity("a", 1, [1])]}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    fields = {e["field"]: e["message"] for e in problem["errors"]}
    assert "unknown operator 'gte'" in fields["ruleset.rules[2].when.any[0].op"]
    assert "ruleset.segments.GOLD.service_level.target" in fields
    assert problem["status"] == 400 and problem["title"] == "Invalid rule set"


async def test_ragged_demand_and_duplicate_ids_are_400(client: httpx.AsyncClient) -> None:
    ragged = {"entities": [entity("a", 1, [1, 2]), entity("b", 1, [1])]}
    response = await client.post("/v1/classify/preview", json=ragged)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "entities.1.demand"
    duplicate = {"entities": [entity("a", 1, [1]), entity("a", 2, [1])]}
    response = await client.post("/v1/classify/preview", json=duplicate)
    assert response.status_code == 400 and "duplicate entity id" in response.json()["detail"]


async def test_wrong_types_are_rejected_not_coerced(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/classify/preview", json={"entities": [entity("a", "12", [1])]})  # type: ignore[arg-type]
    assert response.status_code == 400
    assert any(e["field"].startswith("entities.0.measures.revenue") for e in response.json()["errors"])


async def test_empty_entities(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/classify/preview", json={"entities": []})
    assert response.status_code == 200 and response.json()["results"] == []


async def test_new_product_and_promo_fields(client: httpx.AsyncClient) -> None:
    body = {
        "period_index": 4,
        "entities": [
            entity("n", 10, [4, 4, 40, 4], launch_period=2, promo_buckets=[2]),
            entity("o", 90, [4, 4, 4, 4]),
        ],
    }
    results = (await client.post("/v1/classify/preview", json=body)).json()["results"]
    assert results[0]["segment"] == "NPI" and set(results[0]["flags"]) >= {"npi", "promo"}
    assert results[0]["cv"] == 0.0


async def test_openapi_declares_the_400_problem(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    responses = spec["paths"]["/v1/classify/preview"]["post"]["responses"]
    assert "400" in responses and "application/problem+json" in responses["400"]["content"]


async def test_preview_requires_a_bearer_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/classify/preview", json={"entities": []}, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
