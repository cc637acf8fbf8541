"""RBAC of every route family, field masking, object-level checks and four-eyes on overrides."""

from __future__ import annotations

from typing import Any

import pytest

from services.runtime.auth import FINANCIAL_FIELDS
from tests.unit.gateway.conftest import Gateway
from tests.unit.gateway.standin import StandInState

ROLES = ("planner", "approver", "finance", "customer", "partner", "service", "admin")
READ = {"planner", "approver", "finance", "admin"}
PLAN = {"planner", "admin"}
DECIDE = {"approver", "admin"}
AUDIT = {"planner", "finance", "admin"}  # the audit service's READERS
EXPORT = {"finance", "admin"}
PS = {"planner", "service", "admin"}  # the allocator's READERS
PF = {"planner", "finance", "admin"}

# (method, path, body, roles allowed): every route family the gateway proxies or serves itself
ROUTES: list[tuple[str, str, Any, set[str]]] = [
    ("GET", "/v1/segments", None, READ),
    ("GET", "/v1/segments/matrix", None, READ),
    ("GET", "/v1/segments/export.csv", None, READ),
    ("GET", "/v1/segments/customer/C1", None, READ),
    ("POST", "/v1/classify/preview", {}, PLAN),
    ("GET", "/v1/rulesets", None, READ),
    ("POST", "/v1/rulesets", {"rules": []}, PLAN),
    ("POST", "/v1/rulesets/validate", {}, PLAN),
    ("GET", "/v1/rulesets/v1", None, READ),
    ("POST", "/v1/rulesets/v1/impact", {}, PLAN),
    ("POST", "/v1/rulesets/v1/activate", None, DECIDE),
    ("POST", "/v1/runs", {}, PLAN),
    ("GET", "/v1/runs/latest", None, READ),
    ("GET", "/v1/runs/r1", None, READ),
    ("POST", "/v1/overrides", {"segment": "GOLD"}, PLAN),
    ("GET", "/v1/overrides", None, {"planner", "approver", "admin"}),
    ("POST", "/v1/overrides/ov-9/approve", {}, DECIDE),
    ("POST", "/v1/overrides/ov-9/reject", {}, DECIDE),
    ("GET", "/v1/policy/parameters", None, READ),
    ("POST", "/v1/policy/compute", {}, PLAN),
    ("POST", "/v1/policy/simulate", {}, PLAN),
    ("POST", "/v1/policy/proposals", {}, PLAN),
    ("GET", "/v1/policy/proposals/x1", None, PLAN),
    ("POST", "/v1/policy/proposals/x1/publish", None, DECIDE),
    ("GET", "/v1/policy/reconciliation", None, PF),
    ("GET", "/v1/kpis", None, READ),
    ("GET", "/v1/alerts", None, READ),
    ("GET", "/v1/atp?sku=S1&site=W1", None, PS),
    ("GET", "/v1/allocations", None, PS),
    ("POST", "/v1/backorders/runs", {}, PLAN),
    ("GET", "/v1/backorders/runs/b1", None, PLAN),
    ("GET", "/v1/audit/entries", None, AUDIT),
    ("GET", "/v1/audit/segments/customer/C1", None, AUDIT),
    ("GET", "/v1/audit/verify", None, AUDIT),
    ("GET", "/v1/audit/checkpoints/latest", None, AUDIT),
    ("GET", "/v1/audit/proofs/inclusion/3", None, AUDIT),
    ("GET", "/v1/audit/proofs/consistency?from=1&to=2", None, AUDIT),
    ("POST", "/v1/audit/erasures", {}, {"admin"}),
    ("GET", "/v1/audit/export", None, EXPORT),
    ("GET", "/v1/exports/segments.csv", None, PF),
    ("GET", "/v1/exports/kpis.csv", None, PF),
    (
        "POST",
        "/v1/promise",
        {
            "idempotency_key": "k1",
            "customer_id": "C1",
            "sku": "S1",
            "quantity": 1,
            "requested_date": "2024-03-01",
        },
        {"service", "admin"},
    ),
    ("GET", "/v1/me/segment", None, {"customer", "admin"}),
    ("GET", "/v1/partners/me/feed", None, {"partner", "admin"}),
    ("GET", "/v1/partners/me/webhooks/deliveries", None, {"partner", "admin"}),
]


def _ids(role: str) -> dict[str, str]:
    return {"customer_id": "C1"} if role == "customer" else {"partner_id": "dhl"} if role == "partner" else {}


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES]
)
async def test_every_role_against_every_route_family(
    gw: Gateway, method: str, path: str, body: Any, allowed: set[str]
) -> None:
    anonymous = await gw.client.request(method, path, json=body)
    assert anonymous.status_code == 401
    for role in ROLES:
        r = await gw.client.request(method, path, json=body, headers=gw.auth(f"u-{role}", role, **_ids(role)))
        if role in allowed:
            # admin passes every role check; /v1/me and /v1/partners/me need their id claim -> 403
            if role == "admin" and path.startswith(("/v1/me/", "/v1/partners/me/")):
                assert r.status_code == 403, (role, r.text)
            elif path == "/v1/me/segment":
                assert r.status_code == 404, (role, r.text)  # allowed, but C1 has no segment yet
            else:
                assert 200 <= r.status_code < 300, (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")


async def test_forwards_the_callers_authorization_header(gw: Gateway, standin: Any) -> None:
    state: StandInState = standin[1]
    headers = gw.auth("pia", "planner")
    assert (await gw.client.get("/v1/segments/matrix", headers=headers)).status_code == 200
    sent = [c for c in state.calls if c.path == "/v1/segments/matrix"][-1]
    assert sent.headers["authorization"] == headers["Authorization"]
    assert sent.query == {"dimension": "product"}


@pytest.mark.parametrize("role", ["planner", "approver"])
async def test_financials_masked_for_non_finance(gw: Gateway, role: str) -> None:
    r = await gw.client.get("/v1/segments", headers=gw.auth("u", role))
    body = r.json()
    item = body["items"][0]
    assert item["revenue"] is None and item["margin"] is None and item["measures"]["cost"] is None
    assert item["measures"]["lines"] == 4  # non-financial fields stay
    assert sorted(body["masked_fields"]) == ["items.0.margin", "items.0.measures.cost", "items.0.revenue"]


@pytest.mark.parametrize("role", ["finance", "admin"])
async def test_financials_visible_to_finance_and_admin(gw: Gateway, role: str) -> None:
    body = (await gw.client.get("/v1/segments", headers=gw.auth("u", role))).json()
    assert body["items"][0]["revenue"] == 1200.5 and body["items"][0]["measures"]["cost"] == 10.0
    assert body["masked_fields"] == []


def _financial_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items() if k in FINANCIAL_FIELDS and v is not None] + [
            x for v in value.values() for x in _financial_keys(v)
        ]
    if isinstance(value, list):
        return [x for v in value for x in _financial_keys(v)]
    return []


async def test_no_financial_value_reaches_a_planner_on_any_read(gw: Gateway) -> None:
    for path in ("/v1/segments", "/v1/segments/customer/C1", "/v1/allocations"):
        body = (await gw.client.get(path, headers=gw.auth("p", "planner"))).json()
        assert _financial_keys(body) == [], path
        assert body["masked_fields"], path


async def test_upstream_404_passes_through_as_problem(gw: Gateway) -> None:
    r = await gw.client.get("/v1/segments/customer/missing", headers=gw.auth("p", "planner"))
    assert r.status_code == 404
    assert r.json()["detail"] == "no such entity"


async def test_planner_cannot_approve(gw: Gateway, standin: Any) -> None:
    r = await gw.client.post("/v1/overrides/ov-1/approve", json={}, headers=gw.auth("bob", "planner"))
    assert r.status_code == 403
    assert standin[1].decided == []


async def test_requester_cannot_approve_or_reject_own_override(gw: Gateway, standin: Any) -> None:
    for decision in ("approve", "reject"):
        r = await gw.client.post(
            f"/v1/overrides/ov-1/{decision}", json={}, headers=gw.auth("alice", "approver")
        )
        assert r.status_code == 403
        assert r.json()["type"] == "urn:segflow:problem:four-eyes"
    assert standin[1].decided == []  # never forwarded


async def test_other_approver_can_approve(gw: Gateway, standin: Any) -> None:
    r = await gw.client.post("/v1/overrides/ov-1/approve", json={}, headers=gw.auth("carol", "approver"))
    assert r.status_code == 200
    assert standin[1].decided == [("ov-1", "approve")]


async def test_invalid_path_ids_are_400(gw: Gateway) -> None:
    r = await gw.client.get("/v1/segments/planet/C1", headers=gw.auth("p", "planner"))
    assert r.status_code == 400
    r = await gw.client.get("/v1/audit/proofs/inclusion/-1", headers=gw.auth("p", "finance"))
    assert r.status_code == 400


async def test_upstream_down_is_503_with_retry_after(make_gateway: Any) -> None:
    gw = await make_gateway()  # every upstream points at a closed port
    r = await gw.client.get("/v1/segments", headers=gw.auth("p", "planner"))
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert r.json()["upstream"] == "classifier"
