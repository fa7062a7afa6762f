"""The README documents every setting (regenerate with ``python scripts/settings_table.py --write``)
and lists every demo account."""

from __future__ import annotations

from pathlib import Path

from smartprovince.demo.loader import load_spec
from smartprovince.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")


def test_readme_starts_with_the_two_commands() -> None:
    block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_readme_lists_every_setting() -> None:
    names = [f"SMARTPROVINCE_{n.upper()}" for n in Settings.model_fields]
    missing = [name for name in names if f"`{name}`" not in README]
    assert not missing, f"README misses {missing}: run `python scripts/settings_table.py --write`"


def test_readme_lists_every_demo_account() -> None:
    for account in load_spec().accounts:
        assert f"`{account.username}`" in README, account.username
        assert f"`{account.role}`" in README, account.role
