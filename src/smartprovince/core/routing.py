"""Request dispatch: skip the included routers whose paths cannot match the request.

FastAPI 0.165 keeps every ``include_router`` as one node of the app's route list and matches a request
by trying each node in turn; a node tries every route it holds (twice for the node that matches:
``matches`` and then ``handle``). The platform includes about 30 routers with 300 routes, so
``/api/v1/procedures/lookup`` was matched against some 95 routes first and ``/sta/v1.1/...`` against
almost all of them: 0.35–0.7 ms of route matching per request, as much as the lookup's SQL (measured
with py-spy under wrk, docs/procedures.md). FastAPI's own fix (skip an included router whose prefix
cannot match, fastapi/fastapi#16159) is not released.

:func:`skip_unmatchable_routers` gives each top-level included router a gate: the literal start of
every path it serves (the part before the first ``{param}``); a request whose path starts with none
of them cannot match any route of that router, so the router is skipped without trying its routes.
The gate is exact, never a guess: a Starlette path pattern is anchored at the start and its literal
characters come before the first parameter, so a path that starts with none of the literals matches
none of the patterns. Routers the gate cannot describe (host routes, low-priority frontend routes)
are tried as before. When a router's routes change (FastAPI's routes version), the literals are
computed again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import _IncludedRouter  # the pinned FastAPI's node type for include_router
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope


def literal_prefixes(included: Any) -> tuple[str, ...] | None:
    """The literal starts of the paths ``included`` serves, or None when one cannot be known."""
    if included.effective_low_priority_routes():
        return None
    found: set[str] = set()
    for ctx in included.effective_route_contexts():
        path = ctx.path_format or getattr(ctx.starlette_route, "path_format", "")
        if not path:
            return None  # a host route or something else that is not matched on the path
        found.add(path.split("{", 1)[0])
    if not found:
        return None
    # Keep the shortest: a literal that starts with another literal adds nothing.
    ordered = sorted(found, key=len)
    kept: list[str] = []
    for p in ordered:
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return tuple(kept)


def _gate(included: Any) -> Callable[[Scope], tuple[Match, Scope]]:
    original = included.matches
    router = included.original_router
    state: dict[str, Any] = {"version": None, "prefixes": None}

    def matches(scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] in ("http", "websocket"):
            version = router._get_routes_version()
            if version != state["version"]:
                state["prefixes"], state["version"] = literal_prefixes(included), version
            prefixes = state["prefixes"]
            if prefixes is not None and not get_route_path(scope).startswith(prefixes):
                return Match.NONE, {}
        return original(scope)

    matches.__wrapped__ = original  # type: ignore[attr-defined]  # the ungated method (tests compare both)
    return matches


def skip_unmatchable_routers(app: FastAPI) -> int:
    """Gate every top-level included router of ``app`` (see the module docstring); returns how many."""
    count = 0
    for route in app.router.routes:
        if isinstance(route, _IncludedRouter) and not hasattr(route.matches, "__wrapped__"):
            route.matches = _gate(route)  # type: ignore[assignment]
            count += 1
    return count
