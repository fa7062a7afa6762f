"""The router gate (core/routing.py) skips routers that cannot match, and changes no dispatch."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends
from fastapi.routing import _IncludedRouter
from fastapi.testclient import TestClient

from smartprovince.app import create_app
from smartprovince.core.routing import literal_prefixes
from smartprovince.core.security import public

EXTRA = ["/", "/nope", "/api", "/api/v1", "/api/v1/", "/api/v1/nope", "/api/v1/procedures", "/api/v1/procedures/",
         "/api/v1/procedures/lookup/", "/sta", "/sta/v1.1/", "/sta/v1.1/Things(1)/Datastreams", "/static",
         "/open311/v2/requests.json", "/open311/v2/services/x.xml", "/healthz/", "/ioc", "/ioc/wall/", "/portal",
         "/console/", "/admin/", "/dataset/x.ttl", "/api/3/action/package_list", "/login/", "/%C3%A1"]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "1", path)


def _paths(app) -> list[str]:  # type: ignore[no-untyped-def]
    paths = set(EXTRA)
    for route in app.router.routes:
        contexts = route.effective_route_contexts() if isinstance(route, _IncludedRouter) else [route]
        for ctx in contexts:
            path = getattr(ctx, "path_format", "") or getattr(getattr(ctx, "starlette_route", None), "path_format", "")
            if path:
                paths |= {_concrete(path), _concrete(path) + "/", _concrete(path) + "x"}
    return sorted(paths)


def _scope(app, path: str, method: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"", "headers": [],
            "app": app}


def test_every_router_answers_every_path_as_without_the_gate(app) -> None:  # type: ignore[no-untyped-def]
    gated = [r for r in app.router.routes if hasattr(r.matches, "__wrapped__")]
    assert len(gated) >= 25  # every module's routers
    paths = _paths(app)
    assert len(paths) > 600
    for path in paths:
        for method in ("GET", "POST", "DELETE"):
            for route in gated:
                assert route.matches(_scope(app, path, method)) == route.matches.__wrapped__(
                    _scope(app, path, method)), (path, method, route)


def test_a_path_is_tried_only_against_the_routers_that_can_serve_it(app) -> None:  # type: ignore[no-untyped-def]
    tried = [r for r in app.router.routes if isinstance(r, _IncludedRouter)
             and literal_prefixes(r) is not None
             and "/api/v1/procedures/lookup".startswith(literal_prefixes(r))]
    assert len(tried) == 2  # the home page router ("/") and the procedures API, of about 30
    assert ("/",) in [literal_prefixes(r) for r in tried]
    assert any("/api/v1/procedures/lookup" in literal_prefixes(r) for r in tried)


def test_requests_dispatch_as_before(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/procedures/catalog").status_code == 200
    missing = client.get("/api/v1/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert client.post("/healthz").status_code == 405
    assert client.get("/sta/v1.1/Things").status_code == 200
    assert client.get("/open311/v2/services.json").status_code == 200


def test_a_route_added_to_an_included_router_later_is_found(settings, database) -> None:  # type: ignore[no-untyped-def]
    router = APIRouter()

    @router.get("/_test/first", dependencies=[Depends(public("test only"))])
    def first() -> dict[str, str]:
        return {"route": "first"}

    app = create_app(settings, db=database)
    app.include_router(router)
    from smartprovince.core.routing import skip_unmatchable_routers

    assert skip_unmatchable_routers(app) == 1  # only the new router; the others are gated already
    with TestClient(app) as c:
        assert c.get("/_test/first").json() == {"route": "first"}

        @router.get("/elsewhere/second", dependencies=[Depends(public("test only"))])
        def second() -> dict[str, str]:
            return {"route": "second"}

        assert c.get("/elsewhere/second").json() == {"route": "second"}
