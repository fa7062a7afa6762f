"""``smartprovince users …`` — create users, list them, print a bearer token (mounted in ``smartprovince.cli``)."""

from __future__ import annotations

import secrets

import typer
from rich.console import Console
from rich.table import Table

users_app = typer.Typer(help="Người dùng — create users, list them, issue API tokens.", no_args_is_help=True)
console = Console()


def _database():  # type: ignore[no-untyped-def]
    from smartprovince.core.db import Database
    from smartprovince.core.migrate import upgrade
    from smartprovince.settings import get_settings

    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(s.db_url)
    return s, Database(s.db_url)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(1)


@users_app.command("create")
def create(
    name: str = typer.Argument(..., help="Login name (tên đăng nhập)."),
    role: list[str] = typer.Option(["specialist"], "--role", help="Role code; repeat for several roles."),
    org: str | None = typer.Option(None, "--org", help="Organisation code (or id); also the scope of the roles."),
    password: str | None = typer.Option(None, "--password", help="Password; a random one is printed when omitted."),
    full_name: str | None = typer.Option(None, "--full-name", help="Full name (họ và tên)."),
    kind: str = typer.Option("officer", "--kind", help="officer or citizen."),
    cccd: str | None = typer.Option(None, "--cccd", help="12-digit citizen ID (citizens)."),
    email: str | None = typer.Option(None, "--email"),
) -> None:
    """Create a user with roles scoped to an organisation (admin role without --org = the whole province)."""
    from smartprovince.core.errors import Problem
    from smartprovince.core.security import SYSTEM
    from smartprovince.identity import queries, service
    from smartprovince.identity.roles import sync_builtin_roles

    settings, db = _database()
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        with db.session() as session:
            sync_builtin_roles(session)
            org_row = None
            if org:
                org_row = queries.get_org_by_code(session, org) or queries.get_org(session, org)
                if org_row is None:
                    raise _fail(f"Không có tổ chức {org} (unknown organisation). Load one: smartprovince orgs load")
            org_id = org_row.id if org_row else None
            user = service.create_user(
                session, actor=SYSTEM, username=name, password=password, full_name=full_name or name, kind=kind,
                org_id=org_id, roles=[(r, org_id) for r in role], cccd=cccd, email=email,
            )
            username = user.username
    except Problem as exc:
        raise _fail(exc.detail or exc.title) from exc
    finally:
        db.dispose()
    console.print(f"[green]Đã tạo người dùng (user created)[/green]: {username} — roles {', '.join(role)}"
                  + (f" @ {org}" if org else ""))
    if generated:
        console.print(f"Mật khẩu (password): [bold]{password}[/bold]")


@users_app.command("token")
def token(
    name: str = typer.Argument(..., help="Login name of the user."),
    label: str = typer.Option("cli", "--name", help="A name for the token, to recognise it later."),
    days: int | None = typer.Option(None, "--days", help="Lifetime in days (default: token_days setting; 0 = never)."),
) -> None:
    """Print a new bearer token for NAME (use it as ``Authorization: Bearer <token>``)."""
    from smartprovince.core.errors import Problem
    from smartprovince.identity import queries, service

    settings, db = _database()
    try:
        with db.session() as session:
            user = queries.get_user_by_username(session, name)
            if user is None or not user.active:
                raise _fail(f"Không có người dùng {name} (unknown or inactive user).")
            value = service.issue_token(session, user_id=user.id, name=label, days=days, settings=settings)
    except Problem as exc:
        raise _fail(exc.detail or exc.title) from exc
    finally:
        db.dispose()
    typer.echo(value)


@users_app.command("list")
def list_users(
    org: str | None = typer.Option(None, "--org", help="Only users of this organisation code."),
    limit: int = typer.Option(200, "--limit", help="At most this many users."),
) -> None:
    """List users with their organisation and roles."""
    from sqlalchemy import select

    from smartprovince.identity import queries
    from smartprovince.identity.models import User

    _settings, db = _database()
    table = Table("Username", "Full name", "Kind", "Organisation", "Roles", "Active")
    try:
        with db.session() as session:
            stmt = select(User).order_by(User.username).limit(limit)
            if org:
                org_row = queries.get_org_by_code(session, org)
                if org_row is None:
                    raise _fail(f"Không có tổ chức {org} (unknown organisation).")
                stmt = stmt.where(User.org_id == org_row.id)
            for u in session.scalars(stmt):
                roles = ", ".join(
                    a.role.code + (f"@{a.scope_org.code}" if a.scope_org else "") for a in u.assignments
                )
                table.add_row(u.username, u.full_name, u.kind, u.org.name if u.org else "—", roles,
                              "yes" if u.active else "no")
    finally:
        db.dispose()
    console.print(table)


def load_areas_command(
    file: str = typer.Argument(..., help="A GeoJSON FeatureCollection of Polygon / MultiPolygon features."),
    code_property: str = typer.Option("code", "--code-property", help="Feature property that holds the unit's "
                                      "statistics-office code (mã đơn vị hành chính)."),
) -> None:
    """Load official area polygons (địa giới chính thức) keyed by statistics-office code.

    Mounted as ``smartprovince orgs load-areas FILE.geojson``. The whole file is checked first; nothing is
    written when a feature is bad. Districts and the province that the file lacks become the union of their
    communes.
    """
    from smartprovince.core.errors import Problem
    from smartprovince.core.security import SYSTEM
    from smartprovince.identity.areas import areas_summary, load_areas

    _settings, db = _database()
    try:
        with db.session() as session:
            result = load_areas(session, file, actor=SYSTEM, code_property=code_property)
            summary = areas_summary(session)
    except Problem as exc:
        console.print(f"[red]{exc.detail or exc.title}[/red]")
        for err in exc.extra.get("errors", []):
            console.print(f"  feature {err['feature']}: {err['message']}")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    console.print(f"[green]{result.source}[/green]: {result.loaded} areas loaded, {result.unchanged} unchanged, "
                  f"{result.derived} districts / provinces derived from their communes.")
    for level, sources in sorted(summary.items()):
        console.print(f"  {level}: " + ", ".join(f"{n} {src}" for src, n in sorted(sources.items())))
