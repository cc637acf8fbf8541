"""The planners' web UI in a real browser (Debian's chromium via Playwright), served by the gateway.

The gateway runs under uvicorn on a free port (development env, so the sign-in page can issue a dev
token) in front of a stand-in upstream on another port. Screenshots go to tests/browser/screenshots/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from services.gateway import app as gateway_app
from services.gateway.settings import GatewaySettings
from services.runtime.bus.memory import MemoryBus
from tests.unit.gateway.standin import Served, StandInState, standin_app

SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def served_gateway(tmp_path: Path) -> AsyncIterator[tuple[str, StandInState]]:
    state = StandInState()
    upstream = await Served(standin_app(state)).start()
    settings = GatewaySettings(
        data_dir=tmp_path,
        mode="embedded",
        env="development",
        jwt_secret="browser-test-secret-0123456789abcdef",
        classifier_url=upstream.url,
        allocator_url=upstream.url,
        policy_url=upstream.url,
        audit_url=upstream.url,
    )
    host = gateway_app.build(settings, bus=MemoryBus())
    gateway = await Served(host.app).start()  # uvicorn runs the lifespan: the host starts and stops with it
    yield gateway.url, state
    await gateway.stop()
    await upstream.stop()


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1360, "height": 900})
        pg = await context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        await browser.close()
        assert errors == [], errors


async def _sign_in(page: Page, url: str, role: str = "approver", subject: str = "carol") -> None:
    await page.goto(url + "/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.fill("#subject", subject)
    await page.select_option("#role", role)
    await page.click("#dev")
    await expect(page.get_by_role("heading", name="ABC × XYZ matrix")).to_be_visible()


async def test_sign_in_matrix_filter_entity_override_and_chart(served_gateway: Any, page: Page) -> None:
    url, state = served_gateway
    SHOTS.mkdir(exist_ok=True)
    await page.goto(url + "/")
    await page.screenshot(path=str(SHOTS / "01-signin.png"))
    await _sign_in(page, url)
    await expect(page.locator("#who")).to_contain_text("carol · approver")

    # the matrix: counts per cell from the classifier (stand-in: (i+1)*(j+2))
    await expect(page.get_by_test_id("cell-AX")).to_contain_text("2")
    await expect(page.get_by_test_id("cell-CZ")).to_contain_text("12")
    await expect(page.locator("#migration table")).to_contain_text("61")
    await page.screenshot(path=str(SHOTS / "02-matrix.png"), full_page=True)

    # filter the member list: click cell A/Y, then narrow with the form
    await page.get_by_test_id("cell-AY").click()
    await expect(page.get_by_role("heading", name="Segment members")).to_be_visible()
    rows = page.locator("#list tbody tr")
    await expect(rows).to_have_count(3)  # the stand-in holds 3 products in A/Y
    await page.select_option("select[name=xyz]", "Z")
    await page.click("#filters button[type=submit]")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("A-Z")
    await expect(page.locator("#list")).to_contain_text("Financial fields hidden for your role")
    sent = [c.query for c in state.calls if c.path == "/v1/segments"][-1]
    assert sent["abc"] == "A" and sent["xyz"] == "Z" and sent["dimension"] == "product"
    await page.screenshot(path=str(SHOTS / "03-members.png"), full_page=True)

    # open an entity: its segment, explanation and history
    await rows.first.get_by_role("link").click()
    await expect(page.get_by_test_id("entity-segment")).to_have_text("A-X")
    await expect(page.locator("#entity")).to_contain_text("cumulative revenue share before it 0.42")
    await expect(page.locator("#entity")).to_contain_text("abc=A and xyz=X")
    await page.screenshot(path=str(SHOTS / "04-entity.png"), full_page=True)

    # approve the pending override (requested by alice; carol is another approver)
    await page.click("nav a[data-view=overrides]")
    approve = page.locator("button[data-act=approve][data-id='ov-1']")
    await expect(approve).to_be_enabled()
    await approve.click()
    await expect(page.locator("#toast")).to_contain_text("Override ov-1 approved")
    await expect(page.locator("#queue")).to_contain_text("The queue is empty.")
    assert state.decided == [("ov-1", "approve")]
    await page.screenshot(path=str(SHOTS / "05-overrides.png"), full_page=True)

    # the KPI dashboard draws a trend chart (SVG) and lists the open alert
    await page.click("nav a[data-view=kpis]")
    chart = page.locator("[data-testid=kpi-otif] svg.chart")
    await expect(chart).to_be_visible()
    await expect(chart.locator("path")).to_have_count(2)  # one line per segment
    await expect(chart.locator("circle")).to_have_count(3)  # 2 GOLD points + 1 SILVER point
    await expect(page.locator("#alerts")).to_contain_text("GOLD")
    await page.screenshot(path=str(SHOTS / "06-kpis.png"), full_page=True)

    # an approver may not read allocations: the view says so
    await page.click("nav a[data-view=allocation]")
    await page.fill("input[name=sku]", "SKU-001")
    await page.fill("input[name=site]", "W1")
    await page.click("#f button")
    await expect(page.locator("#atp")).to_contain_text("requires one of the roles")

    # the allocation view per SKU as a planner: an ATP bar per day and the decisions
    await page.click("#signout")
    await _sign_in(page, url, role="planner", subject="pia")
    await page.click("nav a[data-view=allocation]")
    await page.fill("input[name=sku]", "SKU-001")
    await page.fill("input[name=site]", "W1")
    await page.click("#f button")
    await expect(page.locator("#atp svg rect")).to_have_count(2)
    await expect(page.locator("#dec")).to_contain_text("C1")
    await page.screenshot(path=str(SHOTS / "07-allocation.png"), full_page=True)


async def test_requester_sees_own_override_disabled(served_gateway: Any, page: Page) -> None:
    url, state = served_gateway
    await _sign_in(page, url, role="approver", subject="alice")
    await page.click("nav a[data-view=overrides]")
    await expect(page.locator("button[data-act=approve][data-id='ov-1']")).to_be_disabled()
    assert state.decided == []


async def test_ui_loads_no_external_resources(served_gateway: Any, page: Page) -> None:
    url, _ = served_gateway
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    await _sign_in(page, url, role="planner", subject="pia")
    assert requested and all(u.startswith(url) or u.startswith("data:") for u in requested), requested
