"""``smartprovince demo load`` / ``demo reset`` / ``demo accounts`` — the reference province's demo data."""

from __future__ import annotations

import typer
from rich.console import Console

from smartprovince.settings import get_settings

app = typer.Typer(help="Demo data of the reference province (Hải Dương).", no_args_is_help=True)
console = Console()


def _migrate() -> None:
    from smartprovince.core.migrate import upgrade

    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    with console.status("Migrating database…"):
        upgrade(s.db_url)


@app.command("load")
def load() -> None:
    """Migrate, then load the demo data when this database has none yet; print the demo accounts."""
    from smartprovince.demo.loader import ensure_demo, print_accounts

    s = get_settings()
    _migrate()
    if not ensure_demo(s, console):
        console.print("Demo data already loaded (nothing to do).")
    print_accounts(s, console)


@app.command("reset")
def reset(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Delete ALL data of this installation, migrate again and load fresh demo data (new passwords)."""
    from smartprovince.demo.loader import ensure_demo, print_accounts, reset_database

    s = get_settings()
    if not yes:
        typer.confirm(
            f"This deletes every table of {s.db_url.split('@')[-1]} and all demo passwords. Continue?",
            abort=True,
        )
    reset_database(s)
    _migrate()
    ensure_demo(s, console)
    print_accounts(s, console)


@app.command("accounts")
def accounts() -> None:
    """Print the demo accounts and their passwords (kept in DATA_DIR/demo-accounts.json)."""
    from smartprovince.demo.loader import print_accounts

    print_accounts(get_settings(), console)
