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


TEST_PASSWORD = "mat-khau-thu-nghiem-1"  # noqa: S105 - the password of users made by make_user in tests


@pytest.fixture
def make_org(database: Database):  # type: ignore[no-untyped-def]
    """Create an organisation: ``make_org("hd", "Tỉnh Hải Dương", "province", parent="…code")`` → Organisation."""
    from smartprovince import identity
    from smartprovince.core.security import SYSTEM

    def _make(code: str, name: str | None = None, level: str = "unit", *, parent: str | None = None):  # type: ignore[no-untyped-def]
        with database.session() as s:
            parent_row = identity.get_org_by_code(s, parent) if parent else None
            return identity.create_organisation(s, actor=SYSTEM, code=code, name=name or code, level=level,
                                                parent_id=parent_row.id if parent_row else None)

    return _make


@pytest.fixture
def make_user(database: Database):  # type: ignore[no-untyped-def]
    """Create a user: ``make_user("an", role="admin", org="30")`` → User (password ``TEST_PASSWORD``).

    ``org`` is the code (or id) of the user's organisation; the roles are scoped to it (``None`` = the
    whole tree). ``roles=[("specialist", "code"), …]`` gives several roles with their own scopes.
    """
    from smartprovince import identity
    from smartprovince.core.security import SYSTEM

    counter = iter(range(1, 1_000_000))

    def _make(username: str | None = None, *, role: str | None = "specialist", org: str | None = None,
              roles: list[tuple[str, str | None]] | None = None, kind: str = "officer",
              password: str | None = TEST_PASSWORD, full_name: str | None = None, **extra):  # type: ignore[no-untyped-def]
        username = username or f"user{next(counter)}"
        with database.session() as s:
            identity.sync_builtin_roles(s)

            def org_id(code: str | None) -> str | None:
                if code is None:
                    return None
                row = identity.get_org_by_code(s, code) or identity.get_org(s, code)
                assert row is not None, f"make_user: no organisation {code!r}; create it with make_org"
                return row.id

            pairs = [(r, org_id(c)) for r, c in roles] if roles is not None else (
                [(role, org_id(org))] if role else [])
            return identity.create_user(s, actor=SYSTEM, username=username, password=password,
                                        full_name=full_name or username, kind=kind, org_id=org_id(org),
                                        roles=pairs, **extra)

    return _make


@pytest.fixture
def login(client):  # type: ignore[no-untyped-def]
    """Log ``client`` (or ``using=`` another TestClient) in with a cookie session; returns the CSRF token.

    The token is also set as the client's ``X-CSRF-Token`` header, so unsafe calls just work.
    """

    def _login(user, password: str = TEST_PASSWORD, *, using=None) -> str:  # type: ignore[no-untyped-def]
        c = using or client
        username = user if isinstance(user, str) else user.username
        r = c.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        token = r.json()["csrf_token"]
        c.headers["x-csrf-token"] = token
        return token

    return _login


# --------------------------------------------------------------------------------- browser tests
# Headless Debian Chromium driven by Playwright, against the app served by uvicorn in a thread.
# Tests skip (not fail) only when Chromium is absent.

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve() -> Iterator:  # type: ignore[type-arg]
    """``serve(app) -> base URL``: run ``app`` on a free local port until the test ends."""
    import threading
    import time

    import uvicorn

    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app) -> str:  # type: ignore[no-untyped-def]
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        running.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def browser_viewport() -> dict[str, int]:
    """Viewport of the ``page`` fixture; a test module overrides this fixture to change it."""
    return {"width": 1280, "height": 800}


@pytest.fixture
def chromium():  # type: ignore[no-untyped-def]
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, browser_viewport):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport=browser_viewport, locale="vi-VN")
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    context.close()


@pytest.fixture
def sign_in():  # type: ignore[no-untyped-def]
    """``sign_in(page, base, username, password=TEST_PASSWORD)``: log a browser page in through the login form."""

    def _sign_in(page, base: str, username: str, password: str = TEST_PASSWORD) -> None:  # type: ignore[no-untyped-def]
        page.goto(base + "/login")
        page.get_by_label("Tên đăng nhập").fill(username)
        page.get_by_label("Mật khẩu").fill(password)
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(base + "/**")

    return _sign_in


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where browser tests save screenshots: ``SMARTPROVINCE_SCREENSHOTS`` or a temporary folder."""
    folder = Path(os.environ.get("SMARTPROVINCE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
