"""The one permission check used by every route.

A route declares what it needs with a dependency:

* ``Depends(require("procedures.dossier.read"))`` — an actor holding that permission somewhere;
  the route then narrows to an organisation with ``actor.can(perm, org_path)`` (or a query helper
  filters rows by ``actor.scopes(perm)``);
* ``Depends(authenticated())`` — any logged-in user (profile, own dossiers …);
* ``Depends(public("why it is public"))`` — anybody; such routes are also listed in
  ``tests/public_routes.txt``.

``tests/test_route_permissions.py`` walks every route and fails when one declares none of these.
The actor itself is resolved by the identity module, which registers ``set_actor_resolver``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from smartprovince.core.errors import Forbidden, Unauthorized

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_COOKIE = "sp_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Grant:
    """One permission held over an organisation subtree (``scope_path`` '' = the whole tree)."""

    permission: str
    scope_path: str
    scope_org_id: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who is making the request: an officer, a citizen, the system, or nobody (anonymous)."""

    id: str | None
    username: str
    kind: str  # "officer" | "citizen" | "anonymous" | "system"
    display_name: str = ""
    org_id: str | None = None
    org_path: str | None = None
    grants: tuple[Grant, ...] = ()
    auth_method: str | None = None  # "session" | "token" | "basic" | None
    session_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def is_admin(self) -> bool:
        return any(g.permission == "*" and g.scope_path == "" for g in self.grants)

    def has(self, permission: str) -> bool:
        """Holds ``permission`` over at least one organisation."""
        return any(_matches(g.permission, permission) for g in self.grants)

    def can(self, permission: str, org_path: str | None) -> bool:
        """Holds ``permission`` over the organisation with materialised path ``org_path``."""
        for g in self.grants:
            if not _matches(g.permission, permission):
                continue
            if g.scope_path == "" or (org_path is not None and org_path.startswith(g.scope_path)):
                return True
        return False

    def scopes(self, permission: str) -> list[str]:
        """Path prefixes of the subtrees where ``permission`` holds ('' means everywhere)."""
        paths = sorted({g.scope_path for g in self.grants if _matches(g.permission, permission)})
        if "" in paths:
            return [""]
        return paths


ANONYMOUS = Actor(id=None, username="", kind="anonymous")
SYSTEM = Actor(id=None, username="system", kind="system", grants=(Grant("*", ""),))


def _matches(granted: str, wanted: str) -> bool:
    if granted == "*" or granted == wanted:
        return True
    return granted.endswith(".*") and wanted.startswith(granted[:-1])


_resolver: Callable[[Request], Actor] | None = None
_carries_credentials: Callable[[Request], bool] | None = None


def set_actor_resolver(
    fn: Callable[[Request], Actor], *, carries_credentials: Callable[[Request], bool] | None = None
) -> None:
    """Installed once by the identity module: turns a request (cookie, bearer, basic) into an Actor.

    ``carries_credentials(request)`` is a cheap test without I/O: false when the request holds nothing
    the resolver reads (no Authorization header, no session cookie). Such a request is anonymous at
    once, without calling the resolver (which may read the database).
    """
    global _resolver, _carries_credentials
    _resolver = fn
    _carries_credentials = carries_credentials


def _plainly_anonymous(request: Request) -> bool:
    return _resolver is None or (_carries_credentials is not None and not _carries_credentials(request))


def current_actor(request: Request) -> Actor:
    """The request's actor (cached on ``request.state``); anonymous when nobody is logged in."""
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    resolver = _resolver
    actor = ANONYMOUS if resolver is None or _plainly_anonymous(request) else resolver(request)
    request.state.actor = actor
    return actor


async def current_actor_async(request: Request) -> Actor:
    """``current_actor`` for code on the event loop (the route dependencies below).

    A request without credentials — most public GETs — is answered at once; only one that carries
    some goes to the thread pool, because resolving it reads the database. A synchronous dependency
    would cost a trip to the thread pool on every request.
    """
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    if _plainly_anonymous(request):
        request.state.actor = ANONYMOUS
        return ANONYMOUS
    return await run_in_threadpool(current_actor, request)


def verify_csrf(request: Request, form_token: str | None = None) -> None:
    """Double-submit check for cookie-authenticated unsafe requests (bearer/basic need none)."""
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = form_token or request.headers.get(CSRF_HEADER)
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise Forbidden("CSRF token missing or wrong; reload the page and try again.", title="CSRF check failed")


def _check_csrf(request: Request, actor: Actor) -> None:
    if actor.auth_method == "session" and request.method not in SAFE_METHODS:
        if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/")):
            return  # form posts are checked by the page route, which reads the form field
        verify_csrf(request)


def _permitted(request: Request, actor: Actor, permission: str | None) -> Actor:
    if not actor.is_authenticated:
        raise Unauthorized()
    _check_csrf(request, actor)
    if permission is not None and not actor.has(permission):
        raise Forbidden(f"Missing permission {permission}")
    return actor


def check_permission(request: Request, permission: str) -> Actor:
    """What ``require(permission)`` checks, for synchronous code that resolves the actor itself."""
    return _permitted(request, current_actor(request), permission)


def require(permission: str) -> Callable[[Request], Awaitable[Actor]]:
    """Dependency: the actor must hold ``permission`` (somewhere); returns the actor."""

    async def dependency(request: Request) -> Actor:
        return _permitted(request, await current_actor_async(request), permission)

    dependency.__permission__ = permission  # type: ignore[attr-defined]
    return dependency


def authenticated() -> Callable[[Request], Awaitable[Actor]]:
    """Dependency: any logged-in user."""

    async def dependency(request: Request) -> Actor:
        return _permitted(request, await current_actor_async(request), None)

    dependency.__permission__ = "@authenticated"  # type: ignore[attr-defined]
    return dependency


def public(reason: str) -> Callable[[Request], Awaitable[Actor]]:
    """Dependency: anybody may call this route (``reason`` says why); returns the actor, maybe anonymous."""

    async def dependency(request: Request) -> Actor:
        return await current_actor_async(request)

    dependency.__public__ = reason  # type: ignore[attr-defined]
    return dependency
