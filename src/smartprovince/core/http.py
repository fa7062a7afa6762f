"""HTTP middleware: request id, access log line, Prometheus metrics.

For every HTTP request ``RequestContextMiddleware``

* takes the caller's ``X-Request-ID`` header when it is a short, safe token, or makes a new id; puts it
  on ``request.state.request_id`` (problem+json bodies show it), in the logging context
  (``core.logs.request_id_var``, so every log line of the request carries it) and on the response;
* writes one access log line (logger ``smartprovince.access``): method, route, path, status, duration;
* counts the request and its latency in Prometheus metrics labelled by the *route template*
  (``/api/v1/dossiers/{dossier_id}``, never the real path, so the number of series stays small).

It is a plain ASGI middleware (not ``BaseHTTPMiddleware``), so streamed responses stay streamed.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.routing import Mount

from smartprovince.core.ids import new_id
from smartprovince.core.logs import request_id_var

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_log = logging.getLogger("smartprovince.access")

REQUESTS = Counter(
    "smartprovince_http_requests_total",
    "HTTP requests served, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "smartprovince_http_request_duration_seconds",
    "Time to serve an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Label for requests no route matched (404s): one series, not one per URL.
UNMATCHED_ROUTE = "unmatched"
# Probes and scrapes arrive every few seconds; their access lines are DEBUG unless they fail.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def route_template(scope: dict[str, Any]) -> str:
    """The path template of the route that served ``scope`` (``/api/v1/dossiers/{dossier_id}``), or ``unmatched``.

    FastAPI's route object knows its path only inside its own router (without the ``/api/v1``
    prefix), so the template is the route's path with the real path's leading segments (the prefix)
    put in front. When that is not possible (``{name:path}`` parameters) the parameter values in the
    real path are replaced by ``{name}``.
    """
    route = scope.get("route")
    if route is None and scope.get("endpoint") is None:
        return UNMATCHED_ROUTE
    path: str = scope.get("path", "")
    params: dict[str, Any] = scope.get("path_params") or {}
    route_path = getattr(route, "path", None)
    if isinstance(route, Mount):
        return f"{route_path}/{{path}}" if route_path else UNMATCHED_ROUTE
    if isinstance(route_path, str) and ":path}" not in route_path:
        real = path.split("/")
        own = route_path.split("/")
        if len(real) >= len(own):
            prefix = "/".join(real[: len(real) - len(own) + 1])
            leftover = {k: v for k, v in params.items() if "{" + k not in route_path}
            return _replace_values(prefix, leftover) + route_path
    return _replace_values(path, params)


def _replace_values(path: str, params: dict[str, Any]) -> str:
    segments = path.split("/")
    for name, value in params.items():
        text = str(value)
        if "/" in text and path.endswith("/" + text):  # a {name:path} parameter takes the rest of the path
            segments = path[: -len(text)].split("/")[:-1] + ["{" + name + "}"]
            path = "/".join(segments)
            continue
        for i, segment in enumerate(segments):
            if segment == text:
                segments[i] = "{" + name + "}"
                break
        else:
            return UNMATCHED_ROUTE  # cannot tell: one shared label rather than one label per URL
    return "/".join(segments)


def _incoming_request_id(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                return None
            return text if _SAFE_REQUEST_ID.match(text) else None
    return None


class RequestContextMiddleware:
    """Request id + access log + metrics for every HTTP request (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or new_id()
        # The same dict backs ``request.state`` everywhere below us and in the error handlers above us.
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = [500]

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            route = route_template(scope)
            REQUESTS.labels(method, route, str(status[0])).inc()
            LATENCY.labels(method, route).observe(elapsed)
            client = scope.get("client")
            path = scope.get("path", "")
            level = logging.DEBUG if path in QUIET_PATHS and status[0] < 400 else logging.INFO
            access_log.log(
                level,
                "%s %s %s %.1fms",
                method,
                path,
                status[0],
                elapsed * 1000,
                extra={
                    "method": method,
                    "path": path,
                    "route": route,
                    "status": status[0],
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client[0] if client else None,
                },
            )
            request_id_var.reset(token)


def install(app: Any) -> None:
    """Add the middleware to ``app`` and configure logging from ``app.state.settings``."""
    from smartprovince.core.logs import configure_logging

    settings = getattr(app.state, "settings", None)
    if settings is not None:
        configure_logging(settings)
    app.add_middleware(RequestContextMiddleware)
