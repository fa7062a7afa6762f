"""Migrations: every module's branch upgrades on a fresh database (SQLite, and PostgreSQL when
``SMARTPROVINCE_TEST_DATABASE_URL`` is set), downgrades to nothing and upgrades again, and the
migrated schema matches the SQLAlchemy models exactly (autogenerate finds nothing to do)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import smartprovince
from smartprovince.core.db import Base, make_engine
from smartprovince.core.migrate import alembic_config, downgrade, upgrade
from smartprovince.registry import import_all_models

PG_URL = os.environ.get("SMARTPROVINCE_TEST_DATABASE_URL")

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new, empty database URL of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    assert PG_URL
    name = f"sp_mig_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def import_every_model() -> None:
    """Import every module of the package so ``Base.metadata`` holds every table, also the kernel's
    (``core/bus.py``, ``core/audit.py`` …) and those of modules not yet in the registry."""
    import_all_models()
    def broken(name: str) -> None:
        raise ImportError(f"cannot import {name}: its tables would be missed")

    for info in pkgutil.walk_packages(smartprovince.__path__, "smartprovince.", onerror=broken):
        if info.name.startswith("smartprovince.core.") or info.name.endswith((".models", ".module")):
            importlib.import_module(info.name)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _heads(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


def test_every_branch_follows_the_rules() -> None:
    """One branch per module: each ``*_0001`` root has no parent and a branch label (contracts.md)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    revisions = list(script.walk_revisions())
    roots = [r for r in revisions if r.down_revision is None]
    assert roots, "no migrations found"
    for rev in roots:
        assert rev.revision.endswith("_0001"), rev.revision
        assert rev.branch_labels, f"{rev.revision} has no branch label"
    ids = [r.revision for r in revisions]
    assert len(ids) == len(set(ids))


def test_upgrade_heads_creates_every_model_table(empty_db: str) -> None:
    upgrade(empty_db)
    import_every_model()
    script = ScriptDirectory.from_config(alembic_config(empty_db))
    # Alembic keeps only the tips in alembic_version; a revision another one depends on is implied.
    applied = {r.revision for r in script.revision_map.iterate_revisions(tuple(_heads(empty_db)), "base")}
    assert set(script.get_heads()) <= applied
    missing = set(Base.metadata.tables) - _tables(empty_db)
    assert not missing, f"tables of the models that no migration creates: {sorted(missing)}"


def test_downgrade_to_base_and_upgrade_again(empty_db: str) -> None:
    upgrade(empty_db)
    before = _tables(empty_db)
    downgrade(empty_db, "base")
    left = _tables(empty_db) - {"alembic_version"}
    assert not left, f"tables left after downgrade to base: {sorted(left)}"
    upgrade(empty_db)
    assert _tables(empty_db) == before


def test_models_match_migrations(empty_db: str) -> None:
    """Autogenerate compares the migrated schema with the models: nothing may differ."""
    upgrade(empty_db)
    import_every_model()
    engine = make_engine(empty_db)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], "models and migrations differ:\n" + "\n".join(map(str, diff))
