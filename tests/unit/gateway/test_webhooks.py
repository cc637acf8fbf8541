"""Webhooks: registration, signed deliveries to a real local receiver, retries, dead letters, replay."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from services.gateway.domain.webhooks import verify_delivery
from tests.unit.gateway.conftest import Gateway
from tests.unit.gateway.standin import Receiver, Served


async def _register(gw: Gateway, url: str, partner: str = "dhl") -> dict[str, Any]:
    r = await gw.client.post(
        "/v1/partners/me/webhooks",
        json={"url": url},
        headers=gw.auth(f"p-{partner}", "partner", partner_id=partner),
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _deliveries(gw: Gateway, status: str | None = None, partner: str = "dhl") -> list[dict[str, Any]]:
    params = {"status": status} if status else {}
    r = await gw.client.get(
        "/v1/partners/me/webhooks/deliveries",
        params=params,
        headers=gw.auth(f"p-{partner}", "partner", partner_id=partner),
    )
    assert r.status_code == 200
    return r.json()["items"]


async def test_delivery_is_signed_and_verifiable(make_gateway: Any) -> None:
    receiver = Receiver()
    served = await Served(receiver.app()).start()
    try:
        gw: Gateway = await make_gateway()
        hook = await _register(gw, f"{served.url}/hook")
        assert len(hook["secret"]) == 64
        listed = (
            await gw.client.get("/v1/partners/me/webhooks", headers=gw.auth("p", "partner", partner_id="dhl"))
        ).json()
        assert "secret" not in listed["items"][0]  # shown once only
        await gw.assign("product", "P1", "A-X", partners=("dhl",), revenue=500.0)
        await gw.assign("product", "P2", "A-X", partners=("ups",))

        async def got_one() -> bool:
            return len(receiver.received) == 1 and (await _deliveries(gw, "delivered")) != []

        await gw.settle(got_one)
        headers, body = receiver.received[0]
        assert headers["x-segflow-timestamp"].isdigit()
        signed = headers["x-segflow-timestamp"].encode() + b"." + body
        expected = "sha256=" + hmac.new(hook["secret"].encode(), signed, hashlib.sha256).hexdigest()
        assert headers["x-segflow-signature"] == expected
        now = float(headers["x-segflow-timestamp"])
        assert verify_delivery(hook["secret"], headers["x-segflow-timestamp"], body, expected, now_s=now)
        # the receiver helper detects the same delivery replayed 10 minutes later
        later = now + 600
        assert not verify_delivery(
            hook["secret"], headers["x-segflow-timestamp"], body, expected, now_s=later
        )
        event = json.loads(body)
        assert event["op"] == "upsert" and event["assignment"]["entity_id"] == "P1"
        assert "revenue" not in event["assignment"]
        assert event["seq"] >= 1
    finally:
        await served.stop()


async def test_retries_then_delivers(make_gateway: Any) -> None:
    receiver = Receiver(fail_first=2)
    served = await Served(receiver.app()).start()
    try:
        gw: Gateway = await make_gateway(gateway_webhook_max_attempts=5)
        await _register(gw, f"{served.url}/hook")
        await gw.assign("product", "P1", "A-X", partners=("dhl",))

        async def delivered() -> bool:
            return (await _deliveries(gw, "delivered")) != []

        await gw.settle(delivered)
        item = (await _deliveries(gw, "delivered"))[0]
        assert item["attempts"] == 3 and receiver.attempts == 3 and len(receiver.received) == 1
    finally:
        await served.stop()


async def test_dead_letter_after_n_failures_then_replay(make_gateway: Any) -> None:
    receiver = Receiver(fail_first=3)
    served = await Served(receiver.app()).start()
    try:
        gw: Gateway = await make_gateway(gateway_webhook_max_attempts=3)
        await _register(gw, f"{served.url}/hook")
        await gw.assign("product", "P1", "A-X", partners=("dhl",))

        async def dead() -> bool:
            return (await _deliveries(gw, "dead")) != []

        await gw.settle(dead)
        item = (await _deliveries(gw, "dead"))[0]
        assert item["attempts"] == 3 and item["last_error"] == "HTTP 500" and receiver.received == []
        # another partner can neither see nor replay it
        assert await _deliveries(gw, "dead", partner="ups") == []
        r = await gw.client.post(
            f"/v1/partners/me/webhooks/deliveries/{item['id']}/replay",
            headers=gw.auth("p-ups", "partner", partner_id="ups"),
        )
        assert r.status_code == 404
        r = await gw.client.post(
            f"/v1/partners/me/webhooks/deliveries/{item['id']}/replay",
            headers=gw.auth("p-dhl", "partner", partner_id="dhl"),
        )
        assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["attempts"] == 0

        async def delivered() -> bool:
            return (await _deliveries(gw, "delivered")) != []

        await gw.settle(delivered)
        assert len(receiver.received) == 1
    finally:
        await served.stop()


async def test_unreachable_receiver_dead_letters(make_gateway: Any) -> None:
    gw: Gateway = await make_gateway(gateway_webhook_max_attempts=2)
    await _register(gw, "http://127.0.0.1:9/hook")
    await gw.assign("product", "P1", "A-X", partners=("dhl",))

    async def dead() -> bool:
        return (await _deliveries(gw, "dead")) != []

    await gw.settle(dead)
    assert "ConnectError" in (await _deliveries(gw, "dead"))[0]["last_error"]


async def test_webhook_url_must_be_a_url(gw: Gateway) -> None:
    r = await gw.client.post(
        "/v1/partners/me/webhooks",
        json={"url": "not a url"},
        headers=gw.auth("p", "partner", partner_id="dhl"),
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "url"
