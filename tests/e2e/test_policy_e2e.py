"""End to end on REAL Kafka + PostgreSQL: replay the SCMS delivery history through the broker into the policy
service and match an independent OTIF computation (csv module; on time = delivered <= scheduled)."""

from __future__ import annotations

import csv
import gzip
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from services.ingest import ingest
from services.policy import app
from services.policy.tables import shipments
from services.runtime.auth import issue_token
from tests.integration.policy.test_policy_kafka import settings_for
from tests.unit.policy.service_support import wait_for

SCMS = Path(__file__).resolve().parents[2] / "data" / "scms_delivery_history.csv.gz"


def _date(text: str) -> date | None:
    try:
        return datetime.strptime(text.strip(), "%d-%b-%y").date()
    except ValueError:
        return None


def independent_otif() -> dict[date, tuple[int, int]]:
    """Per week (Monday of the scheduled date): (lines on time, lines), every line with both dates."""
    weeks: dict[date, tuple[int, int]] = {}
    with gzip.open(SCMS, "rt", encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            scheduled = _date(row["Scheduled Delivery Date"])
            delivered = _date(row["Delivered to Client Date"])
            if scheduled is None or delivered is None:
                continue
            monday = scheduled - timedelta(days=scheduled.weekday())
            on_time, lines = weeks.get(monday, (0, 0))
            weeks[monday] = (on_time + (delivered <= scheduled), lines + 1)
    return weeks


async def test_scms_replay_matches_independent_otif(
    fresh_database: str, kafka_bootstrap: str, topic_namespace: str
) -> None:
    settings = settings_for(fresh_database, kafka_bootstrap, topic_namespace)
    host = app.build(settings, transaction_batch=500)
    await host.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=host.app), base_url="http://t")
    auth = {"Authorization": f"Bearer {issue_token(settings, subject='e2e', roles=['planner'])}"}
    try:
        report = await ingest(host.bus, SCMS, "scms-deliveries")
        expected = independent_otif()
        total = sum(lines for _, lines in expected.values())
        assert report.published == total > 10_000 - 1_000

        async def consumed() -> bool:
            async with host.db.read() as session:
                return (
                    await session.execute(select(func.count()).select_from(shipments))
                ).scalar_one() == total

        await wait_for(consumed, timeout=900)
        body = (await client.get("/v1/kpis?kpi=otif&window=1", headers=auth)).json()
        [series] = body["series"]  # no product segment assignments in SCMS: one group
        assert series["group"] == "unassigned"
        got = {date.fromisoformat(p["week_start"]): p for p in series["points"]}
        assert set(got) == set(expected)
        for monday, (on_time, lines) in expected.items():
            assert got[monday]["lines"] == lines
            assert abs(got[monday]["value"] - on_time / lines) < 1e-9
        overall_got = sum(p["value"] * p["lines"] for p in series["points"]) / sum(
            p["lines"] for p in series["points"]
        )
        overall_expected = sum(o for o, _ in expected.values()) / total
        assert abs(overall_got - overall_expected) < 1e-9
    finally:
        await client.aclose()
        await host.stop()
