"""The ``smartprovince`` command: run, migrate, demo, worker, users, settings, audit, bus, and module commands."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from smartprovince.settings import Settings, get_settings

app = typer.Typer(help="Smart Province Platform — Nền tảng tỉnh thông minh.", no_args_is_help=True)
console = Console()


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (every module)."""
    from smartprovince.core.migrate import upgrade

    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    with console.status("Migrating database…"):
        upgrade(s.db_url)
    console.print(f"[green]Database up to date[/green]: {_safe_url(s.db_url)}")


@app.command("settings")
def show_settings() -> None:
    """Print every setting, its current value and its description."""
    s = get_settings()
    table = Table("Environment variable", "Value", "Description")
    for name, field in Settings.model_fields.items():
        value = getattr(s, name)
        if "secret" in name and value:
            value = "***"
        table.add_row(f"SMARTPROVINCE_{name.upper()}", str(value), field.description or "")
    console.print(table)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    from smartprovince.registry import load_modules

    for m in load_modules():
        if m.cli is not None:
            app.add_typer(m.cli, name=m.name)
    app()


@app.command()
def run(
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
    workers: int = typer.Option(1, help="Web server processes (production uses more, with PostgreSQL + NATS)."),
) -> None:
    """Migrate, load demo data on first start, and serve the platform (default http://127.0.0.1:8000)."""
    import uvicorn

    from smartprovince.core.migrate import upgrade

    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    s.secret()
    with console.status("Migrating database…"):
        upgrade(s.db_url)
    if s.load_demo:
        from smartprovince.demo.loader import ensure_demo, print_accounts

        ensure_demo(s, console)
        print_accounts(s, console)
    console.print(f"[bold green]Smart Province Platform[/bold green] → {s.public_url}")
    uvicorn.run(
        "smartprovince.app:create_app",
        factory=True,
        host=s.host,
        port=s.port,
        reload=reload,
        workers=None if reload else workers,
        log_config=None,
        proxy_headers=True,
    )


# `smartprovince demo load|reset|accounts` (the demo package owns these commands).
from smartprovince.demo.cli import app as _demo_app  # noqa: E402 - registered after the core commands

app.add_typer(_demo_app, name="demo")


audit_app = typer.Typer(help="Audit log (nhật ký kiểm toán): check that no entry was changed or removed.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit hash chain; exit 1 naming the first broken entry, 0 when the whole log is intact."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from smartprovince.core import audit
    from smartprovince.core.db import Database

    s = get_settings()
    db = Database(s.db_url)
    try:
        with db.session() as session:
            total = audit.count_entries(session)
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            with Progress(*columns, console=console, transient=True) as progress:
                task = progress.add_task("Checking audit entries", total=total)
                result = audit.verify(session, on_progress=lambda n: progress.update(task, completed=n))
    finally:
        db.dispose()
    if result.broken is None:
        console.print(f"[green]Audit log intact[/green]: {result.count} entries verified.")
        return
    broken = result.broken
    console.print(
        f"[red]Audit log broken[/red] at entry seq {broken.seq} (id {broken.id or 'none'}): {broken.reason}. "
        f"{result.count} entries before it are intact.",
        highlight=False,
    )
    raise typer.Exit(1)


# `smartprovince users create|token|list` — identity/cli.py does the work.
from smartprovince.identity.cli import users_app as _users_app  # noqa: E402 - registered after the core commands

app.add_typer(_users_app, name="users")


# `smartprovince orgs load|list-datasets` — the organisation tree (identity/orgs_loader.py does the work).
orgs_app = typer.Typer(help="Organisation tree: load a dataset or a CSV file (cây tổ chức).", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")


@orgs_app.command("list-datasets")
def orgs_list_datasets() -> None:
    """Print the organisation datasets shipped with the platform."""
    from smartprovince.identity.orgs_loader import list_datasets

    table = Table("Dataset", "Aliases", "As of", "Title")
    for ds in list_datasets():
        table.add_row(ds.name, ", ".join(ds.aliases), ds.as_of, ds.title)
    console.print(table)


@orgs_app.command("load")
def orgs_load(
    source: str = typer.Argument("hai-duong", help="A dataset name (see list-datasets) or a path to a CSV file."),
) -> None:
    """Create or update organisations from SOURCE (matched by code; running it again changes nothing)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from smartprovince.core.db import Database
    from smartprovince.core.errors import Problem
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.identity.orgs_loader import load_organisations

    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    with console.status("Migrating database…"):
        upgrade(s.db_url)
    db = Database(s.db_url)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
            task = bar.add_task(f"Loading {source}", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            with db.session() as session:
                result = load_organisations(session, source, actor=SYSTEM, progress=progress)
    except Problem as exc:
        console.print(f"[red]{exc.detail or exc.title}[/red]")
        for err in exc.extra.get("errors", []):
            console.print(f"  line {err['line']}: {err['message']}")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    console.print(
        f"[green]{result.source}[/green]: {result.total} organisations — "
        f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged."
    )
