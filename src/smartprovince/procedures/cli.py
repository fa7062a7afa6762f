"""``smartprovince procedures …`` commands: statistics export, rebuilding the daily statistics, catalog import."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import typer

cli = typer.Typer(help="Thủ tục hành chính — administrative procedures.", no_args_is_help=True)


def _parse_day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{name} must be a date like 2023-01-01") from exc


@cli.command("stats")
def stats_command(
    date_from: str = typer.Option(..., "--from", help="First day of the period (YYYY-MM-DD)."),
    date_to: str = typer.Option(..., "--to", help="Last day of the period (YYYY-MM-DD), included."),
    agency: str | None = typer.Option(None, "--agency", help="Organisation code; its whole subtree is counted."),
    procedure: str | None = typer.Option(None, "--procedure", help="Only this procedure code."),
    fmt: str = typer.Option("csv", "--format", help="csv or json."),
) -> None:
    """Print the Decision 766 statistics per agency × procedure for a period (CSV or JSON)."""
    from smartprovince.core.db import Database
    from smartprovince.procedures import stats
    from smartprovince.settings import get_settings

    if fmt not in ("csv", "json"):
        raise typer.BadParameter("--format must be csv or json")
    first, last = _parse_day(date_from, "--from"), _parse_day(date_to, "--to")
    if last < first:
        raise typer.BadParameter("--to must not be before --from")
    db = Database(get_settings().db_url)
    try:
        with db.session() as s:
            result = stats.compute(s, first, last, agency=agency, procedure=procedure)
    finally:
        db.dispose()
    if fmt == "json":
        sys.stdout.write(json.dumps(result.model_dump(), ensure_ascii=False, indent=1) + "\n")
    else:
        sys.stdout.write(stats.to_csv(result).lstrip("\ufeff"))


@cli.command("rebuild-stats")
def rebuild_stats_command() -> None:
    """Recompute the daily statistics table from the dossiers (after a restore or a manual data fix)."""
    from smartprovince.core.db import Database
    from smartprovince.procedures import daily
    from smartprovince.settings import get_settings

    def progress(done: int, total: int) -> None:
        typer.echo(f"  {done:,}/{total:,}", err=True)

    db = Database(get_settings().db_url)
    try:
        with db.session() as s:
            read, written = daily.rebuild(s, progress)
    finally:
        db.dispose()
    typer.echo(f"{read:,} dossiers read, {written:,} daily rows written")


@cli.command("import-catalog")
def import_catalog_command(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON or CSV catalog file."),
) -> None:
    """Import procedures from a JSON or CSV file (new versions for changed procedures; a JSON file's
    ``superseded`` object retires old codes in favour of new ones)."""
    from smartprovince.core.db import Database
    from smartprovince.core.errors import Problem
    from smartprovince.core.security import SYSTEM
    from smartprovince.procedures import catalog
    from smartprovince.settings import get_settings

    db = Database(get_settings().db_url)
    try:
        with db.session() as s:
            result = catalog.import_file(s, actor=SYSTEM, data=path.read_bytes(), filename=path.name)
    except Problem as exc:
        typer.echo(f"{exc.title}: {exc.detail}", err=True)
        for e in exc.extra.get("errors", [])[:20]:
            typer.echo(f"  {'.'.join(str(x) for x in e['loc'])}: {e['msg']}", err=True)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    typer.echo(f"created {len(result.created)}, new versions {len(result.updated)}, unchanged {len(result.unchanged)}"
               f", superseded {len(result.superseded)}")
