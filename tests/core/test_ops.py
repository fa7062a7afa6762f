"""Operations: /healthz, /readyz, /metrics, request ids, access log lines, route-template metrics."""

from __future__ import annotations

import json
import logging
import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from smartprovince.core.db import Database
from smartprovince.core.http import RequestContextMiddleware
from smartprovince.core.logs import get_request_id

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_healthz(client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert HEX32.match(r.headers["x-request-id"])


def test_request_id_is_taken_from_the_caller_when_safe(client) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    assert r.headers["x-request-id"] == "lb-7f3a.42"
    for unsafe in ("has space", "x" * 200, "<script>"):
        r = client.get("/healthz", headers={"X-Request-ID": unsafe})
        assert HEX32.match(r.headers["x-request-id"])


def test_problem_bodies_carry_the_request_id(client) -> None:
    r = client.get("/api/v1/no-such-endpoint", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["request_id"] == "abc-123"


def test_readyz_when_everything_answers(client) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["bus"] in ("ok", "skipped")


class FakeBus:
    def __init__(self, answer) -> None:  # type: ignore[no-untyped-def]
        self.answer = answer

    def ready(self):  # type: ignore[no-untyped-def]
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class AsyncBus:
    async def ready(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("bus", "status"),
    [(FakeBus(True), 200), (AsyncBus(), 200), (FakeBus(False), 503), (FakeBus(ConnectionError("nats down")), 503)],
)
def test_readyz_asks_the_bus(app, client, bus, status) -> None:
    original = getattr(app.state, "bus", None)
    app.state.bus = bus
    try:
        r = client.get("/readyz")
    finally:
        app.state.bus = original
    assert r.status_code == status
    if status == 503:
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["checks"] == {"database": "ok", "bus": "failed"}
        assert "bus" in body["detail"]
        assert "nats down" not in r.text  # internals go to the log, not to the caller


def test_readyz_when_the_database_is_down(app, client, tmp_path) -> None:
    original = app.state.db
    app.state.db = Database(f"sqlite:///{tmp_path}/missing-folder/x.db")
    try:
        r = client.get("/readyz")
    finally:
        app.state.db.dispose()
        app.state.db = original
    assert r.status_code == 503
    assert r.json()["checks"]["database"] == "failed"


def test_metrics_count_requests_by_route_template(client) -> None:
    client.get("/healthz")
    client.get("/no/such/page/12345")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert re.search(r'smartprovince_http_requests_total\{method="GET",route="/healthz",status="200"\} \d', text)
    assert 'route="unmatched",status="404"' in text
    assert "12345" not in text  # real paths never become labels
    assert "smartprovince_http_request_duration_seconds_bucket" in text


def test_access_log_line_with_request_id(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smartprovince.access")
    client.get("/api/v1/audit?email=an.nguyen@gmail.com", headers={"X-Request-ID": "trace-1"})
    records = [r for r in caplog.records if r.name == "smartprovince.access" and r.path == "/api/v1/audit"]
    assert records
    record = records[-1]
    assert record.status == 401 and record.method == "GET" and record.route == "/api/v1/audit"
    assert record.levelno == logging.INFO
    assert record.request_id == "trace-1"
    assert record.duration_ms >= 0
    assert "an.nguyen@gmail.com" not in caplog.text  # the query string is never logged


def test_probes_log_at_debug(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="smartprovince.access")
    client.get("/healthz")
    record = [r for r in caplog.records if r.name == "smartprovince.access" and r.path == "/healthz"][-1]
    assert record.levelno == logging.DEBUG


def test_json_log_lines_of_a_request(client, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    client.get("/api/v1/nothing-here", headers={"X-Request-ID": "trace-2"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "smartprovince.access"]
    assert access and access[-1]["request_id"] == "trace-2" and access[-1]["status"] == 404


def test_route_template_includes_router_prefixes_and_params(capsys) -> None:
    router = APIRouter()

    @router.get("/things/{thing_id}/parts/{part}")
    def part(thing_id: str, part: int) -> dict:
        return {"request_id": get_request_id()}

    @router.get("/files/{key:path}")
    def file(key: str) -> dict:
        return {}

    app = FastAPI()
    app.include_router(router, prefix="/api/v1")
    app.add_middleware(RequestContextMiddleware)
    with TestClient(app) as c:
        r = c.get("/api/v1/things/abc/parts/7", headers={"X-Request-ID": "in-route"})
        assert r.json() == {"request_id": "in-route"}  # the id is visible inside the route (logs use it)
        c.get("/api/v1/files/a/b/c.txt")
        c.get("/api/v1/things/7/parts/7")  # same value in two params
    from prometheus_client import REGISTRY

    def count(route: str) -> float:
        value = REGISTRY.get_sample_value(
            "smartprovince_http_requests_total", {"method": "GET", "route": route, "status": "200"}
        )
        return value or 0

    assert count("/api/v1/things/{thing_id}/parts/{part}") >= 2
    assert count("/api/v1/files/{key}") >= 1


def test_route_template_of_mounts_and_unmatched() -> None:
    from starlette.routing import Mount

    from smartprovince.core.http import route_template

    mount = Mount("/static", app=lambda scope, receive, send: None)
    assert route_template({"route": mount, "path": "/static/css/a.css", "path_params": {"path": "css/a.css"}}) == (
        "/static/{path}"
    )
    assert route_template({"path": "/nothing/here"}) == "unmatched"
