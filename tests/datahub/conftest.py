"""Fixtures of the data hub tests: a small organisation tree, a data officer, a defined dataset."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from smartprovince.core.security import SYSTEM
from smartprovince.datahub import codelists, service

SCHOOL_FIELDS: list[dict[str, Any]] = [
    {"name": "ma", "title": "Mã trường", "title_en": "Code"},
    {"name": "ten", "title": "Tên trường", "title_en": "Name", "required": True},
    {"name": "huyen", "title": "Huyện", "type": "code", "codelist": "don-vi-hanh-chinh", "required": True},
    {"name": "so_hoc_sinh", "title": "Số học sinh", "type": "integer", "minimum": 0, "maximum": 5000},
    {"name": "diem_tb", "title": "Điểm trung bình", "type": "number"},
    {"name": "chuan", "title": "Đạt chuẩn", "type": "boolean"},
    {"name": "ngay", "title": "Ngày thành lập", "type": "date"},
    {"name": "dien_thoai", "title": "Điện thoại hiệu trưởng", "personal": True},
]
PHONE = "0912999888"


@pytest.fixture
def orgs(make_org):  # type: ignore[no-untyped-def]
    """Province 30, two districts, the Department of Education and the Department of Health."""
    make_org("30", "Tỉnh Hải Dương", "province")
    make_org("288", "Thành phố Hải Dương", "district", parent="30")
    make_org("290", "Thành phố Chí Linh", "district", parent="30")
    make_org("so-gd", "Sở Giáo dục và Đào tạo", "department", parent="30")
    make_org("so-yt", "Sở Y tế", "department", parent="30")


@pytest.fixture
def units_list(database, orgs):  # type: ignore[no-untyped-def]
    """The administrative-units category list, version 1 from 2023-01-01."""
    from datetime import date

    with database.session() as s:
        codelists.create_codelist(s, actor=SYSTEM, code="don-vi-hanh-chinh", name="Đơn vị hành chính")
        codelists.publish_version(s, actor=SYSTEM, code="don-vi-hanh-chinh", effective_from=date(2023, 1, 1),
                                  items=[{"code": "30", "label": "Tỉnh Hải Dương"},
                                         {"code": "288", "label": "Thành phố Hải Dương"},
                                         {"code": "290", "label": "Thành phố Chí Linh"}])


@pytest.fixture
def schools(database, units_list):  # type: ignore[no-untyped-def]
    """A public dataset "truong-hoc" of the Department of Education, no data yet."""
    from smartprovince import identity

    with database.session() as s:
        org = identity.get_org_by_code(s, "so-gd")
        return service.define_dataset(s, actor=SYSTEM, name="truong-hoc", org_id=org.id, title="Trường học",
                                      title_en="Schools", description="Danh sách trường học", sector="education",
                                      tags=["giáo dục"], fields=SCHOOL_FIELDS, key=["ma"])


def csv_bytes(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header or ["ma", "ten", "huyen", "so_hoc_sinh", "diem_tb", "chuan", "ngay", "dien_thoai"])
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


GOOD_ROWS = [
    ["T1", "Trường Tiểu học Cẩm Thượng", "288", "620", "7.5", "true", "1998-09-05", PHONE],
    ["T2", "Trường THCS Bình Hàn", "288", "540", "8", "false", "05/09/2001", PHONE],
    ["T3", "Trường THPT Chí Linh", "290", "1200", "", "có", "", PHONE],
]


@pytest.fixture
def loaded(database, settings, schools):  # type: ignore[no-untyped-def]
    """``schools`` with three good rows loaded."""
    with database.session() as s:
        load = service.load_file(s, actor=SYSTEM, name="truong-hoc", source=csv_bytes(GOOD_ROWS),
                                 filename="truong.csv", data_dir=settings.data_dir)
    assert load.status == "loaded", load.errors
    return load


@pytest.fixture
def live_server(app):  # type: ignore[no-untyped-def]
    """The app served by uvicorn on a free local port in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


# ------------------------------------------------------------------ a simulated agency API

TOKEN = "Bearer so-gd-secret-token"
ROWS = [
    {"ma": "T1", "ten": "Trường Tiểu học Cẩm Thượng", "huyen": "288", "so_hoc_sinh": 620, "dien_thoai": PHONE},
    {"ma": "T2", "ten": "Trường THCS Bình Hàn", "huyen": "288", "so_hoc_sinh": 540},
]


class Agency:
    """What the simulated agency API answers next, and what it was asked."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = json.dumps({"records": ROWS}).encode()
        self.content_type = "application/json"
        self.requests: list[dict[str, str]] = []


@pytest.fixture
def agency() -> Iterator[tuple[str, Agency]]:
    state = Agency()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            state.requests.append({k.lower(): v for k, v in self.headers.items()})
            if self.headers.get("Authorization") != TOKEN:
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/truong-hoc?token=hidden", state
    server.shutdown()
    server.server_close()
