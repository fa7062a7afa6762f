"""``smartprovince feedback …`` commands: Open311 API keys, the SLA job, the notification sender, rebuild-stats."""

from __future__ import annotations

import typer
from rich.console import Console

cli = typer.Typer(help="Phản ánh hiện trường — citizen feedback and Open311.", no_args_is_help=True)


def _db():  # type: ignore[no-untyped-def]
    from smartprovince.core.db import Database
    from smartprovince.settings import get_settings

    return Database(get_settings().db_url)


@cli.command("create-key")
def create_key(
    name: str = typer.Argument(..., help="Name of the client application (e.g. 'Ứng dụng Hải Dương S')."),
    rate: int = typer.Option(60, "--rate", help="Requests per minute allowed to this application."),
) -> None:
    """Issue an Open311 API key for a client application and print it (it is shown only once)."""
    from smartprovince.core.errors import Problem
    from smartprovince.core.security import SYSTEM
    from smartprovince.feedback import service

    db = _db()
    try:
        with db.session() as s:
            client, key = service.create_api_client(s, actor=SYSTEM, name=name, rate_per_minute=rate)
    except Problem as exc:
        Console(stderr=True).print(f"[red]{exc.detail or exc.title}[/red]")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    typer.echo(key)


# `smartprovince open311 create-key NAME` — the name operators of Open311 deployments look for.
open311_cli = typer.Typer(help="Open311 GeoReport v2: API keys for client applications.", no_args_is_help=True)
open311_cli.command("create-key")(create_key)


@cli.command("check-sla")
def check_sla() -> None:
    """Run the SLA job once: warnings, escalations to the parent unit, auto-closing."""
    from smartprovince.core.security import SYSTEM
    from smartprovince.feedback import service

    db = _db()
    with db.session() as s:
        r = service.check_sla(s, actor=SYSTEM)
    db.dispose()
    Console().print(f"warned {len(r.warned)}, escalated {len(r.escalated)}, closed {len(r.closed)}")


@cli.command("send")
def send() -> None:
    """Send pending notifications (e-mail, SMS) once."""
    from smartprovince.feedback import notify
    from smartprovince.feedback.config import FeedbackSettings

    db = _db()
    n = notify.deliver_pending(db, FeedbackSettings())
    db.dispose()
    Console().print(f"sent {n}")


@cli.command("rebuild-stats")
def rebuild_stats() -> None:
    """Recount the statistics per unit and category from every report (after a bulk import)."""
    from smartprovince.feedback import stats

    db = _db()
    with db.session() as s:
        n = stats.rebuild(s)
    db.dispose()
    Console().print(f"{n} (unit, category) rows")
