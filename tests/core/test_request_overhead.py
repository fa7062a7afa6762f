"""What keeps a public GET cheap (issue #3): the process's long-lived objects are frozen for the collector, …"""

from __future__ import annotations

import gc

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from smartprovince.app import _install_error_handlers
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import Conflict


def test_startup_freezes_the_long_lived_objects_and_shutdown_thaws_them(app) -> None:
    before = gc.get_freeze_count()
    with TestClient(app) as client:
        # Routes, tables and schemas are out of the collector's view while the app serves.
        assert gc.get_freeze_count() > before + 10_000
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0  # a test process builds many apps; none stays frozen


# … and the request's database session costs one trip to the thread pool (its end), not two.


def _app_with_routes(database):  # type: ignore[no-untyped-def]
    """A bare app using the platform's ``DbSession``: a route that writes, one that writes then fails, one idle."""
    app = FastAPI()
    app.state.db = database
    _install_error_handlers(app)

    @app.post("/write")
    def write(session: DbSession) -> dict[str, bool]:
        session.execute(text("INSERT INTO probe (name) VALUES ('kept')"))
        return {"ok": True}

    @app.post("/write-then-fail")
    def write_then_fail(session: DbSession) -> dict[str, bool]:
        session.execute(text("INSERT INTO probe (name) VALUES ('half')"))
        raise Conflict("refused after writing")

    @app.post("/write-then-crash")
    async def write_then_crash(session: DbSession) -> dict[str, bool]:
        session.execute(text("INSERT INTO probe (name) VALUES ('crash')"))
        raise RuntimeError("bug")

    @app.get("/idle")
    def idle(session: DbSession) -> dict[str, bool]:
        return {"ok": session.get_transaction() is None}

    return app


def test_the_request_session_commits_on_success_and_leaves_nothing_half_written(database) -> None:
    with database.session() as s:
        s.execute(text("CREATE TABLE probe (name TEXT)"))
    with TestClient(_app_with_routes(database), raise_server_exceptions=False) as client:
        assert client.post("/write").status_code == 200
        r = client.post("/write-then-fail")
        assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
        assert client.post("/write-then-crash").status_code == 500
        assert client.get("/idle").json() == {"ok": True}
    with database.session() as s:
        assert [n for (n,) in s.execute(text("SELECT name FROM probe"))] == ["kept"]


# … and an anonymous public GET resolves its actor on the event loop, without calling the resolver.


def test_a_request_without_credentials_is_anonymous_without_calling_the_resolver() -> None:
    from fastapi import Depends, Request

    from smartprovince.core import security

    calls: list[str] = []
    officer = security.Actor(id="u1", username="officer", kind="officer", auth_method="session",
                             grants=(security.Grant("x.read", ""),))

    def resolver(request: Request) -> security.Actor:
        calls.append(request.url.path)
        return officer if request.cookies.get("sp_session") == "good" else security.ANONYMOUS

    app = FastAPI()
    _install_error_handlers(app)

    @app.get("/public")
    def open_route(actor: security.Actor = Depends(security.public("test"))) -> dict[str, str]:
        return {"kind": actor.kind}

    @app.post("/guarded")
    def guarded(actor: security.Actor = Depends(security.require("x.read"))) -> dict[str, str]:
        return {"kind": actor.kind}

    saved = security._resolver, security._carries_credentials
    security.set_actor_resolver(resolver, carries_credentials=lambda r: "sp_session" in r.cookies)
    try:
        client = TestClient(app)
        assert client.get("/public").json() == {"kind": "anonymous"}
        assert client.post("/guarded").status_code == 401
        assert calls == []  # nothing to resolve: no database read for an anonymous visitor
        client.cookies.set("sp_session", "good")
        assert client.get("/public").json() == {"kind": "officer"}
        # A cookie session still needs the CSRF token on an unsafe request; with it the permission holds.
        r = client.post("/guarded", json={})
        assert r.status_code == 403 and r.json()["title"] == "CSRF check failed"
        client.cookies.set("sp_csrf", "t0k3n")
        assert client.post("/guarded", json={}, headers={"x-csrf-token": "t0k3n"}).json() == {"kind": "officer"}
        assert calls == ["/public", "/guarded", "/guarded"]
    finally:
        security._resolver, security._carries_credentials = saved
