"""Demo data: first start loads organisations, roles and one account per kind of user, with
passwords generated then and kept (0600) in the data folder; a second start changes nothing; the
demo accounts can log in; every module's demo hook runs in ``demo_order``."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from smartprovince import identity
from smartprovince.core.db import Database
from smartprovince.demo import loader
from smartprovince.settings import Settings

KINDS = {
    "admin", "provincial_leader", "department_leader", "district_leader", "onestop_officer",
    "specialist", "ioc_operator", "security_analyst", "data_officer", "citizen",
}


@pytest.fixture
def hook_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the modules' demo hooks by two recording ones (module data has its own tests)."""
    calls: list[str] = []

    def first(db: Database, settings: Settings, progress: Any) -> None:
        progress("first", 1, 1)
        calls.append("first")

    def second(db: Database, settings: Settings, progress: Any) -> None:
        with db.session() as session:
            assert identity.get_user_by_username(session, "admin") is not None  # accounts exist before hooks
        progress("second", 0, None)
        calls.append("second")

    monkeypatch.setattr(loader, "module_hooks", lambda: [(10, "a", first), (20, "b", second)])
    return calls


def _console() -> Console:
    return Console(record=True, width=200, force_terminal=False)


def test_first_start_loads_everything_once(app: Any, settings: Settings, database: Database,
                                           hook_calls: list[str]) -> None:
    console = _console()
    assert loader.ensure_demo(settings, console, db=database) is True
    assert hook_calls == ["first", "second"]

    path = settings.data_dir / "demo-accounts.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text("utf-8"))["accounts"]
    assert {a["role"] for a in saved} == KINDS
    assert len({a["password"] for a in saved}) == len(saved), "each account gets its own password"

    with database.session() as session:
        orgs = session.scalar(select(func.count()).select_from(identity.Organisation))
        assert orgs and orgs > 200  # province, bodies, 12 districts, their communes
        citizen = identity.get_user_by_username(session, "congdan")
        assert citizen is not None and citizen.kind == "citizen"
        assert citizen.cccd and identity.is_valid_cccd(citizen.cccd)
        commune = identity.get_user_by_username(session, "motcua.xa")
        assert commune is not None and commune.org is not None and commune.org.level == "commune"

    # Second start: nothing happens, passwords stay the same.
    before = path.read_text("utf-8")
    assert loader.ensure_demo(settings, _console(), db=database) is False
    assert path.read_text("utf-8") == before
    assert hook_calls == ["first", "second"]

    # Passwords are generated at first start, never written in the code or the data file.
    here = Path(loader.__file__)
    source = here.read_text("utf-8") + (here.parent / "data/accounts.json").read_text("utf-8")
    assert not any(a["password"] in source for a in saved)

    # The demo accounts log in with the saved passwords.
    accounts = {a["username"]: a for a in saved}
    with TestClient(app) as client:
        for username in ("admin", "congdan", "motcua.xa"):
            password = accounts[username]["password"]
            r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
        r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong-password"})
        assert r.status_code in (401, 429)

    # The table printed by `make run` shows each account with its organisation and password.
    console = _console()
    loader.print_accounts(settings, console)
    text = console.export_text()
    for username, account in accounts.items():
        assert username in text and account["password"] in text
    assert "Sở Y tế" in text and "Thị trấn Lai Cách" in text


def test_cli_load_and_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook_calls: list[str]) -> None:
    from smartprovince.cli import app as cli_app
    from smartprovince.settings import get_settings

    full = loader.load_spec()
    # Two accounts are enough to see the commands work (password hashing is slow on purpose).
    small = loader.DemoSpec(full.dataset, [full.accounts[0], full.accounts[-1]])
    monkeypatch.setattr(loader, "load_spec", lambda: small)

    data = tmp_path / "var"
    monkeypatch.setenv("SMARTPROVINCE_DATA_DIR", str(data))
    monkeypatch.delenv("SMARTPROVINCE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(cli_app, ["demo", "load"])
        assert r.exit_code == 0, r.output
        first = loader.read_accounts(get_settings())
        assert "admin" in r.output and first[0]["password"] in r.output

        r = runner.invoke(cli_app, ["demo", "load"])
        assert r.exit_code == 0 and "already loaded" in r.output

        r = runner.invoke(cli_app, ["demo", "reset"], input="n\n")
        assert r.exit_code != 0
        assert loader.read_accounts(get_settings()) == first

        r = runner.invoke(cli_app, ["demo", "reset", "--yes"])
        assert r.exit_code == 0, r.output
        second = loader.read_accounts(get_settings())
        assert [a["username"] for a in second] == [a["username"] for a in first]
        assert second[0]["password"] != first[0]["password"]
    finally:
        get_settings.cache_clear()
