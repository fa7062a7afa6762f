"""``smartprovince datahub warehouse …`` commands: sync, compact, status, tables, query."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

cli = typer.Typer(help="Kho dữ liệu dùng chung — shared data hub.", no_args_is_help=True)
warehouse_cli = typer.Typer(help="Kho phân tích — the analytics warehouse (DuckDB over Parquet).",
                            no_args_is_help=True)
cli.add_typer(warehouse_cli, name="warehouse")


def _settings_db() -> tuple[Any, Any]:
    from smartprovince.core.db import Database
    from smartprovince.settings import get_settings

    settings = get_settings()
    return settings, Database(settings.db_url)


@warehouse_cli.command("sync")
def sync_command(
    feed: list[str] = typer.Option(None, "--feed", help="Only this feed (repeat for several); default: all."),
    full: bool = typer.Option(False, "--full", help="Read the feeds again from the start and replace them."),
    deletions: bool = typer.Option(None, "--deletions/--no-deletions",
                                   help="Look for deleted rows now / not (default: once an hour)."),
) -> None:
    """Copy what changed since the last sync into the warehouse, with progress."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from smartprovince.datahub.warehouse import sync_warehouse

    settings, db = _settings_db()
    console = Console(stderr=True)
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,.0f} rows"),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            tasks: dict[str, Any] = {}

            def progress(message: str, done: int | None = None, total: int | None = None) -> None:
                if message not in tasks:
                    tasks[message] = bar.add_task(message, total=total)
                bar.update(tasks[message], completed=done or 0)

            result = sync_warehouse(db, settings, feeds=feed or None, full=full, progress=progress,
                                    deletions=deletions)
    finally:
        db.dispose()
    for name, n in sorted(result.items()):
        console.print(f"{name}: {n:,} rows")


@warehouse_cli.command("compact")
def compact_command(
    feed: list[str] = typer.Option(None, "--feed", help="Only this feed (repeat for several); default: all."),
) -> None:
    """Rewrite each feed's part files as one file with the newest row of each key."""
    from smartprovince.datahub.warehouse import compact
    from smartprovince.settings import get_settings

    for name, n in sorted(compact(get_settings(), feeds=feed or None).items()):
        typer.echo(f"{name}: {n:,} rows")


@warehouse_cli.command("status")
def status_command() -> None:
    """Print, per feed, the last sync, the rows it wrote, the number of part files and the watermark."""
    from smartprovince.datahub.warehouse import status
    from smartprovince.settings import get_settings

    info = status(get_settings())
    for entry in info["feeds"].values():
        wm = entry.get("watermark")
        entry["watermark"] = wm.get("upper") if isinstance(wm, dict) else wm  # the window's seen ids are long
    sys.stdout.write(json.dumps(info, ensure_ascii=False, indent=2, default=str) + "\n")


@warehouse_cli.command("tables")
def tables_command() -> None:
    """List the views the KPI engine can query, with their columns and types."""
    from smartprovince.datahub.warehouse import warehouse_tables
    from smartprovince.settings import get_settings

    for name, cols in warehouse_tables(get_settings()).items():
        typer.echo(f"{name}: " + ", ".join(f"{c} {t}" for c, t in cols))


@warehouse_cli.command("query")
def query_command(sql: str = typer.Argument(..., help="One SELECT over the warehouse views.")) -> None:
    """Run one SELECT over the warehouse and print the rows as JSON lines."""
    from smartprovince.core.errors import Problem
    from smartprovince.datahub.warehouse import warehouse_query
    from smartprovince.settings import get_settings

    try:
        rows = warehouse_query(get_settings(), sql)
    except Problem as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
