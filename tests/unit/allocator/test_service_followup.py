# ruff: noqa: F811 - the harness fixture is imported from test_service
"""The allocator service (embedded): customers resolved by golden id like the classifier does, per-day
reservation totals kept in step with the promises, ranked-shares and capped allocation runs with their
distortion, and pruning of old decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from services.allocator import store, store_reserved, store_runs, store_supply
from services.allocator.picture import confirmations_of

from .events import assignment, customer_record, eventually, order_line, position
from .test_service import NOW, TODAY, Harness, day, harness, promise, token  # noqa: F401 - fixture

GLN = "4012345000009"  # valid GS1 check digit


async def test_order_and_promise_customers_resolve_to_the_golden_id(harness: Harness) -> None:
    # the classifier keys a customer with a GLN as gln:<13 digits>, whatever source its orders come from
    await harness.publish(assignment("ignored", "GOLD", 1, "win", entity_id=f"gln:{GLN}"))
    await harness.publish(
        position("SKU", "S1", 10), order_line("O-early", "K-7", "SKU", "S1", 4, TODAY, "SAP-EU")
    )
    await harness.settle()
    async with harness.host.db.read() as session:
        early = (await store_supply.open_lines(session, "SKU", "S1"))[0]
    assert early.customer_key == "src:SAP-EU:K-7" and early.tier is None  # no master data yet
    await harness.publish(customer_record("SAP-EU", "K-7", gln=GLN))
    await harness.settle()
    async with harness.host.db.read() as session:
        line = (await store_supply.open_lines(session, "SKU", "S1"))[0]
    assert line.customer_key == f"gln:{GLN}" and (line.segment, line.tier) == ("GOLD", 1)  # re-keyed
    await harness.publish(order_line("O-late", "K-7", "SKU", "S1", 1, TODAY, "SAP-EU"))
    await harness.settle()
    async with harness.host.db.read() as session:
        keys = {r.order_id: r.customer_key for r in await store_supply.open_lines(session, "SKU", "S1")}
    assert keys == {"O-early": f"gln:{GLN}", "O-late": f"gln:{GLN}"}
    by_source = (await promise(harness, "p1", 1, customer="K-7", customer_source="SAP-EU")).json()
    assert by_source["segment"] == "GOLD" and by_source["tier"] == 1
    body = {"idempotency_key": "p2", "customer_id": f"gln:{GLN}", "sku": "SKU", "site": "S1", "quantity": 1,
            "requested_date": day(0)}  # fmt: skip
    by_golden = (await harness.http.post("/v1/promise", json=body)).json()
    assert by_golden["segment"] == "GOLD"
    unknown = (await promise(harness, "p3", 1, customer="K-8", customer_source="SAP-EU")).json()
    assert unknown["segment"] is None and unknown["tier"] is None


async def test_master_data_that_cannot_be_keyed_is_dead_lettered(harness: Harness) -> None:
    from contracts import topics

    # a source name with a space has no source-scoped golden key (contracts.identity): the handler's
    # PoisonRecord sends it to the DLQ with the reason, and the crosswalk stays empty
    await harness.publish(customer_record("bad source", "K-9"))
    await harness.settle()
    async with harness.host.db.read() as session:
        assert await store_reserved.golden_of(session, "bad source", "K-9") is None
    dead = await harness.bus.read_all(topics.DLQ)
    assert len(dead) == 1
    reason = dict(dead[0].headers)[topics.DLQ_HEADER_ERROR].decode()
    assert "bad source" in reason and "source" in reason


async def _reserved_from_promises(harness: Harness) -> dict[tuple[str, str], float]:
    """Independent sum: the confirmations of every held (not overdue) or confirmed promise."""
    now = harness.clock[0]
    async with harness.host.db.read() as session:
        rows = (await session.execute(select(store.promises))).all()
    totals: dict[tuple[str, str], float] = {}
    for row in rows:
        alive = row.status == "confirmed" or (row.status == "held" and row.expires_at > now)
        if alive:
            for c in confirmations_of(row):
                key = (row.segment or "", c["date"])
                totals[key] = totals.get(key, 0.0) + float(c["quantity"])
    return {k: v for k, v in totals.items() if v > 1e-9}


async def _reserved_table(harness: Harness) -> dict[tuple[str, str], float]:
    async with harness.host.db.read() as session:
        rows = await store_reserved.reserved_rows(session, "SKU", "S1")
    return {(segment, day_.isoformat()): q for segment, day_, q in rows}


async def test_reserved_days_follow_promises_through_release_expiry_and_backorders(harness: Harness) -> None:
    await harness.publish(assignment("W", "GOLD", 1, "win"), assignment("L", "BRONZE", 3, "lose"))
    await harness.publish(position("SKU", "S1", 20))
    await harness.settle()
    a = (await promise(harness, "a", 5, customer="W")).json()
    b = (await promise(harness, "b", 6, customer="L")).json()
    c = (await promise(harness, "c", 3, customer="X")).json()
    quote = (await promise(harness, "q", 2, customer="X", reserve=False)).json()
    assert quote["status"] == "quote"
    assert await _reserved_table(harness) == await _reserved_from_promises(harness) == {
        ("GOLD", day(0)): 5.0, ("BRONZE", day(0)): 6.0, ("", day(0)): 3.0,
    }  # fmt: skip
    await harness.http.post(f"/v1/promise/{a['promise_id']}/confirm")
    await harness.http.post(f"/v1/promise/{c['promise_id']}/release")
    assert await _reserved_table(harness) == await _reserved_from_promises(harness)
    # supply drops to 8: BRONZE (lose) gives up what GOLD (win) needs -> 3 left for BRONZE
    await harness.publish(position("SKU", "S1", 8, minute=1))
    await harness.settle()

    async def cut() -> bool:
        return bool((await harness.http.get(f"/v1/promise/{b['promise_id']}")).json()["confirmed"] == 3)

    await eventually(cut)
    assert await _reserved_table(harness) == await _reserved_from_promises(harness) == {
        ("GOLD", day(0)): 5.0, ("BRONZE", day(0)): 3.0,
    }  # fmt: skip
    # the BRONZE hold expires (GOLD's is confirmed): its units leave the totals and ATP
    harness.clock[0] = NOW + 601
    atp = (await harness.http.get("/v1/atp", params={"sku": "SKU", "site": "S1"})).json()
    assert atp["promisable"] == 8 - 5  # overdue hold no longer counts, even before the worker runs
    await harness.host.state["worker"].run_once()
    assert await _reserved_table(harness) == await _reserved_from_promises(harness) == {("GOLD", day(0)): 5.0}


async def _lines(harness: Harness) -> None:
    await harness.publish(assignment("A", "GOLD", 1, "win"), assignment("B", "SILVER", 2, "fill"),
                          assignment("C", "BRONZE", 3, "lose"))  # fmt: skip
    await harness.publish(
        position("SKU", "S1", 10),
        order_line("O-A", "A", "SKU", "S1", 8, TODAY),
        order_line("O-B", "B", "SKU", "S1", 6, TODAY),
        order_line("O-C", "C", "SKU", "S1", 4, TODAY + dt.timedelta(days=1)),
    )
    await harness.settle()


async def test_ranked_shares_run_global_and_per_sku(harness: Harness) -> None:
    await _lines(harness)
    planner = token(harness.host.settings, "planner")
    body: dict[str, Any] = {
        "sku": "SKU", "mode": "ranked_shares",
        "segments": [{"segment": "GOLD", "rank": 1, "share": 0.5}, {"segment": "SILVER", "rank": 2, "share": 0.3},
                     {"segment": "BRONZE", "rank": 3, "share": 0.2}],
    }  # fmt: skip
    response = await harness.http.post("/v1/allocations/runs", json=body, headers=planner)
    assert response.status_code == 201, response.text
    run = response.json()
    # pool 10: GOLD 5, SILVER 3, BRONZE 2 (each wants more than its share)
    assert {d["order_id"]: d["allocated"] for d in run["decisions"]} == {"O-A": 5, "O-B": 3, "O-C": 2}
    assert run["mode"] == "ranked_shares" and run["points"][0]["allocated"] == 10
    segments = {s["segment"]: s for s in run["points"][0]["segments"]}
    assert segments["SILVER"]["rank"] == 2 and segments["SILVER"]["entitlement"] == 3
    explanation = next(d["explanation"] for d in run["decisions"] if d["order_id"] == "O-A")
    assert explanation["mode"] == "ranked_shares" and explanation["limited_by"] == "share"
    # a per-sku configuration replaces the global one for that sku
    per_sku = {**body, "segments_by_sku": {"SKU": [{"segment": "BRONZE", "rank": 1, "share": 1.0}]}}
    run = (await harness.http.post("/v1/allocations/runs", json=per_sku, headers=planner)).json()
    # BRONZE takes its 4; GOLD and SILVER have no share here and split the rest by tier: GOLD 6
    assert {d["order_id"]: d["allocated"] for d in run["decisions"]} == {"O-A": 6, "O-B": 0, "O-C": 4}
    events = await harness.events("segflow.allocation.decided")  # at least once: count distinct decisions
    assert len({(e["run_id"], e["order_id"]) for e in events}) == 6
    missing = await harness.http.post("/v1/allocations/runs", json={"mode": "ranked_shares"}, headers=planner)
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "segments"
    over = {
        **body,
        "segments": [{"segment": "G", "rank": 1, "share": 0.7}, {"segment": "S", "rank": 2, "share": 0.7}],
    }
    assert (await harness.http.post("/v1/allocations/runs", json=over, headers=planner)).status_code == 400


async def test_capped_run_reports_tier_and_quota_distortion(harness: Harness) -> None:
    await _lines(harness)
    planner = token(harness.host.settings, "planner")
    quota = {"segment": "SILVER", "kind": "minimum", "basis": "number", "value": 3}
    assert (await harness.http.post("/v1/quotas", json=quota, headers=planner)).status_code == 201
    body = {"sku": "SKU", "tier_caps": {"1": 0.5}}
    run = (await harness.http.post("/v1/allocations/runs", json=body, headers=planner)).json()
    # SILVER's minimum 3 is protected; tier 1 (GOLD) is capped at floor(0.5 * 10) = 5 of the 7 unprotected
    # units; the 2 the cap released go to tier 2 (SILVER: 3 protected + 2), BRONZE gets nothing
    got = {d["order_id"]: d["allocated"] for d in run["decisions"]}
    assert got == {"O-A": 5, "O-B": 5, "O-C": 0}
    point = run["points"][0]
    tiers = {t["tier"]: t for t in point["tiers"]}
    # without the cap GOLD would have had all 7 unprotected units and SILVER only its 3
    assert tiers[1]["cap"] == 5 and tiers[1]["uncapped_allocated"] == 7 and tiers[1]["distortion"] == -2
    assert tiers[2]["distortion"] == 2 and point["units_moved_by_caps"] == 2
    silver = next(s for s in point["segments"] if s["segment"] == "SILVER")
    assert silver["minimum"] == 3 and silver["allocated"] == 5 and silver["distortion"] == 0
    limited = {d["order_id"]: d["explanation"]["limited_by"] for d in run["decisions"]}
    assert limited["O-A"] == "cap"
    bad = await harness.http.post("/v1/allocations/runs", json={"tier_caps": {"1": 1.5}}, headers=planner)
    assert bad.status_code == 400


async def test_worker_prunes_decisions_past_retention(harness: Harness) -> None:
    await _lines(harness)
    planner = token(harness.host.settings, "planner")
    old = (await harness.http.post("/v1/allocations/runs", json={"sku": "SKU"}, headers=planner)).json()
    worker = harness.host.state["worker"]
    harness.clock[0] = NOW + worker.decision_retention_s / 2
    new = (await harness.http.post("/v1/allocations/runs", json={"sku": "SKU"}, headers=planner)).json()
    harness.clock[0] = NOW + worker.decision_retention_s + 1  # the first run is now past retention
    worker._last_prune = None
    assert await worker.prune_if_due() is True
    assert await worker.prune_if_due() is False  # not again within prune_interval_s
    async with harness.host.db.read() as session:
        runs = {r.run_id for r in await store_runs.recent_decisions(session, None, None, 100)}
    assert runs == {new["run_id"]} and old["run_id"] not in runs
