"""The planners' web UI against the REAL embedded platform, in Debian's chromium via Playwright.

All five services run embedded (services.embedded.start_embedded: one in-process bus, SQLite files under
the test's tmp dir), each served by uvicorn on a free port, the gateway's upstream URLs pointing at the
others. The shipped Online Retail sample is loaded with a small limit (1 % of the products, each with its
year of demand; services.embedded.load_sample, whose hooks classify customers and products), a slice of
the shipped SCMS delivery history gives the policy service deliveries to compute KPIs from, and a
planner starts one more product classification run through the gateway. Then, in the browser: sign in,
the matrix shows the classifier's own counts, filter the members, open an entity with its explanation,
a planner requests an override and a different user approves it, and the KPI chart renders.
Screenshots go to the test's tmp dir (and are copied to tests/browser/screenshots/platform-*.png).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Page, async_playwright, expect

from services.embedded import SERVICE_NAMES, load_sample, start_embedded, wait_until_idle
from services.gateway.settings import GatewaySettings
from services.ingest import ingest
from services.runtime.auth import issue_token
from services.runtime.host import ServiceHost
from tests.unit.gateway.standin import free_port

DATA = Path(__file__).resolve().parents[2] / "data"
ONLINE_RETAIL = DATA / "online_retail_2010-12_2011-12.csv.gz"
SCMS = DATA / "scms_delivery_history.csv.gz"
SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
GRID = [(a, x) for a in "ABC" for x in "XYZ"]


@dataclass
class Platform:
    urls: dict[str, str]
    settings: GatewaySettings
    hosts: dict[str, ServiceHost]

    def headers(self, subject: str, role: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(self.settings, subject=subject, roles=[role])}

    async def get(self, service: str, path: str, subject: str = "check", role: str = "planner") -> Any:
        async with httpx.AsyncClient(base_url=self.urls[service], timeout=30) as client:
            response = await client.get(path, headers=self.headers(subject, role))
        assert response.status_code == 200, (service, path, response.text)
        return response.json()


async def _eventually(check: Any, timeout: float = 120.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.2)


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    ports = {name: free_port() for name in SERVICE_NAMES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    settings = GatewaySettings(
        data_dir=tmp_path / "data",
        mode="embedded",
        env="development",  # the sign-in page issues development tokens
        jwt_secret="browser-platform-secret-0123456789abcdef",
        log_level="WARNING",
        classifier_url=urls["classifier"],
        allocator_url=urls["allocator"],
        policy_url=urls["policy"],
        audit_url=urls["audit"],
    )
    bus, hosts = await start_embedded(settings)
    servers = [
        uvicorn.Server(uvicorn.Config(host.app, host="127.0.0.1", port=ports[name], log_level="warning"))
        for name, host in hosts.items()
    ]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    try:
        await _eventually(lambda: _started(servers), timeout=60)
        report = await load_sample(bus, hosts, ONLINE_RETAIL, limit=20_000, product_percent=1)
        assert report.published > 1000
        await ingest(bus, SCMS, "scms-deliveries", limit=400)
        await wait_until_idle(hosts)
        yield Platform(urls, settings, hosts)
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for host in reversed(list(hosts.values())):
            if host.started:
                await host.stop()


async def _started(servers: list[uvicorn.Server]) -> bool:
    return all(server.started for server in servers)


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


async def _sign_in(page: Page, url: str, role: str, subject: str) -> None:
    await page.goto(url + "/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.fill("#subject", subject)
    await page.select_option("#role", role)
    await page.click("#dev")
    await expect(page.get_by_role("heading", name="ABC × XYZ matrix")).to_be_visible()
    await expect(page.locator("#who")).to_contain_text(f"{subject} · {role}")


async def _sign_out(page: Page) -> None:
    await page.click("#signout")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_planner_ui_on_the_real_embedded_platform(
    platform: Platform, page: Page, tmp_path: Path
) -> None:
    url = platform.urls["gateway"]
    shots = tmp_path / "screenshots"
    shots.mkdir()

    # one more product classification run, started by a planner through the gateway
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        started = await client.post(
            "/v1/runs", json={"dimension": "product"}, headers=platform.headers("pia", "planner")
        )
    assert started.status_code in (200, 201, 202), started.text
    run_id = started.json()["run_id"]

    async def run_done() -> Any:
        run = await platform.get("classifier", f"/v1/runs/{run_id}")
        return run if run["status"] in ("succeeded", "failed") else None

    run = await _eventually(run_done)
    assert run["status"] == "succeeded", run
    assert (await platform.get("classifier", "/v1/runs/latest"))["run_id"] == run_id

    # sign in; the matrix shows the classifier's own counts per cell
    await _sign_in(page, url, "planner", "pia")
    matrix = await platform.get("classifier", "/v1/segments/matrix?dimension=product")
    counts = {(c["abc"], c["xyz"]): c["count"] for c in matrix["cells"]}
    assert sum(counts.values()) > 10  # the sample really was classified
    for abc, xyz in GRID:
        await expect(page.get_by_test_id(f"cell-{abc}{xyz}")).to_contain_text(
            f"{counts.get((abc, xyz), 0):,}"
        )
    await expect(page.locator("#abcxyz")).to_contain_text(f"{sum(counts.values()):,} total")
    # the migration of the run just made: every product stayed where the previous run put it
    await expect(page.locator("#migration")).to_contain_text(run_id)
    await expect(page.locator("#migration table")).to_be_visible()
    await page.screenshot(path=str(shots / "01-matrix.png"), full_page=True)

    # filter: the busiest grid cell lists exactly its members (one page holds 50)
    abc, xyz = max(GRID, key=lambda cell: counts.get(cell, 0))
    await page.get_by_test_id(f"cell-{abc}{xyz}").click()
    await expect(page.get_by_role("heading", name="Segment members")).to_be_visible()
    rows = page.locator("#list tbody tr")
    await expect(rows).to_have_count(min(counts[(abc, xyz)], 50))
    for cells in await rows.all():
        await expect(cells.locator("td").nth(3)).to_have_text(abc)
        await expect(cells.locator("td").nth(4)).to_have_text(xyz)
    await expect(page.locator("#list")).to_contain_text("Financial fields hidden for your role")
    await page.screenshot(path=str(shots / "02-members.png"), full_page=True)

    # open the first member: its segment and the explanation the classifier recorded
    entity_id = (await rows.first.locator("td").first.inner_text()).strip()
    detail = await platform.get("classifier", f"/v1/segments/product/{entity_id}")
    await rows.first.get_by_role("link").click()
    await expect(page.get_by_test_id("entity-segment")).to_have_text(detail["segment"])
    why = page.locator("#entity .panel").nth(1)
    await expect(why.get_by_role("heading", name="Why this segment")).to_be_visible()
    await expect(why).not_to_contain_text("No explanation recorded.")
    await page.screenshot(path=str(shots / "03-entity.png"), full_page=True)

    # the planner requests an override to another segment of the active rule set
    segments = sorted(
        {s for s in (await platform.get("classifier", "/v1/runs/latest"))["counts"]["segments"]}
    )
    target = next(s for s in ["GOLD", "SILVER", *segments] if s != detail["segment"])
    await page.fill("#override input[name=segment]", target)
    await page.fill("#override input[name=reason]", "strategic launch customer")
    await page.click("#override button[type=submit]")
    await expect(page.locator("#toast")).to_contain_text("requested: waiting for an approver")
    pending = (await platform.get("classifier", "/v1/overrides?status=pending"))["items"]
    [requested] = [o for o in pending if o["entity_id"] == entity_id]
    assert requested["requested_by"] == "pia" and requested["segment"] == target
    override_id = requested["override_id"]

    # the requester cannot decide it; a different approver approves it
    await _sign_out(page)
    await _sign_in(page, url, "approver", "pia")
    await page.click("nav a[data-view=overrides]")
    await expect(page.locator(f"button[data-act=approve][data-id='{override_id}']")).to_be_disabled()
    await _sign_out(page)
    await _sign_in(page, url, "approver", "carol")
    await page.click("nav a[data-view=overrides]")
    approve = page.locator(f"button[data-act=approve][data-id='{override_id}']")
    await expect(approve).to_be_enabled()
    await page.screenshot(path=str(shots / "04-override-queue.png"), full_page=True)
    await approve.click()
    await expect(page.locator("#toast")).to_contain_text(f"Override {override_id} approved")
    await expect(page.locator(f"button[data-act=approve][data-id='{override_id}']")).to_have_count(0)

    async def placed() -> bool:
        return bool(
            (await platform.get("classifier", f"/v1/segments/product/{entity_id}"))["segment"] == target
        )

    await _eventually(placed)
    await page.goto(f"{url}/#/entity/product/{entity_id}")
    await expect(page.get_by_test_id("entity-segment")).to_have_text(target)
    await page.screenshot(path=str(shots / "05-overridden-entity.png"), full_page=True)

    # the KPI dashboard draws the policy service's series as an SVG line chart
    kpis = await platform.get("policy", "/v1/kpis")
    otif_series = [s for s in kpis["series"] if s["kpi"] == "otif"]
    assert otif_series, kpis
    await page.click("nav a[data-view=kpis]")
    chart = page.locator("[data-testid=kpi-otif] svg.chart")
    # /v1/kpis computes over everything loaded: on a busy machine it takes longer than Playwright's 5 s default
    await expect(chart).to_be_visible(timeout=60_000)
    await expect(chart.locator("path")).to_have_count(len(otif_series))
    await page.screenshot(path=str(shots / "06-kpis.png"), full_page=True)

    SHOTS.mkdir(exist_ok=True)
    for shot in shots.iterdir():
        shutil.copy(shot, SHOTS / f"platform-{shot.name}")
