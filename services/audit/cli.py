"""``segflow audit``: verify the log, export a range with proofs, verify a proof independently, archive a
month and verify an archive.

``verify``, ``export`` and ``archive`` read the database named by the settings (``SEGFLOW_*`` environment);
``verify-proof`` and ``verify-archive`` need only files and a public key (the independent verifier).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from services.audit import reader, store
from services.audit.config import AuditSettings
from services.audit.domain.archive import verify_archive
from services.audit.keys import load_or_create
from services.audit.verifier import load_public_key, verify_consistency_document, verify_inclusion_document
from services.runtime.db import Database
from services.runtime.settings import Settings

app = typer.Typer(help="The append-only audit log: verification, proofs, archives.", no_args_is_help=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


async def _with_db(settings: Settings, work: Any) -> Any:
    db = Database("audit", settings)
    await db.start()
    try:
        return await work(db)
    finally:
        await db.stop()


@app.command()
def verify() -> None:
    """Re-check the whole hash chain, every Merkle tree head and every signature; exit 1 naming the first
    bad sequence number."""
    settings = _settings()
    signing = load_or_create(settings, AuditSettings())
    result = asyncio.run(_with_db(settings, lambda db: reader.verify_all(db, signing)))
    typer.echo(json.dumps(result, indent=2))
    if not result["ok"]:
        typer.echo(f"FAILED at seq {result['first_bad_seq']}: {result['reason']}", err=True)
        raise typer.Exit(1)


async def _export_to(db: Database, signing: Any, first: int, end: int | None, out: Path) -> int:
    async with db.read() as session:
        size = (await store.read_head(session)).size
    stop = size if end is None else min(end, size)
    written = 0
    with out.open("wb") as sink:
        async for part in reader.export_stream(db, signing, first, max(first, stop)):
            sink.write(part)
            written += part.count(b"\n")
    return written - 1  # the header line


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="JSONL file to write")],
    from_: Annotated[int, typer.Option("--from", min=0, help="first seq")] = 0,
    to: Annotated[int | None, typer.Option(min=0, help="end seq (exclusive); default the log size")] = None,
) -> None:
    """Stream a seq range to a JSONL file with inclusion proofs in the latest signed tree head (entries newer
    than it carry ``inclusion_proof: null``); memory stays bounded whatever the range."""
    settings = _settings()
    signing = load_or_create(settings, AuditSettings())
    count = asyncio.run(_with_db(settings, lambda db: _export_to(db, signing, from_, to, out)))
    typer.echo(f"exported {count} entries to {out}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        typer.echo(f"cannot read {path}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not isinstance(doc, dict):
        typer.echo(f"{path} is not a JSON object", err=True)
        raise typer.Exit(2)
    return doc


def _public_key_text(option: str | None, doc: dict[str, Any]) -> str:
    if option is not None:
        candidate = Path(option)
        return candidate.read_text() if candidate.exists() else option
    if "public_key" in doc:
        typer.echo("note: using the public key inside the document; pass --public-key to pin a trusted one")
        return str(doc["public_key"])
    typer.echo("no public key: pass --public-key", err=True)
    raise typer.Exit(2)


@app.command("verify-proof")
def verify_proof(
    file: Annotated[Path, typer.Argument(help="proof JSON as returned by /v1/audit/proofs/...")],
    tree_head: Annotated[Path | None, typer.Option(help="tree head JSON (if not inside FILE)")] = None,
    old_tree_head: Annotated[Path | None, typer.Option(help="older tree head JSON (consistency)")] = None,
    public_key: Annotated[
        str | None, typer.Option(help="hex/base64/PEM public key or a file holding it")
    ] = None,
) -> None:
    """Verify an inclusion or consistency proof against signed tree heads with the independent verifier."""
    doc = _read_json(file)
    key = _public_key_text(public_key, doc)
    proof = doc.get("proof", doc)
    if "first" in proof:
        old = _read_json(old_tree_head) if old_tree_head else doc.get("old_tree_head")
        new = _read_json(tree_head) if tree_head else doc.get("new_tree_head")
        if old is None or new is None:
            typer.echo("a consistency proof needs both tree heads", err=True)
            raise typer.Exit(2)
        ok, why = verify_consistency_document(proof, old, new, key)
    else:
        head = _read_json(tree_head) if tree_head else doc.get("tree_head")
        if head is None:
            typer.echo("an inclusion proof needs a tree head (--tree-head)", err=True)
            raise typer.Exit(2)
        ok, why = verify_inclusion_document(proof, head, key)
    typer.echo(("OK: " if ok else "FAILED: ") + why)
    if not ok:
        raise typer.Exit(1)


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")


@app.command()
def archive(
    month: Annotated[str, typer.Option(help="YYYY-MM (capture time, UTC)")],
    out: Annotated[Path, typer.Option(help="JSONL file to write; the manifest goes to OUT.manifest.json")],
) -> None:
    """Export a month of entries to a file with a checksummed, signed manifest (cold storage)."""
    try:
        reader.month_bounds_us(month)
    except ValueError as exc:
        typer.echo(f"--month must be YYYY-MM: {exc}", err=True)
        raise typer.Exit(2) from exc
    settings = _settings()
    signing = load_or_create(settings, AuditSettings())
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    built = asyncio.run(_with_db(settings, lambda db: reader.archive_month(db, signing, month, now=now)))
    if built is None:
        typer.echo(f"no entries captured in {month}", err=True)
        raise typer.Exit(1)
    data, manifest = built
    manifest["public_key"] = signing.public_raw.hex()
    out.write_bytes(data)
    manifest_path(out).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    typer.echo(
        f"archived {manifest['count']} entries (seq {manifest['first_seq']}..{manifest['last_seq']}) to {out}"
    )


@app.command("verify-archive")
def verify_archive_cmd(
    file: Annotated[Path, typer.Argument(help="archive JSONL")],
    manifest: Annotated[Path | None, typer.Option(help="manifest (default FILE.manifest.json)")] = None,
    public_key: Annotated[
        str | None, typer.Option(help="hex/base64/PEM public key or a file holding it")
    ] = None,
) -> None:
    """Re-verify an archive: chain, checksum, month root and the signed tree head it extends."""
    doc = _read_json(manifest or manifest_path(file))
    try:
        key = load_public_key(_public_key_text(public_key, doc))
    except ValueError as exc:
        typer.echo(f"bad public key: {exc}", err=True)
        raise typer.Exit(2) from exc
    result = verify_archive(file.read_bytes(), doc, key)
    if result.ok:
        typer.echo(f"OK: {result.checked} entries verify")
        return
    typer.echo(f"FAILED at seq {result.first_bad_seq}: {result.reason}", err=True)
    raise typer.Exit(1)
