"""Khởi động sẵn — the IOC wall's start-up warm-up, so the first wall request of a new process is not slow.

The first ``/ioc/wall`` of a process used to pay for the web framework preparing its routes (FastAPI builds
each included router's route state — dependants, parameter models — the first time a request is matched
against it: about 1.6 s on the loaded machine), for compiling the wall's templates (the wall, its tiles,
feed lines, map script, the layout: about 0.2 s), for SQLAlchemy compiling the wall's statements and for the
first read of the month's daily counts. ``warm_up`` does that work once when the app starts (before it
accepts requests): it matches the wall's paths against the app's routes (Starlette's ``route.matches``: no
request is run), compiles the wall's templates and everything they include, and reads the month sums the
wall shares between requests (``rooms.daily_sums``' cache) and the top row's stored KPI values.

Off in tests (many short-lived apps) unless ``SMARTPROVINCE_IOC_WARM_UP=1``; ``=0`` turns it off elsewhere.
"""

from __future__ import annotations

import logging
import os
import re
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

log = logging.getLogger("smartprovince.operations")
WALL_PATHS = (
    "/ioc/wall",
    "/ioc/wall/tiles",
    "/api/v1/sensing/stations",
    "/api/v1/operations/cameras",
    "/api/v1/areas",
    "/api/v1/feedback/map",
)
WALL_TEMPLATES = ("operations/wall.html", "operations/_wall_tiles.html", "operations/_feed_item.html")
_REFS = re.compile(r"""{%-?\s*(?:extends|include|import|from)\s+["']([^"']+)["']""")


def compile_templates(env: Any, names: tuple[str, ...] = WALL_TEMPLATES) -> int:
    """Load ``names`` and every template they extend, include or import into ``env``'s cache; returns how many."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        source, _, _ = env.loader.get_source(env, name)
        env.get_template(name)
        todo.extend(_REFS.findall(source))
    return len(seen)


def match_routes(app: Any, paths: tuple[str, ...] = WALL_PATHS) -> int:
    """Match each of ``paths`` (GET) against the app's routes, as a request would, so the framework prepares
    the routes on the way; returns how many matched. Nothing is called."""
    from starlette.routing import Match

    found = 0
    for path in paths:
        scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "query_string": b"", "headers": []}
        for route in app.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                found += 1
                break
    return found


def _enabled(app: Any) -> bool:
    flag = os.environ.get("SMARTPROVINCE_IOC_WARM_UP", "")
    if flag in ("0", "1"):
        return flag == "1"
    return getattr(app.state.settings, "environment", "") != "test"


def warm_up(app: Any) -> None:
    """on_startup: compile the wall's templates and read the wall's shared figures once (see the module doc)."""
    if not _enabled(app):
        return
    from smartprovince.core.clock import local_now
    from smartprovince.core.security import SYSTEM
    from smartprovince.operations import headline, rooms
    from smartprovince.web import environment

    t0 = time.perf_counter()
    try:
        routes = match_routes(app)
        n = compile_templates(environment(SimpleNamespace(app=app)))  # type: ignore[arg-type]
        with app.state.db.session(write=False) as s:
            since = local_now().date() - timedelta(days=29)
            rooms._grouped_daily(s, since, rooms.WALL_METRICS)
            headline.headline(s, SYSTEM, rooms.root_org(s))
    except Exception:  # noqa: BLE001 - a failed warm-up only leaves the first request slower
        log.exception("IOC wall warm-up failed")
        return
    ms = (time.perf_counter() - t0) * 1000
    log.info("IOC wall warm-up: %d routes matched, %d templates, figures read, in %.0f ms", routes, n, ms)
