"""The table-driven proxy: every row becomes a documented route, every row is covered by the RBAC test,
ids are encoded as one path segment, query aliases go upstream under their wire names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from services.gateway import app as gateway_app
from services.gateway.api_proxy import seg, upstream_path, upstream_query
from services.gateway.proxy_table import PROXY_ROUTES
from services.gateway.settings import GatewaySettings
from services.runtime.bus.memory import MemoryBus
from services.runtime.problems import Problem
from tests.unit.gateway.conftest import Gateway
from tests.unit.gateway.standin import StandInState
from tests.unit.gateway.test_rbac import ROUTES as RBAC_ROUTES

PROXY_STATUSES = {"200", "400", "401", "403", "404", "409", "502", "503"}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    settings = GatewaySettings(data_dir=Path("/nonexistent"), env="test", jwt_secret="t" * 40)
    return gateway_app.build(settings, bus=MemoryBus()).app.openapi()


def test_rows_are_unique_and_operation_ids_keep_the_function_names() -> None:
    keys = [(r.method, r.path) for r in PROXY_ROUTES]
    assert len(keys) == len(set(keys))
    assert len({r.name for r in PROXY_ROUTES}) == len(PROXY_ROUTES)


def test_every_row_is_documented_with_its_parameters_and_statuses(openapi: dict[str, Any]) -> None:
    for route in PROXY_ROUTES:
        operation = openapi["paths"][route.path][route.method.lower()]
        codes = set(operation["responses"])
        # the proxy's error codes are always declared; 200 or the row's created/accepted code too
        assert PROXY_STATUSES - {"200"} <= codes, route.name
        assert ("200" in codes) or str(route.status_code) in codes, route.name
        documented = {(p["name"], p["in"]) for p in operation.get("parameters", [])}
        expected = {(p.wire_name, p.where) for p in route.params}
        assert documented == expected, route.name
        for name in re.findall(r"{(\w+)}", route.path):
            assert (name, "path") in documented, route.name
        assert ("requestBody" in operation) == (route.body == "any"), route.name
        assert operation["operationId"].startswith(route.name + "_"), route.name


def test_every_row_is_covered_by_the_role_matrix_test() -> None:
    """Function-level checks are tested on every forwarded route (tests/unit/gateway/test_rbac.py)."""

    def template_matches(template: str, concrete: str) -> bool:
        pattern = "^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$"
        return re.match(pattern, concrete.split("?")[0]) is not None

    for route in PROXY_ROUTES:
        hits = [p for m, p, _, _ in RBAC_ROUTES if m == route.method and template_matches(route.path, p)]
        # a concrete path may match a broader template too (/v1/runs/latest vs /v1/runs/{run_id}): fine
        assert hits, f"{route.method} {route.path} is not in the RBAC matrix"


def test_upstream_path_encodes_each_id_as_one_segment() -> None:
    detail = next(r for r in PROXY_ROUTES if r.name == "segment_detail")
    path = upstream_path(detail, {"dimension": "customer", "entity_id": "A B?#%"})
    assert path == "/v1/segments/customer/A%20B%3F%23%25"
    inclusion = next(r for r in PROXY_ROUTES if r.name == "audit_inclusion")
    assert upstream_path(inclusion, {"seq": 7}) == "/v1/audit/proofs/inclusion/7"
    for traversal in (".", ".."):
        with pytest.raises(Problem) as refused:
            seg(traversal)
        assert refused.value.status == 400


def test_upstream_query_uses_wire_names_and_drops_absent_values() -> None:
    entries = next(r for r in PROXY_ROUTES if r.name == "audit_entries")
    values = {p.name: None for p in entries.params} | {"from_": "2024-01-01T00:00:00Z", "limit": 5}
    assert upstream_query(entries, values) == {"from": "2024-01-01T00:00:00Z", "limit": 5}


async def test_dot_dot_id_is_refused_without_forwarding(gw: Gateway, standin: Any) -> None:
    state: StandInState = standin[1]
    before = len(state.calls)
    r = await gw.client.get("/v1/rulesets/%2E%2E", headers=gw.auth("p", "planner"))
    assert r.status_code in (400, 404)  # never forwarded as a traversal
    assert all(not c.path.endswith("/..") for c in state.calls[before:])


async def test_aliased_query_reaches_upstream_under_its_wire_name(gw: Gateway, standin: Any) -> None:
    state: StandInState = standin[1]
    r = await gw.client.get("/v1/audit/proofs/consistency?from=2&to=5", headers=gw.auth("f", "finance"))
    assert r.status_code == 200, r.text
    sent = [c for c in state.calls if c.path == "/v1/audit/proofs/consistency"][-1]
    assert sent.query == {"from": "2", "to": "5"}


async def test_decisions_send_an_empty_object_and_previews_the_callers_body(
    gw: Gateway, standin: Any
) -> None:
    state: StandInState = standin[1]
    approver = gw.auth("carol", "approver")
    assert (await gw.client.post("/v1/rulesets/v7/activate", headers=approver)).status_code == 200
    assert [c.body for c in state.calls if c.path == "/v1/rulesets/v7/activate"][-1] == {}
    planner = gw.auth("pia", "planner")
    r = await gw.client.post("/v1/classify/preview", json={"rules": [1, 2]}, headers=planner)
    assert r.status_code == 200, r.text
    assert [c.body for c in state.calls if c.path == "/v1/classify/preview"][-1] == {"rules": [1, 2]}
