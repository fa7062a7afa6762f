"""Demo data of the reference province, and the pages a person uses: portal and officer console."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from smartprovince import identity
from smartprovince.core.security import SYSTEM
from smartprovince.datahub import demo
from smartprovince.datahub.models import Dataset, Load


@pytest.fixture
def demo_loaded(database, settings):  # type: ignore[no-untyped-def]
    with database.session() as s:
        identity.load_organisations(s, "hai-duong-2023", actor=SYSTEM)
    started = time.monotonic()
    demo.load(database, settings, lambda *a, **k: None)
    return time.monotonic() - started


def test_demo_loads_hai_duong_sectors_fast(database, demo_loaded, client) -> None:
    assert demo_loaded < 30
    with database.session() as s:
        counts = {d.name: (d.row_count, d.public) for d in s.scalars(select(Dataset))}
        statuses = [(ld.status, ld.error_count) for ld in s.scalars(select(Load).order_by(Load.created_at))]
    assert counts["co-so-y-te"][0] == 1 + 12 + 207  # provincial hospital, district centres, commune stations
    assert counts["truong-hoc"][0] > 600 and counts["diem-du-lich"][0] >= 15
    assert counts["to-cong-nghe-so"] == (207, False)
    assert statuses.count(("rejected", 5)) == 1  # the health file with mistakes
    home = client.get("/opendata").text
    assert "Cơ sở khám bệnh, chữa bệnh" in home and "Tổ công nghệ số" not in home
    page = client.get("/opendata/diem-du-lich").text
    assert "Côn Sơn - Kiếp Bạc" in page and "Đúng" in page


def test_demo_hook_runs_twice_without_change(database, settings, demo_loaded) -> None:
    demo.load(database, settings, lambda *a, **k: None)
    with database.session() as s:
        assert len(s.scalars(select(Load)).all()) == 5


def test_officer_defines_uploads_and_reads_the_report(client, make_user, login, orgs, units_list) -> None:
    officer = make_user("dl", role="data_officer", org="so-gd")
    token = login(officer)
    assert client.get("/console/datahub").status_code == 200
    r = client.get("/console/datahub/new")
    assert r.status_code == 200 and "Định nghĩa bộ dữ liệu" in r.text
    org_id = re.search(r'<option value="([0-9a-f]{32})"', r.text).group(1)
    form = {"csrf_token": token, "name": "thu-vien", "org_id": org_id, "title": "Thư viện trường học",
            "sector": "education", "licence": "CC-BY-4.0", "frequency": "annual", "public": "on", "tags": "thư viện",
            "key": "ma", "fields": '[{"name": "ma", "title": "Mã"}, {"name": "sach", "title": "Số sách", '
                                   '"type": "integer", "minimum": 0}]'}
    bad = client.post("/console/datahub/new", data={**form, "fields": "[not json"})
    assert bad.status_code == 422 and "JSON" in bad.text
    r = client.post("/console/datahub/new", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/datahub/thu-vien/upload"
    r = client.post("/console/datahub/thu-vien/upload", data={"csrf_token": token},
                    files={"file": ("tv.csv", b"ma,sach\nA,100\nB,-3\nA,5\n")}, follow_redirects=False)
    assert r.status_code == 303
    report = client.get(r.headers["location"])
    assert "Ngoài khoảng cho phép" in report.text and "Trùng khóa" in report.text
    assert "Tệp bị từ chối" in report.text
    r = client.post("/console/datahub/thu-vien/upload", data={"csrf_token": token, "skip_invalid": "on"},
                    files={"file": ("tv.csv", b"ma,sach\nA,100\nB,-3\n")})
    assert "Đã nạp các dòng hợp lệ" in r.text
    page = client.get("/opendata/thu-vien")
    assert page.status_code == 200 and "Thư viện trường học" in page.text
    assert client.get("/opendata/search", params={"q": "thư viện"}).text.count("/opendata/thu-vien\"") == 1
    # Without the CSRF token nothing is written.
    assert client.post("/console/datahub/new", data={**form, "csrf_token": "x", "name": "khac"}).status_code == 403


def test_a_console_upload_over_the_limit_is_refused_and_loads_nothing(client, database, make_user, login, schools,
                                                                      monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from smartprovince.datahub import service

    monkeypatch.setattr(service, "MAX_UPLOAD_BYTES", 1000)
    token = login(make_user("dl.big", role="data_officer", org="so-gd"))
    r = client.post("/console/datahub/truong-hoc/upload", data={"csrf_token": token},
                    files={"file": ("big.csv", b"ma,ten\n" + b"X,y\n" * 400)})
    assert r.status_code == 413
    assert "Tệp lớn quá 200 MB" in r.text
    with database.session() as s:
        assert s.scalars(select(Load)).all() == []
