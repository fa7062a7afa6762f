"""``smartprovince orgs load`` and ``orgs list-datasets`` as a person runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from smartprovince.cli import app
from smartprovince.settings import get_settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> CliRunner:
    monkeypatch.setenv("SMARTPROVINCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SMARTPROVINCE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_load_twice_then_bad_file(cli_env: CliRunner, tmp_path: Path) -> None:
    first = cli_env.invoke(app, ["orgs", "load", "hai-duong"])
    assert first.exit_code == 0, first.output
    assert "243 created" in first.output
    second = cli_env.invoke(app, ["orgs", "load", "hai-duong-2023"])
    assert second.exit_code == 0 and "0 created, 0 updated, 243 unchanged" in second.output
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,level,parent_code\nx,Đơn vị,unit,khong-co\n", encoding="utf-8")
    third = cli_env.invoke(app, ["orgs", "load", str(bad)])
    assert third.exit_code == 1
    assert "line 2: parent code 'khong-co' is unknown" in third.output


def test_list_datasets(cli_env: CliRunner) -> None:
    result = cli_env.invoke(app, ["orgs", "list-datasets"])
    assert result.exit_code == 0
    assert "hai-duong" in result.output and "hai-phong-2025" in result.output
