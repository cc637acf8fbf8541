"""``segflow audit verify``, ``archive`` and ``verify-archive`` on an embedded (SQLite) log."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts import topics
from services.audit.cli import app as cli_app
from tests.unit.audit.service_support import event, start_audit


def populate(tmp_path: Path, n: int) -> None:
    async def run() -> None:
        async for a in start_audit(tmp_path, checkpoint_every_n=4, checkpoint_every_s=3600):
            for i in range(n):
                data, headers, _ = event("segflow.order.line.placed", f"O{i}", {"i": i})
                await a.bus.publish(topics.ERP_ORDERS, f"O{i}".encode(), data, headers)
            await a.wait_for(n)

    asyncio.run(run())


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEGFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEGFLOW_MODE", "embedded")
    monkeypatch.delenv("SEGFLOW_DATABASE_URL", raising=False)
    return tmp_path


def test_verify_passes_then_names_the_tampered_entry(data_dir: Path) -> None:
    populate(data_dir, 9)
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["checked"] == 9
    con = sqlite3.connect(data_dir / "audit.db")
    con.execute("DROP TRIGGER audit_entries_no_update")
    con.execute("UPDATE audit_entries SET payload = CAST('{\"i\":99}' AS BLOB) WHERE seq = 5")
    con.commit()
    con.close()
    bad = runner.invoke(cli_app, ["verify"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["first_bad_seq"] == 5


def test_archive_a_month_and_verify_it_later(data_dir: Path) -> None:
    populate(data_dir, 10)
    month = datetime.now(UTC).strftime("%Y-%m")
    out = data_dir / "cold" / "audit.jsonl"
    out.parent.mkdir()
    runner = CliRunner()
    made = runner.invoke(cli_app, ["archive", "--month", month, "--out", str(out)])
    assert made.exit_code == 0, made.output
    manifest = json.loads((out.parent / "audit.jsonl.manifest.json").read_text())
    assert manifest["count"] == 10 and manifest["first_seq"] == 0
    assert len(out.read_bytes().splitlines()) == 10
    key = manifest["public_key"]
    good = runner.invoke(cli_app, ["verify-archive", str(out), "--public-key", key])
    assert good.exit_code == 0, good.output
    lines = out.read_bytes().splitlines(keepends=True)
    doc = json.loads(lines[4])
    doc["subject"] = "forged"
    lines[4] = json.dumps(doc, separators=(",", ":")).encode() + b"\n"
    out.write_bytes(b"".join(lines))
    bad = runner.invoke(cli_app, ["verify-archive", str(out), "--public-key", key])
    assert bad.exit_code == 1 and "seq 4" in bad.output
    empty = runner.invoke(cli_app, ["archive", "--month", "1999-01", "--out", str(out)])
    assert empty.exit_code == 1
    assert runner.invoke(cli_app, ["archive", "--month", "2026-13", "--out", str(out)]).exit_code == 2
