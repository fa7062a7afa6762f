"""Every route of the app declares who may call it, and refuses everybody else.

* Each route's dependency tree holds ``require(perm)`` / ``authenticated()`` (a ``__permission__``
  mark) or ``public(reason)`` (a ``__public__`` mark); a plain Starlette route or mount has no
  dependencies and must be public.
* Public routes are exactly the lines of ``tests/public_routes.txt`` (``METHOD /path  # reason``).
* On every non-public route, an anonymous caller gets 401 (API), a redirect to the login page
  (browser) or 404; a logged-in citizen without the permission gets 403 or 404. Never 2xx, never 5xx.

FastAPI 0.165 keeps an included router as one ``_IncludedRouter`` entry in ``app.routes``;
``fastapi.routing.iter_route_contexts`` expands it (recursively) to the effective routes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from smartprovince import identity
from smartprovince.core.db import Database
from smartprovince.core.ids import new_id
from smartprovince.core.security import SYSTEM, Actor, Grant

PUBLIC_FILE = Path(__file__).with_name("public_routes.txt")
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
# The shell alone (kernel, identity, web) has more routes than this; a walk that sees fewer has
# missed the routes hidden inside included routers.
MIN_ROUTES = 40
AUTH = "@authenticated"


@dataclass
class RouteInfo:
    """One (method, path) of the app with what it declares."""

    method: str
    path: str
    permissions: set[str] = field(default_factory=set)
    public_reasons: list[str] = field(default_factory=list)
    path_params: dict[str, Any] = field(default_factory=dict)
    mount: bool = False

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_public(self) -> bool:
        return bool(self.public_reasons)

    @property
    def is_page(self) -> bool:
        return not self.path.startswith(("/api/", "/sta/", "/open311/", "/ckan/"))


def _walk_dependant(dependant: Any, info: RouteInfo) -> None:
    if dependant is None:
        return
    call = getattr(dependant, "call", None)
    if call is not None:
        perm = getattr(call, "__permission__", None)
        if perm:
            info.permissions.add(perm)
        reason = getattr(call, "__public__", None)
        if reason:
            info.public_reasons.append(reason)
    for sub in getattr(dependant, "dependencies", None) or []:
        _walk_dependant(sub, info)


def iter_routes(app: Any) -> Iterator[RouteInfo]:
    """Every effective (method, path) of ``app``, included routers expanded."""
    from fastapi.routing import iter_route_contexts

    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        if isinstance(route, Mount) or isinstance(getattr(rc, "route", None), Mount):
            yield RouteInfo(method="GET", path=rc.path or route.path, mount=True)
            continue
        methods = rc.methods or set()
        dependant = getattr(rc, "dependant", None)
        for method in sorted(set(methods) - SKIPPED_METHODS):
            info = RouteInfo(method=method, path=rc.path)
            _walk_dependant(dependant, info)
            if dependant is not None:
                for p in dependant.path_params:
                    info.path_params[p.name] = p.field_info.annotation
            yield info


def read_public_list() -> dict[str, str]:
    """``tests/public_routes.txt`` as {"METHOD /path": reason}; blank lines and ``#`` lines skipped."""
    entries: dict[str, str] = {}
    for lineno, raw in enumerate(PUBLIC_FILE.read_text("utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        route, _, reason = line.partition("#")
        parts = route.split()
        assert len(parts) == 2, f"public_routes.txt line {lineno}: expected 'METHOD /path  # reason': {raw!r}"
        assert reason.strip(), f"public_routes.txt line {lineno}: say why the route is public: {raw!r}"
        key = f"{parts[0].upper()} {parts[1]}"
        assert key not in entries, f"public_routes.txt line {lineno}: {key} listed twice"
        entries[key] = reason.strip()
    return entries


def fill_path(info: RouteInfo) -> str:
    """The route's path with generated values for its parameters (ids that exist nowhere)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        annotation = info.path_params.get(name)
        if annotation is int:
            return "987654321"
        if annotation is uuid.UUID:
            return str(uuid.uuid4())
        return new_id()

    return re.sub(r"\{([^}:]+)(?::[^}]+)?\}", value, info.path)


@pytest.fixture(scope="module")
def routes() -> list[RouteInfo]:
    from smartprovince.app import create_app
    from smartprovince.settings import Settings

    s = Settings(environment="test", database_url="sqlite://", secret_key="route-walk", load_demo=False)
    app = create_app(s)
    found = list(iter_routes(app))
    app.state.db.dispose()
    return found


def test_the_walk_sees_every_route(routes: list[RouteInfo]) -> None:
    keys = {r.key for r in routes}
    assert len(keys) >= MIN_ROUTES, f"only {len(keys)} routes seen: {sorted(keys)}"
    assert "GET /" in keys, "page routes are missing from the walk"
    assert "GET /api/v1/openapi.json" in keys
    assert any(k.split()[1].startswith("/api/v1/") and "openapi" not in k for k in keys), "API routes missing"
    assert any(r.permissions for r in routes), "no route declares a permission: the dependency walk is broken"


def test_every_route_declares_a_permission_or_is_public(routes: list[RouteInfo]) -> None:
    public = read_public_list()
    undeclared = [
        r.key for r in routes if not r.permissions and not r.is_public and r.key not in public
    ]
    assert not undeclared, (
        "routes without require()/authenticated()/public(): add one, or list a route that cannot carry "
        "dependencies (mount, docs) in tests/public_routes.txt:\n" + "\n".join(sorted(undeclared))
    )


def test_public_routes_are_exactly_the_listed_ones(routes: list[RouteInfo]) -> None:
    public = read_public_list()
    keys = {r.key for r in routes}
    declared_public = {r.key for r in routes if r.is_public or (not r.permissions and r.key in public)}
    unlisted = sorted(declared_public - set(public))
    stale = sorted(set(public) - keys)
    both = sorted(r.key for r in routes if r.is_public and r.permissions)
    assert not unlisted, "public routes missing from tests/public_routes.txt:\n" + "\n".join(unlisted)
    assert not stale, "tests/public_routes.txt lists routes the app does not have:\n" + "\n".join(stale)
    assert not both, "routes both public and permission-protected:\n" + "\n".join(both)
    listed_but_protected = sorted(r.key for r in routes if r.key in public and r.permissions)
    assert not listed_but_protected, (
        "tests/public_routes.txt lists routes that require a permission:\n" + "\n".join(listed_but_protected)
    )


# ------------------------------------------------------------------ behaviour of non-public routes


def _protected(routes: list[RouteInfo]) -> list[RouteInfo]:
    public = read_public_list()
    return [r for r in routes if not r.mount and not r.is_public and r.key not in public and r.permissions]


def _request(client: TestClient, info: RouteInfo, headers: dict[str, str]) -> Any:
    return client.request(info.method, fill_path(info), headers=headers, follow_redirects=False)


def make_user_with_token(db: Database, *, username: str, kind: str, role: str) -> tuple[str, str]:
    """Create a user holding ``role`` over the whole tree; return (user id, bearer token)."""
    with db.session() as session:
        identity.sync_builtin_roles(session)
        user = identity.create_user(
            session, actor=SYSTEM, username=username, password=f"pw-{uuid.uuid4().hex}", full_name=username.title(),
            kind=kind, roles=[(role, None)],
        )
        token = identity.issue_token(session, user_id=user.id, name="route-permission test", actor=SYSTEM)
        return user.id, token


def test_anonymous_is_refused_everywhere(app: Any, routes: list[RouteInfo]) -> None:
    bad: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for info in _protected(routes):
            r = _request(client, info, {"accept": "application/json"})
            if r.status_code not in (401, 404):
                bad.append(f"{info.key} (json) -> {r.status_code} {r.text[:200]}")
            if info.is_page:
                r = _request(client, info, {"accept": "text/html"})
                location = r.headers.get("location", "")
                ok = r.status_code in (401, 404) or (r.status_code in (302, 303) and location.startswith("/login"))
                if not ok:
                    bad.append(f"{info.key} (browser) -> {r.status_code} {location or r.text[:200]}")
    assert not bad, "anonymous callers were not refused:\n" + "\n".join(bad)


def test_citizen_without_the_permission_is_refused(app: Any, database: Database, routes: list[RouteInfo]) -> None:
    citizen_perms = identity.builtin_permissions()["citizen"]
    citizen = Actor(id="x", username="x", kind="citizen", grants=tuple(Grant(p, "") for p in citizen_perms))
    user_id, _ = make_user_with_token(database, username="citizen.routes", kind="citizen", role="citizen")
    refused: list[RouteInfo] = []
    allowed: list[RouteInfo] = []
    for info in _protected(routes):
        needed = info.permissions - {AUTH}
        (allowed if all(citizen.has(p) for p in needed) else refused).append(info)
    bad: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        # Refused routes first: an allowed route (logout, token revocation) could end the login.
        for info in refused + allowed:
            with database.session() as session:
                token = identity.issue_token(session, user_id=user_id, name="probe", actor=SYSTEM)
            headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
            r = _request(client, info, headers)
            if r.status_code >= 500:
                bad.append(f"{info.key} -> {r.status_code} (server error) {r.text[:200]}")
            elif info in refused and r.status_code not in (403, 404):
                bad.append(f"{info.key} needs {sorted(info.permissions)} -> {r.status_code} {r.text[:200]}")
    assert refused, "no route refuses a citizen: the walk or the permission model is broken"
    assert not bad, "a citizen was served or the server failed:\n" + "\n".join(bad)
