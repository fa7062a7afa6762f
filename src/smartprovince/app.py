"""Builds the ASGI application: kernel middleware, error handlers, every module's routers."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from smartprovince import __version__
from smartprovince.core.db import Database
from smartprovince.core.errors import Problem, Unauthorized
from smartprovince.core.routing import skip_unmatchable_routers
from smartprovince.registry import load_modules
from smartprovince.settings import Settings, get_settings

log = logging.getLogger("smartprovince.app")

PROBLEM = "application/problem+json"


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/sta/", "/open311/", "/ckan/", "/healthz", "/readyz", "/metrics")):
        return False
    return "text/html" in request.headers.get("accept", "")


def problem_response(request: Request, problem: Problem) -> Response:
    if _wants_html(request):
        if isinstance(problem, Unauthorized):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            from urllib.parse import quote

            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        renderer = getattr(request.app.state, "render_error", None)
        if renderer is not None:
            return renderer(request, problem)
    body = problem.to_dict(instance=request.url.path)
    rid = getattr(request.state, "request_id", None)
    if rid:
        body["request_id"] = rid
    headers = {"WWW-Authenticate": 'Bearer realm="smartprovince"'} if problem.status == 401 else None
    if problem.status == 429 and "retry_after" in problem.extra:  # RFC 9110 §10.2.3
        headers = {"Retry-After": str(int(problem.extra["retry_after"]))}
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        p = Problem("The request is not valid; see 'errors'.", title="Invalid input", status=422, errors=errors)
        return problem_response(request, p)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, Problem(detail, title=title, status=exc.status_code))

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> Response:
        # The database refused a value the schema let through (a NUL character in text, a number out
        # of the column's range…): that is bad input, not a server fault.
        log.info("database rejected a value on %s %s: %s", request.method, request.url.path, exc.orig)
        return problem_response(request, Problem("A value is not acceptable (e.g. a NUL character or a number "
                                                 "out of range).", title="Invalid input", status=422))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(request, Problem("An unexpected error happened; it has been logged.",
                                                 title="Internal server error", status=500))


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": title, "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for code, title in [(400, "Bad request"), (401, "Authentication required"), (403, "Forbidden"),
                        (404, "Not found"), (409, "Conflict"), (422, "Invalid input")]
}


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    db = db or Database(settings.db_url)
    modules = load_modules()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for m in modules:
            for fn in m.on_startup:
                res = fn(app)
                if hasattr(res, "__await__"):
                    await res
        # Everything built so far (routes, tables, schemas, templates) lives as long as the app. Freezing
        # it takes it out of the cyclic garbage collector's view: a full collection otherwise walks these
        # ~250 k objects and pauses every request in flight for 50–150 ms (it was the p99 of every route).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # tests build many apps in one process: let the collector see this one again
            for m in reversed(modules):
                for fn in m.on_shutdown:
                    res = fn(app)
                    if hasattr(res, "__await__"):
                        await res

    app = FastAPI(
        title="Smart Province Platform API",
        version=__version__,
        description="APIs of the Smart Province Platform (Nền tảng tỉnh thông minh). Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.modules = modules
    _install_error_handlers(app)
    for m in modules:
        for router in m.api_routers:
            app.include_router(router, prefix="/api/v1", responses=PROBLEM_RESPONSES)
        for router in m.raw_routers:
            app.include_router(router)
        for router in m.page_routers:
            app.include_router(router, include_in_schema=False)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original_openapi()
        from smartprovince.core.errors import PROBLEM_SCHEMA

        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    for m in modules:
        setup = getattr(m, "setup_app", None)
        if setup:
            setup(app)
    skip_unmatchable_routers(app)  # a request tries only the routers whose paths can match it
    return app
