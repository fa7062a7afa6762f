"""``smartprovince datahub …`` commands: define datasets from a file, load a file, pull from an agency API."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

cli = typer.Typer(help="Kho dữ liệu dùng chung — data hub loads and scheduled pulls.", no_args_is_help=True)


def _db():  # type: ignore[no-untyped-def]
    from smartprovince.core.db import Database
    from smartprovince.settings import get_settings

    return Database(get_settings().db_url)


@cli.command("pull")
def pull(dataset: str = typer.Argument(..., help="Name of the dataset whose source to pull now.")) -> None:
    """Pull a dataset from its agency API now and print the run (the same check as an upload)."""
    from smartprovince.core.errors import Problem
    from smartprovince.core.security import SYSTEM
    from smartprovince.datahub import sources
    from smartprovince.datahub.config import DatahubSettings
    from smartprovince.settings import get_settings

    db = _db()
    try:
        with db.session() as s:
            run = sources.pull(s, actor=SYSTEM, name=dataset, data_dir=get_settings().data_dir,
                               config=DatahubSettings(), trigger="cli")
    except Problem as exc:
        Console(stderr=True).print(f"[red]{exc.detail or exc.title}[/red]")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    Console().print(f"{dataset}: {run.status}; rows {run.valid_rows}/{run.total_rows}, errors {run.error_count}"
                    + (f"; {run.error}" if run.error else ""))
    if run.status in ("failed", "rejected"):
        raise typer.Exit(2)


@cli.command("run-due")
def run_due() -> None:
    """Pull every dataset whose schedule is due, once (for cron instead of the in-app scheduler)."""
    from smartprovince.datahub import scheduler
    from smartprovince.datahub.config import DatahubSettings
    from smartprovince.settings import get_settings

    db = _db()
    try:
        runs = scheduler.run_due(db, DatahubSettings(), get_settings().data_dir)
    finally:
        db.dispose()
    Console().print(f"{len(runs)} pulls: " + ", ".join(r.status for r in runs))


@cli.command("load")
def load(
    dataset: str = typer.Argument(..., help="Name of the dataset."),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, XLSX or JSON file (any size)."),
    mode: str = typer.Option("replace", help="replace, append or upsert."),
    skip_invalid: bool = typer.Option(False, help="Store the valid rows even when some rows have errors."),
) -> None:
    """Load a file into a dataset (for files larger than the web upload accepts) and print the report."""
    from smartprovince.core.errors import Problem
    from smartprovince.core.security import SYSTEM
    from smartprovince.datahub import service
    from smartprovince.settings import get_settings

    db = _db()
    try:
        with db.session() as s:
            result = service.load_file(s, actor=SYSTEM, name=dataset, source=file, filename=file.name,
                                       data_dir=get_settings().data_dir, skip_invalid=skip_invalid, mode=mode)
    except Problem as exc:
        Console(stderr=True).print(f"[red]{exc.detail or exc.title}[/red]")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    Console().print(f"{dataset}: {result.status} ({mode}); rows {result.valid_rows}/{result.total_rows}, "
                    f"errors {result.error_count}")
    for e in result.errors[:20]:
        Console().print(f"  row {e['row']} {e['field'] or ''} {e['code']}: {e['message']}")
    if result.status == "rejected":
        raise typer.Exit(2)


@cli.command("define")
def define(
    file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                help="JSON file: one dataset definition or a list of them (a sector pack)."),
) -> None:
    """Define datasets from a file (name, org_id, title, fields, key …); an existing dataset is updated."""
    import json

    from smartprovince.core.errors import NotFound, Problem
    from smartprovince.core.security import SYSTEM
    from smartprovince.datahub import queries, service

    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        Console(stderr=True).print(f"[red]{file.name}: not a JSON file ({exc})[/red]")
        raise typer.Exit(1) from exc
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        Console(stderr=True).print("[red]Each definition must be an object with a name.[/red]")
        raise typer.Exit(1)
    db = _db()
    try:
        # One transaction: a bad definition anywhere in the pack leaves every dataset as it was.
        with db.session() as s:
            done = []
            for item in items:
                values = {k: v for k, v in item.items() if k in service.DEFINITION_KEYS}
                try:
                    queries.access_dataset(s, SYSTEM, item["name"], manage=True)
                except NotFound:
                    service.define_dataset(s, actor=SYSTEM, name=item["name"], org_id=str(item.get("org_id", "")),
                                           **values)
                    done.append(f"{item['name']}: defined")
                else:
                    service.update_dataset(s, actor=SYSTEM, name=item["name"], **values)
                    done.append(f"{item['name']}: updated")
    except Problem as exc:
        Console(stderr=True).print(f"[red]{item['name']}: {exc.detail or exc.title}[/red]")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    for line in done:
        Console().print(line)


# `smartprovince datahub load|pull|run-due` join the warehouse commands in the module's command group.
from smartprovince.datahub import warehouse_cli  # noqa: E402 - after the commands above are defined

warehouse_cli.cli.registered_commands.extend(cli.registered_commands)
group = warehouse_cli.cli
"""The module's command group ``smartprovince datahub`` (named in the manifest, imported by the CLI only)."""
