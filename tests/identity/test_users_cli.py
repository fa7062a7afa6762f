"""``smartprovince users create | token | list`` as an administrator runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from smartprovince.cli import app as cli
from smartprovince.settings import get_settings


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Iterator[CliRunner]:
    monkeypatch.setenv("SMARTPROVINCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SMARTPROVINCE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_create_token_list(runner: CliRunner, make_org, app) -> None:  # type: ignore[no-untyped-def]
    make_org("30", "Tỉnh Hải Dương", "province")
    created = runner.invoke(cli, ["users", "create", "quantri", "--role", "admin", "--org", "30",
                                  "--full-name", "Quản Trị Viên"])
    assert created.exit_code == 0, created.output
    assert "quantri" in created.output and "Mật khẩu" in created.output  # a generated password is shown

    fixed = runner.invoke(cli, ["users", "create", "lanhdao", "--role", "provincial_leader", "--org", "30",
                                "--password", "mat-khau-dai-1"])
    assert fixed.exit_code == 0 and "Mật khẩu" not in fixed.output

    again = runner.invoke(cli, ["users", "create", "quantri", "--role", "admin"])
    assert again.exit_code == 1 and "quantri" in again.output
    assert runner.invoke(cli, ["users", "create", "x2", "--org", "khong-co"]).exit_code == 1
    assert runner.invoke(cli, ["users", "create", "x3", "--role", "khong_co"]).exit_code == 1

    listed = runner.invoke(cli, ["users", "list"])
    assert listed.exit_code == 0
    assert "quantri" in listed.output and "admin@30" in listed.output and "lanhdao" in listed.output

    token = runner.invoke(cli, ["users", "token", "quantri"])
    assert token.exit_code == 0
    value = token.output.strip().splitlines()[-1]  # migration log lines may precede it
    assert value.startswith("spt_")
    with TestClient(app) as c:
        me = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {value}"})
        assert me.status_code == 200 and me.json()["username"] == "quantri"
        login = c.post("/api/v1/auth/login", json={"username": "lanhdao", "password": "mat-khau-dai-1"})
        assert login.status_code == 200
    assert runner.invoke(cli, ["users", "token", "khong-co-ai"]).exit_code == 1
