"""Shared fixtures. The schema is migrated once per run into a template database; each test gets a copy.

Set ``SMARTPROVINCE_TEST_DATABASE_URL`` (PostgreSQL), ``SMARTPROVINCE_TEST_BUS_URL`` (nats://…) and
``SMARTPROVINCE_TEST_MQTT_URL`` to run the same tests against real servers (``.ci/run`` does).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from smartprovince.core import clock
from smartprovince.core.db import Database
from smartprovince.core.migrate import upgrade
from smartprovince.settings import Settings

TEST_DB_URL = os.environ.get("SMARTPROVINCE_TEST_DATABASE_URL")
TEST_BUS_URL = os.environ.get("SMARTPROVINCE_TEST_BUS_URL", "inprocess")
TEST_MQTT_URL = os.environ.get("SMARTPROVINCE_TEST_MQTT_URL")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _pg_admin_url() -> str:
    assert TEST_DB_URL
    return make_url(TEST_DB_URL).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database: a SQLite file path, or a PostgreSQL database name."""
    if TEST_DB_URL:
        name = f"sp_tmpl_{_worker()}_{os.getpid()}"
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        upgrade(make_url(TEST_DB_URL).set(database=name).render_as_string(hide_password=False))
        yield name
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        upgrade(f"sqlite:///{path}")
        Database(f"sqlite:///{path}").engine.dispose()
        yield str(path)


@pytest.fixture
def db_url(template_db: str, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the migrated template for one test."""
    if TEST_DB_URL:
        name = f"sp_t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
        yield make_url(TEST_DB_URL).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        path = tmp_path / "test.db"
        shutil.copyfile(template_db, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=db_url,
        bus_url=TEST_BUS_URL,
        mqtt_url=TEST_MQTT_URL,
        secret_key="test-secret-key-not-for-production",
        load_demo=False,
        log_json=True,
        bus_retry_base_seconds=0.01,
    )


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.db_url)
    yield db
    db.dispose()


@pytest.fixture
def app(settings: Settings, database: Database):  # type: ignore[no-untyped-def]
    from smartprovince.app import create_app

    return create_app(settings, db=database)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def frozen_clock() -> Iterator[list]:
    """Freeze the platform clock; tests move it with ``frozen_clock[0] = datetime(...)``."""
    from datetime import UTC, datetime

    current = [datetime(2026, 3, 2, 2, 0, tzinfo=UTC)]
    clock.set_clock(lambda: current[0])
    yield current
    clock.set_clock(None)


@pytest.fixture
def drain(app):  # type: ignore[no-untyped-def]
    """Call ``drain()`` to process every pending event of ``app`` now (in-process or NATS, as configured)."""
    from smartprovince.core.bus import bus_of

    bus = bus_of(app)
    yield lambda: bus.drain()
    bus.stop()
