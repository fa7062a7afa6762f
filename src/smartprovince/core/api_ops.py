"""Operations endpoints for load balancers, orchestrators and monitoring.

* ``GET /healthz`` — the process is alive (no database call; cheap enough to poll every second);
* ``GET /readyz`` — the process can serve: the database answers ``SELECT 1`` and the event bus (when
  the app has one on ``app.state.bus``) says it is ready; otherwise 503 problem+json naming what failed;
* ``GET /metrics`` — Prometheus metrics in the text exposition format.

All three are public: they carry no personal data and monitoring systems call them without a login.
They are listed in ``tests/public_routes.txt``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import text

from smartprovince.core.errors import PROBLEM_SCHEMA, Problem
from smartprovince.core.security import public

log = logging.getLogger("smartprovince.ops")

READY_TIMEOUT_SECONDS = 5.0

router = APIRouter(tags=["operations"])

_PROBLEM_503: dict[int | str, dict[str, Any]] = {
    503: {"description": "Not ready", "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}}}
}


class Health(BaseModel):
    """Answer of ``/healthz``."""

    status: Literal["ok"] = Field(description="Always 'ok' when the process answers.")


class Readiness(BaseModel):
    """Answer of ``/readyz`` when ready: each check and its result."""

    status: Literal["ready"]
    checks: dict[str, str] = Field(description="Name of each check → 'ok' or 'skipped'.")


class NotReady(Problem):
    """The service cannot serve requests now (503); ``checks`` says which dependency failed."""

    status = 503
    title = "Service not ready"


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness: the process is alive",
    dependencies=[Depends(public("liveness probe for load balancers; no data"))],
)
def healthz() -> Health:
    return Health(status="ok")


def _check_database(request: Request) -> None:
    db = request.app.state.db
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _check_bus(bus: Any) -> bool:
    result = bus.ready()
    if inspect.isawaitable(result):
        result = await result
    return bool(result)


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=_PROBLEM_503,
    summary="Readiness: database and event bus answer",
    dependencies=[Depends(public("readiness probe for load balancers; no data"))],
)
async def readyz(request: Request) -> Readiness:
    checks: dict[str, str] = {}
    failed = False
    try:
        await asyncio.wait_for(asyncio.to_thread(_check_database, request), READY_TIMEOUT_SECONDS)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log, not the client
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"] = "failed"
        failed = True
    bus = getattr(request.app.state, "bus", None)
    if bus is not None and hasattr(bus, "ready"):
        try:
            ok = await asyncio.wait_for(_check_bus(bus), READY_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("readiness: bus check failed: %s", type(exc).__name__)
            ok = False
        checks["bus"] = "ok" if ok else "failed"
        failed = failed or not ok
    else:
        checks["bus"] = "skipped"
    if failed:
        failing = ", ".join(name for name, result in checks.items() if result == "failed")
        raise NotReady(f"Not ready: {failing} not answering.", checks=checks)
    return Readiness(status="ready", checks=checks)


def _registry() -> Any:
    # With several worker processes (``run --workers N``) each process writes its metrics to files in
    # PROMETHEUS_MULTIPROC_DIR; the collector adds them up so any worker can answer for all.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.path.isdir(directory):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return registry
    return REGISTRY


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (text exposition format)",
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
    dependencies=[Depends(public("Prometheus scraping; aggregate counters only, no personal data"))],
)
def metrics() -> Response:
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
