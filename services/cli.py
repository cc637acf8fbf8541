"""The ``segflow`` command: run services, the embedded demo, ingestion, tokens, contracts, DLQ replay."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.runtime.settings import SERVICE_PORTS, Settings

app = typer.Typer(help="segflow: supply-chain segmentation, policies and allocation.", no_args_is_help=True)
contracts_app = typer.Typer(help="The wire contracts: JSON Schema and AsyncAPI.", no_args_is_help=True)
dlq_app = typer.Typer(help="The dead-letter queue.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
app.add_typer(dlq_app, name="dlq")
console = Console(stderr=True)

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "online_retail_2010-12_2011-12.csv.gz"


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def run(
    service: Annotated[str, typer.Argument(help="classifier | allocator | policy | audit | gateway")],
    port: Annotated[int | None, typer.Option(help="HTTP port (default: the service's own)")] = None,
) -> None:
    """Run one service: its consumers, outbox relay and HTTP API."""
    import uvicorn

    from services.embedded import service_module

    settings = _settings()
    if service not in SERVICE_PORTS:
        console.print(f"[red]unknown service {service!r}[/red]; one of {', '.join(SERVICE_PORTS)}")
        raise typer.Exit(2)
    host = service_module(service).build(settings)
    uvicorn.run(host.app, host=settings.host, port=port or settings.port_for(service), log_config=None)


@app.command()
def init() -> None:
    """Create every topic of the catalog and bring every service's schema up to date."""
    from contracts.topics import all_topics
    from services.embedded import SERVICE_NAMES, service_module
    from services.runtime.bus import build_bus
    from services.runtime.migrate import upgrade

    async def _init() -> None:
        settings = _settings()
        bus = build_bus(settings)
        await bus.start()
        await bus.ensure_topics(all_topics())
        await bus.stop()
        for name in SERVICE_NAMES:
            host = service_module(name).build(settings)
            await host.db.start()
            await upgrade(host.db, host.migrations)
            await host.db.stop()
            console.print(f"[green]migrated[/green] {name}")

    asyncio.run(_init())


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@app.command()
def demo(
    limit: Annotated[
        int | None, typer.Option(help="publish at most this many events from the sample")
    ] = None,
    sample: Annotated[Path, typer.Option(help="Online Retail CSV(.gz) to load")] = SAMPLE,
    load: Annotated[bool, typer.Option(help="load the sample before serving")] = True,
    products: Annotated[
        int, typer.Option(help="percent of products to load, each with its whole year of demand (100 = all)")
    ] = 10,
) -> None:
    """Run all five services embedded (in-process bus, SQLite under .segflow/) on the sample data."""
    from services.embedded import load_sample, serve_embedded, start_embedded

    settings = _settings(mode="embedded")

    async def _demo() -> None:
        bus, hosts = await start_embedded(settings)
        if load:
            with _progress() as progress:
                task = progress.add_task("ingesting Online Retail sample", total=limit)
                report = await load_sample(
                    bus,
                    hosts,
                    sample,
                    limit=limit,
                    progress=lambda n: progress.advance(task, n),
                    product_percent=products,
                )
            console.print(f"published {report.published} events, rejected {len(report.rejected)} rows")
        console.print("[bold green]segflow is up:[/bold green] planners' UI on http://127.0.0.1:8000")
        await serve_embedded(settings, hosts)

    asyncio.run(_demo())


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    format: Annotated[str, typer.Option("--format", help="online-retail | orders-csv | scms-deliveries")],
    limit: Annotated[int | None, typer.Option(help="publish at most this many events")] = None,
    show_rejected: Annotated[int, typer.Option(help="how many rejected rows to list")] = 20,
) -> None:
    """Publish a file's events to Kafka (SEGFLOW_KAFKA_BOOTSTRAP) with deterministic event ids."""
    from contracts.topics import all_topics
    from services.ingest import ingest as do_ingest
    from services.runtime.bus import build_bus

    settings = _settings()
    if not settings.kafka_bootstrap:
        console.print(
            "[red]SEGFLOW_KAFKA_BOOTSTRAP is not set[/red]: `segflow demo` ingests the sample embedded"
        )
        raise typer.Exit(2)
    settings = _settings(mode="distributed", database_url=settings.database_url or "unused")

    async def _run() -> None:
        bus = build_bus(settings)
        await bus.start()
        await bus.ensure_topics(all_topics())
        try:
            with _progress() as progress:
                task = progress.add_task(f"ingesting {file.name}", total=limit)
                report = await do_ingest(
                    bus, file, format, limit=limit, progress=lambda n: progress.advance(task, n)
                )
        finally:
            await bus.stop()
        table = Table(title="ingest")
        table.add_column("event type")
        table.add_column("count", justify="right")
        for t, n in sorted(report.by_type.items()):
            table.add_row(t, str(n))
        Console().print(table)
        console.print(f"published {report.published}; rejected {len(report.rejected)} rows")
        for rej in report.rejected[:show_rejected]:
            console.print(f"  line {rej.line}: {rej.reason}")

    try:
        asyncio.run(_run())
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@app.command()
def token(
    role: Annotated[
        list[str], typer.Option("--role", help="admin planner approver finance customer partner service")
    ],
    subject: Annotated[str, typer.Option(help="the user or client id")] = "dev-user",
    customer_id: Annotated[str | None, typer.Option(help="for role customer")] = None,
    partner_id: Annotated[str | None, typer.Option(help="for role partner")] = None,
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
) -> None:
    """Print a development JWT (HS256 with SEGFLOW_JWT_SECRET or the development secret)."""
    from services.runtime.auth import issue_token

    settings = _settings()
    try:
        tok = issue_token(
            settings, subject=subject, roles=role, customer_id=customer_id, partner_id=partner_id, ttl_s=ttl
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    typer.echo(tok)


@contracts_app.command("export")
def contracts_export(out: Annotated[Path | None, typer.Option(help="output folder")] = None) -> None:
    """Write JSON Schema per event and asyncapi.yaml into contracts/schemas/."""
    from contracts.export import SCHEMAS_DIR, export

    paths = export(out or SCHEMAS_DIR)
    console.print(f"wrote {len(paths)} files to {out or SCHEMAS_DIR}")


@contracts_app.command("check")
def contracts_check() -> None:
    """Fail when contracts/schemas/ is stale."""
    from contracts.export import SCHEMAS_DIR, check

    stale = check(SCHEMAS_DIR)
    for name in stale:
        console.print(f"[red]stale:[/red] {name}")
    if stale:
        console.print("run `segflow contracts export`")
        raise typer.Exit(1)
    console.print("[green]contracts/schemas is up to date[/green]")


@dlq_app.command("replay")
def dlq_replay(
    topic: Annotated[str | None, typer.Option(help="only records that failed on this topic")] = None,
    consumer: Annotated[str | None, typer.Option(help="only records this consumer dead-lettered")] = None,
) -> None:
    """Republish dead-lettered records to their original topics (after the cause is fixed)."""
    from services.runtime.bus import build_bus
    from services.runtime.consumer import replay_dlq

    settings = _settings()
    if not settings.kafka_bootstrap:
        console.print("[red]SEGFLOW_KAFKA_BOOTSTRAP is not set[/red] (embedded mode: POST /v1/dlq/replay)")
        raise typer.Exit(2)

    async def _run() -> int:
        bus = build_bus(_settings(mode="distributed", database_url=settings.database_url or "unused"))
        await bus.start()
        try:
            return await replay_dlq(bus, original_topic=topic, consumer=consumer)
        finally:
            await bus.stop()

    n = asyncio.run(_run())
    console.print(f"replayed {n} records")


def _register_service_commands() -> None:
    """Services may contribute a typer sub-app (``services.<name>.cli:app``), e.g. ``segflow audit``."""
    import importlib

    for name in ("audit", "classifier", "policy", "allocator", "gateway"):
        try:
            mod = importlib.import_module(f"services.{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name in (f"services.{name}.cli", f"services.{name}"):
                continue
            raise
        app.add_typer(mod.app, name=name)


_register_service_commands()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
