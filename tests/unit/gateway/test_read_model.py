"""Segment events -> the gateway's read model, the customer portal and the partner feed."""

from __future__ import annotations

from datetime import UTC, datetime

from services.gateway import store
from tests.unit.gateway.conftest import Gateway


async def _feed(gw: Gateway, partner: str, cursor: str | None = None, limit: int = 100) -> dict:
    params = {"limit": limit} | ({"cursor": cursor} if cursor is not None else {})
    r = await gw.client.get(
        "/v1/partners/me/feed", params=params, headers=gw.auth(f"p-{partner}", "partner", partner_id=partner)
    )
    assert r.status_code == 200, r.text
    return r.json()


async def _count(gw: Gateway, key: str) -> bool:
    async with gw.host.db.read() as s:
        return await store.current_assignment(s, key) is not None


async def test_assignment_reaches_portal_with_history_and_plain_reasons(gw: Gateway) -> None:
    await gw.assign("customer", "C1", "GOLD", 1, lead=3)
    await gw.change(
        "customer",
        "C1",
        "SILVER",
        "GOLD",
        ["revenue share rose to class A"],
        datetime(2024, 2, 1, tzinfo=UTC),
    )
    await gw.change(
        "customer", "C1", None, "SILVER", ["first classification"], datetime(2024, 1, 1, tzinfo=UTC)
    )

    async def ready() -> bool:
        async with gw.host.db.read() as s:
            return (
                len(await store.history(s, "customer:C1")) == 2
                and await store.current_assignment(s, "customer:C1") is not None
            )

    await gw.settle(ready)
    headers = gw.auth("buyer", "customer", customer_id="C1")
    seg = (await gw.client.get("/v1/me/segment", headers=headers)).json()
    assert seg["segment"] == "GOLD" and seg["tier"] == 1 and seg["customer_id"] == "C1"
    assert seg["masked_fields"] == ["revenue", "margin"]
    ent = (await gw.client.get("/v1/me/entitlements", headers=headers)).json()
    assert ent["promise_lead_time_days"] == 3
    assert ent["service_level_target"] == 0.98 and ent["otif_target"] == 0.95
    assert [h["new_segment"] for h in ent["history"]] == ["GOLD", "SILVER"]  # newest first
    assert ent["history"][0]["summary"] == (
        "On 2024-02-01 your segment changed from SILVER to GOLD: revenue share rose to class A."
    )
    assert ent["history"][1]["summary"].startswith("On 2024-01-01 you were placed in segment SILVER")


async def test_customer_never_sees_another_customer(gw: Gateway) -> None:
    await gw.assign("customer", "C1", "GOLD")
    await gw.settle(lambda: _count(gw, "customer:C1"))
    other = gw.auth("someone", "customer", customer_id="C2")
    r = await gw.client.get("/v1/me/segment", headers=other)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await gw.client.get("/v1/me/entitlements", headers=other, params={"customer_id": "C1"})
    assert r.status_code == 404  # a customer id in the query is ignored: the token decides


async def test_tombstone_deletes_assignment_and_tells_partners(gw: Gateway) -> None:
    await gw.assign("product", "P1", "A-X", partners=("dhl",))
    await gw.settle(lambda: _count(gw, "product:P1"))
    await gw.tombstone("product", "P1")

    async def gone() -> bool:
        return not await _count(gw, "product:P1")

    await gw.settle(gone)
    items = (await _feed(gw, "dhl"))["items"]
    assert [i["op"] for i in items] == ["upsert", "deleted"]


async def test_partner_feed_only_own_entities_no_financials_and_cursor(gw: Gateway) -> None:
    for i in range(5):
        await gw.assign("product", f"P{i}", "A-X", partners=("dhl",) if i % 2 == 0 else ("ups",))
    await gw.assign("product", "P9", "B-Y", partners=("dhl", "ups"))

    async def all_in() -> bool:
        return await _count(gw, "product:P9") and all([await _count(gw, f"product:P{i}") for i in range(5)])

    await gw.settle(all_in)
    page = await _feed(gw, "dhl", limit=2)
    assert len(page["items"]) == 2
    seen = [i["assignment"]["entity_id"] for i in page["items"]]
    cursor = page["next_cursor"]
    while True:
        nxt = await _feed(gw, "dhl", cursor=cursor, limit=2)
        if not nxt["items"]:
            assert nxt["next_cursor"] == cursor  # an empty page keeps the cursor
            break
        seen += [i["assignment"]["entity_id"] for i in nxt["items"]]
        seqs = [i["seq"] for i in nxt["items"]]
        assert seqs == sorted(seqs) and seqs[0] > int(cursor)
        cursor = nxt["next_cursor"]
    assert sorted(seen) == ["P0", "P2", "P4", "P9"]
    for item in (await _feed(gw, "ups"))["items"]:
        assert item["assignment"]["entity_id"] in {"P1", "P3", "P9"}
        assert "revenue" not in item["assignment"] and "margin" not in item["assignment"]
        assert "partner_ids" not in item["assignment"]  # never learn about other partners


async def test_partner_removed_from_entity_gets_a_removal(gw: Gateway) -> None:
    await gw.assign("product", "P1", "A-X", partners=("dhl", "ups"))
    await gw.settle(lambda: _count(gw, "product:P1"))
    await gw.assign("product", "P1", "B-X", partners=("ups",))

    async def moved() -> bool:
        return len((await _feed(gw, "dhl"))["items"]) == 2

    await gw.settle(moved)
    ops = [(i["op"], i["assignment"]["segment"]) for i in (await _feed(gw, "dhl"))["items"]]
    assert ops == [("upsert", "A-X"), ("removed", "B-X")]


async def test_bad_cursor_is_a_400(gw: Gateway) -> None:
    r = await gw.client.get(
        "/v1/partners/me/feed", params={"cursor": "abc"}, headers=gw.auth("p", "partner", partner_id="dhl")
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "cursor"
