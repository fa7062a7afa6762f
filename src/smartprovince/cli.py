"""The ``smartprovince`` command: run, migrate, demo, worker, users, settings, audit, bus, and module commands."""

from __future__ import annotations

from typing import Any

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


_mounted = False


def _command_group(ref: Any) -> typer.Typer:
    """A module's Typer app, given as itself or as ``"package.module:attribute"`` (imported now)."""
    if isinstance(ref, str):
        import importlib

        module_name, _, attribute = ref.partition(":")
        group: typer.Typer = getattr(importlib.import_module(module_name), attribute)
        return group
    return ref  # type: ignore[no-any-return]


def mount_module_commands() -> typer.Typer:
    """Add every module's command groups (``smartprovince procedures …``, ``open311 …``) once; returns the app."""
    global _mounted
    if not _mounted:
        from smartprovince.registry import load_modules

        for m in load_modules():
            if m.cli is not None:
                app.add_typer(_command_group(m.cli), name=m.name)
            for name, group in m.extra_cli.items():
                app.add_typer(_command_group(group), name=name)
        _mounted = True
    return app


def main() -> None:
    mount_module_commands()()


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
from smartprovince.identity.cli import load_areas_command as _load_areas_command  # noqa: E402
from smartprovince.identity.cli import users_app as _users_app  # noqa: E402 - registered after the core commands

app.add_typer(_users_app, name="users")


# `smartprovince orgs load|list-datasets` — the organisation tree (identity/orgs_loader.py does the work).
orgs_app = typer.Typer(help="Organisation tree: load a dataset or a CSV file (cây tổ chức).", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
orgs_app.command("load-areas")(_load_areas_command)  # identity/cli.py: official polygons keyed by code


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


# `smartprovince worker` and `smartprovince bus dead|replay|stats` — the event bus (core/bus.py does the work).
bus_app = typer.Typer(help="Event bus: dead letters and replay (hàng đợi sự kiện).", no_args_is_help=True)
app.add_typer(bus_app, name="bus")


@app.command()
def worker() -> None:
    """Deliver events without the web server: the outbox dispatcher (or NATS relay) and every handler.

    Production runs one or more workers next to the web processes; stop it with Ctrl+C or SIGTERM.
    """
    import signal
    import threading

    from smartprovince.core.bus import Bus, handlers
    from smartprovince.core.db import Database
    from smartprovince.core.migrate import upgrade
    from smartprovince.registry import load_modules

    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    with console.status("Migrating database…"):
        upgrade(s.db_url)
    load_modules()  # importing the manifests registers every module's event handlers
    db = Database(s.db_url)
    from smartprovince.core import calendar

    calendar.bind_database(db)  # handlers that compute working days without a session read this database
    bus = Bus(s, db)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    bus.start()
    names = ", ".join(h.name for h in handlers()) or "none"
    console.print(f"[green]Event worker running[/green] ({bus.backend}, {_safe_url(s.db_url)}); handlers: {names}")
    try:
        while not stop.wait(1.0):
            pass
    finally:
        with console.status("Stopping…"):
            bus.stop()
            db.dispose()
    console.print("Event worker stopped; undelivered events stay in the outbox.")


@bus_app.command("dead")
def bus_dead(
    status: str = typer.Option("open", help="open (not replayed), replayed or all."),
    limit: int = typer.Option(50, min=1, max=500, help="How many to show (newest first)."),
) -> None:
    """List dead letters: events a handler failed to process after every retry."""
    from rich.markup import escape

    from smartprovince.core.bus import list_dead_letters
    from smartprovince.core.db import Database

    if status not in {"open", "replayed", "all"}:
        raise typer.BadParameter("status must be open, replayed or all")
    s = get_settings()
    db = Database(s.db_url)
    lines: list[str] = []
    try:
        with db.session() as session:
            rows, _ = list_dead_letters(session, status=status, limit=limit)
            for dl in rows:
                last_line = (dl.error.strip().splitlines() or [""])[-1][:200]
                replayed = f" · replayed {dl.replayed_at:%Y-%m-%d %H:%M} by {dl.replayed_by}" if dl.replayed_at else ""
                lines.append(
                    f"[bold]{dl.id}[/bold]  {dl.dead_at:%Y-%m-%d %H:%M:%S} UTC  {escape(dl.topic)} → "
                    f"{escape(dl.handler)}  ({dl.attempts} attempts){replayed}"
                )
                lines.append(f"    [red]{escape(last_line)}[/red]")
    finally:
        db.dispose()
    if not lines:
        console.print("No dead letters.")
    for line in lines:
        console.print(line, soft_wrap=True)


@bus_app.command("replay")
def bus_replay(
    dead_letter_id: str = typer.Argument(..., help="Id of the dead letter (see `smartprovince bus dead`)."),
) -> None:
    """Deliver a dead-lettered event to its handler again (a running worker or web server picks it up)."""
    from smartprovince.core.bus import replay_dead_letter
    from smartprovince.core.db import Database
    from smartprovince.core.errors import Problem
    from smartprovince.core.security import SYSTEM

    s = get_settings()
    db = Database(s.db_url)
    try:
        with db.session() as session:
            dl = replay_dead_letter(session, actor=SYSTEM, dead_letter_id=dead_letter_id)
            topic, handler = dl.topic, dl.handler
    except Problem as exc:
        console.print(f"[red]{exc.detail or exc.title}[/red]")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    console.print(f"[green]Replay queued[/green]: {topic} → {handler}")


@bus_app.command("stats")
def bus_stats_cmd() -> None:
    """Print the bus counters: pending events, retries, processed, dead letters."""
    from smartprovince.core.bus import bus_stats
    from smartprovince.core.db import Database

    s = get_settings()
    db = Database(s.db_url)
    try:
        with db.session() as session:
            counts = bus_stats(session)
    finally:
        db.dispose()
    table = Table("Counter", "Value")
    for name, value in counts.items():
        table.add_row(name, str(value))
    console.print(table)
