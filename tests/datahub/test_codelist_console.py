"""The console page of the shared category lists: create a list, publish versions from a text box or a
CSV file, read a version's items; bad input shows a Vietnamese message and writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from smartprovince.core.security import SYSTEM
from smartprovince.datahub import codelists, service
from smartprovince.datahub.models import CodeList, CodeListVersion

from .conftest import GOOD_ROWS, csv_bytes

PAGE = "/console/datahub/codelists"
UNITS = "don-vi-hanh-chinh"


@pytest.fixture
def officer(client, make_user, login, orgs):  # type: ignore[no-untyped-def]
    """A data officer (holds datahub.codelist.manage) logged in; returns the CSRF token."""
    return login(make_user("dulieu", role="data_officer", org="so-gd"))


def _counts(database) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with database.session() as s:
        return (s.scalar(select(func.count()).select_from(CodeList)) or 0,
                s.scalar(select(func.count()).select_from(CodeListVersion)) or 0)


def _versions(database, code: str) -> list[tuple[int, date, date | None, list[str]]]:  # type: ignore[no-untyped-def]
    with database.session() as s:
        return [(v.version, v.effective_from, v.effective_to, [i["code"] for i in v.items])
                for v in codelists.versions(s, codelists.get_codelist(s, code))]


def test_officer_creates_a_list_and_publishes_versions(client, database, officer, frozen_clock) -> None:
    page = client.get(PAGE)
    assert page.status_code == 200 and "Tạo danh mục" in page.text
    r = client.post(PAGE, data={"csrf_token": officer, "code": "loai-truong", "name": "Loại trường",
                                "name_en": "School types", "description": "Theo Luật Giáo dục"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == PAGE + "#cl-loai-truong"
    page = client.get(PAGE)
    assert "Loại trường" in page.text and "Đã tạo danh mục loai-truong" in page.text
    assert "Danh mục chưa có phiên bản nào." in page.text and "built-in method" not in page.text

    # Version 1 from the text box (blank lines ignored, a name with a comma quoted).
    r = client.post(PAGE + "/loai-truong/versions", follow_redirects=False,
                    data={"csrf_token": officer, "effective_from": "2024-01-01", "note": "QĐ 01/2024",
                          "items": '01,Tiểu học\n\n02,"Trung học cơ sở, THCS"\n'})
    assert r.status_code == 303, r.text
    assert "Đã công bố phiên bản 1 của danh mục loai-truong, hiệu lực từ 01/01/2024 (2 mục)." in client.get(PAGE).text

    # "Copy the current version" fills the text box with its items, ready to edit one.
    copied = client.get(PAGE, params={"copy": "loai-truong"}).text
    assert "01,Tiểu học\n02,&#34;Trung học cơ sở, THCS&#34;" in copied or \
        "01,Tiểu học\n02,&quot;Trung học cơ sở, THCS&quot;" in copied

    # Version 2 from a CSV file with a header, a BOM and a parent column, from 2026-03-01.
    csv_file = "\ufeffcode,name,parent\n01,Tiểu học,\n02,Trung học cơ sở,\n03,Trung học phổ thông,\n".encode()
    r = client.post(PAGE + "/loai-truong/versions", follow_redirects=False,
                    data={"csrf_token": officer, "effective_from": "2026-03-01"},
                    files={"file": ("loai-truong.csv", csv_file, "text/csv")})
    assert r.status_code == 303, r.text

    assert _versions(database, "loai-truong") == [
        (2, date(2026, 3, 1), None, ["01", "02", "03"]),
        (1, date(2024, 1, 1), date(2026, 2, 28), ["01", "02"]),  # closed the day before
    ]
    with database.session() as s:
        assert codelists.codes_on(s, "loai-truong", date(2026, 2, 28)) == {"01", "02"}
        assert codelists.codes_on(s, "loai-truong", date(2026, 3, 1)) == {"01", "02", "03"}

    # The list page shows both versions; the page of a version lists its items.
    page = client.get(PAGE).text
    assert "Đang hiệu lực" in page and "01/03/2026" in page and "28/02/2026" in page
    one = client.get(PAGE + "/loai-truong", params={"version": 1})
    assert one.status_code == 200 and "Trung học cơ sở, THCS" in one.text and "Trung học phổ thông" not in one.text
    assert "Trung học phổ thông" in client.get(PAGE + "/loai-truong").text  # today's version by default
    assert client.get(PAGE + "/loai-truong", params={"version": 9}).status_code == 404
    assert client.get(PAGE + "/khong-co").status_code == 404


def test_a_dataset_column_is_checked_against_the_version_in_force(client, database, settings, officer, schools,
                                                                  frozen_clock) -> None:
    # Two districts merge into a new one from 2026-03-01 (the frozen clock's day is 2026-03-02).
    r = client.post(PAGE + f"/{UNITS}/versions", follow_redirects=False,
                    data={"csrf_token": officer, "effective_from": "2026-03-01",
                          "items": "30,Tỉnh Hải Dương\n288,Thành phố Hải Dương\n292,Thành phố mới"})
    assert r.status_code == 303, r.text
    rows = [*GOOD_ROWS[:2], ["T3", "Trường THPT Chí Linh", "290", "1200", "", "có", "", ""]]
    with database.session() as s:
        load = service.load_file(s, actor=SYSTEM, name="truong-hoc", source=csv_bytes(rows),
                                 filename="truong.csv", data_dir=settings.data_dir)
        assert load.status == "rejected"
        assert {(e["row"], e["code"]) for e in load.errors} == {(3, "not_in_codelist")}
    rows[2][2] = "292"
    with database.session() as s:
        load = service.load_file(s, actor=SYSTEM, name="truong-hoc", source=csv_bytes(rows),
                                 filename="truong.csv", data_dir=settings.data_dir)
        assert load.status == "loaded", load.errors
    # A load dated before the new version still follows version 1, where 290 exists.
    frozen_clock[0] = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)
    rows[2][2] = "290"
    with database.session() as s:
        load = service.load_file(s, actor=SYSTEM, name="truong-hoc", source=csv_bytes(rows),
                                 filename="truong.csv", data_dir=settings.data_dir)
        assert load.status == "loaded", load.errors


CREATE_ERRORS = [
    ({"code": "Dân Tộc", "name": "Dân tộc"}, "Mã danh mục gồm 2–60 ký tự"),
    ({"code": "x", "name": "Dân tộc"}, "Mã danh mục gồm 2–60 ký tự"),
    ({"code": "dan-toc", "name": "   "}, "Nhập tên danh mục."),
    ({"code": UNITS, "name": "Trùng"}, f"Đã có danh mục mã {UNITS}."),
]


@pytest.mark.parametrize(("form", "message"), CREATE_ERRORS)
def test_bad_list_is_refused_and_nothing_written(client, database, officer, units_list, form, message) -> None:
    before = _counts(database)
    r = client.post(PAGE, data={"csrf_token": officer, **form})
    assert r.status_code == 422 and message in r.text
    assert 'role="alert"' in r.text and "<details id=\"cl-new\" open" in r.text  # the form is shown again, filled
    assert _counts(database) == before


BIG = "code,name\n" + "".join(f"{i},Mục số {i}\n" for i in range(2000))
VERSION_ERRORS = [
    ({"effective_from": "2026-01-01", "items": ""}, None, "Phiên bản cần ít nhất một mục"),
    ({"effective_from": "2026-01-01", "items": "\n \n"}, None, "Phiên bản cần ít nhất một mục"),
    ({"effective_from": "2026-01-01", "items": "01,Kinh\n02,Tày\n01,Thái"}, None,
     "Mã 01 xuất hiện hai lần (dòng 1 và dòng 3)."),
    ({"effective_from": "2026-01-01", "items": "01,Kinh\n,Tày"}, None, "Dòng 2: thiếu mã."),
    ({"effective_from": "2026-01-01", "items": "01,Kinh,,thừa"}, None, "Dòng 1: thừa cột"),
    ({"effective_from": "2022-12-31", "items": "01,Kinh"}, None,
     "Phiên bản mới phải có hiệu lực sau ngày 01/01/2023 (ngày bắt đầu của phiên bản 1)."),
    ({"effective_from": "2023-01-01", "items": "01,Kinh"}, None, "Phiên bản mới phải có hiệu lực sau ngày 01/01/2023"),
    ({"effective_from": "", "items": "01,Kinh"}, None, "Nhập ngày bắt đầu hiệu lực"),
    ({"effective_from": "31/12/2026", "items": "01,Kinh"}, None, "Nhập ngày bắt đầu hiệu lực"),
    ({"effective_from": "2026-01-01", "items": "01,Kinh"}, ("a.csv", b"code,name\n02,Tay\n"),
     "Chọn một trong hai"),
    ({"effective_from": "2026-01-01"}, ("a.xlsx", b"PK\x03\x04\x00\x00"), "Chỉ nhận tệp CSV"),
    ({"effective_from": "2026-01-01"}, ("a.csv", b"PK\x03\x04\x00\x00binary"), "không phải là tệp CSV"),
    ({"effective_from": "2026-01-01"}, ("a.csv", "code,name\n01,Tày\n".encode("cp1258")), "mã hóa UTF-8"),
    ({"effective_from": "2026-01-01"}, ("a.csv", "01,Kinh\n02,Tày\n".encode()), "phải là tiêu đề code,name"),
    ({"effective_from": "2026-01-01"}, ("a.csv", b"code,name,ghi_chu\n01,Kinh,x\n"),
     "Cột không được hỗ trợ: ghi_chu."),
    ({"effective_from": "2026-01-01"}, ("a.csv", b"code,name\n"), "Phiên bản cần ít nhất một mục"),
    ({"effective_from": "2026-01-01"}, ("big.csv", BIG.encode()), "Tệp lớn quá"),
]


@pytest.mark.parametrize(("form", "upload", "message"), VERSION_ERRORS)
def test_bad_version_is_refused_and_nothing_written(app, client, database, officer, units_list, form, upload,
                                                    message) -> None:
    app.state.settings.max_upload_bytes = 20_000  # BIG is about 34 kB
    before = _counts(database)
    files = {"file": upload} if upload else None
    r = client.post(PAGE + f"/{UNITS}/versions", data={"csrf_token": officer, **form}, files=files)
    assert r.status_code == 422 and message in r.text, r.text[-3000:]
    assert f'<details id="publish-{UNITS}" open' in r.text
    assert _counts(database) == before
    assert _versions(database, UNITS) == [(1, date(2023, 1, 1), None, ["30", "288", "290"])]  # still open


def test_a_large_list_can_be_typed_in_the_text_box(client, database, officer, units_list) -> None:
    lines = "".join(f"x{i:05d},Đơn vị hành chính cấp xã số {i}\n" for i in range(40_000))  # about 1.8 MB
    assert len(lines.encode()) > 1024 * 1024
    r = client.post(PAGE + f"/{UNITS}/versions", follow_redirects=False,
                    data={"csrf_token": officer, "effective_from": "2025-07-01", "items": lines})
    assert r.status_code == 303, r.text[-2000:]
    assert len(_versions(database, UNITS)[0][3]) == 40_000


def test_error_messages_are_english_for_english_readers(client, officer, units_list) -> None:
    client.cookies.set("sp_lang", "en")
    r = client.post(PAGE + f"/{UNITS}/versions",
                    data={"csrf_token": officer, "effective_from": "2026-01-01", "items": "01,Kinh\n01,Kinh"})
    assert r.status_code == 422 and "Code 01 appears twice (line 1 and line 2)." in r.text


def test_unknown_list_is_404(client, officer) -> None:
    r = client.post(PAGE + "/khong-co/versions", data={"csrf_token": officer, "effective_from": "2026-01-01",
                                                       "items": "01,Kinh"})
    assert r.status_code == 404


def test_without_the_permission_nothing_is_shown_or_written(client, database, make_user, login, units_list) -> None:
    login(make_user("chuyenvien", role="specialist", org="so-gd"))  # datahub.dataset.read only
    before = _counts(database)
    assert client.get(PAGE).status_code == 403
    assert client.get(PAGE + f"/{UNITS}").status_code == 403
    assert client.post(PAGE, data={"code": "dan-toc", "name": "Dân tộc"}).status_code == 403
    assert client.post(PAGE + f"/{UNITS}/versions",
                       data={"effective_from": "2026-01-01", "items": "01,Kinh"}).status_code == 403
    assert _counts(database) == before


def test_dataset_managers_without_the_codelist_permission_only_read(client, database, make_user, login,
                                                                   units_list) -> None:
    from smartprovince import identity

    with database.session() as s:
        identity.create_role(s, actor=SYSTEM, code="dataset_only", name="Chỉ quản lý bộ dữ liệu",
                             permissions=["datahub.dataset.manage"])
    token = login(make_user("nhaplieu", role="dataset_only", org="so-gd"))
    page = client.get(PAGE)
    assert page.status_code == 200 and "Đơn vị hành chính" in page.text
    assert 'action="/console/datahub/codelists"' not in page.text and "/versions" not in page.text
    assert client.get(PAGE + f"/{UNITS}").status_code == 200
    before = _counts(database)
    assert client.post(PAGE, data={"csrf_token": token, "code": "dan-toc", "name": "Dân tộc"}).status_code == 403
    assert client.post(PAGE + f"/{UNITS}/versions", data={"csrf_token": token, "effective_from": "2026-01-01",
                                                          "items": "01,Kinh"}).status_code == 403
    assert _counts(database) == before


def test_csrf_missing_or_wrong_is_refused(client, database, officer, units_list) -> None:
    before = _counts(database)
    del client.headers["x-csrf-token"]  # the login fixture sends the token as a header too
    assert client.post(PAGE, data={"code": "dan-toc", "name": "Dân tộc"}).status_code == 403
    assert client.post(PAGE, data={"csrf_token": "x", "code": "dan-toc", "name": "Dân tộc"}).status_code == 403
    assert client.post(PAGE + f"/{UNITS}/versions",
                       data={"effective_from": "2026-01-01", "items": "01,Kinh"}).status_code == 403
    assert client.post(PAGE + f"/{UNITS}/versions", data={"csrf_token": "x", "effective_from": "2026-01-01"},
                       files={"file": ("a.csv", b"code,name\n01,Kinh\n")}).status_code == 403
    assert _counts(database) == before
