"""Loading files: the row-by-row report with every kind of bad row, quality scores, category lists."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from smartprovince.core.audit import AuditEntry
from smartprovince.core.bus import OutboxEvent
from smartprovince.core.errors import Conflict, ValidationProblem
from smartprovince.core.security import SYSTEM
from smartprovince.datahub import codelists, ingest, service
from smartprovince.datahub.models import Record

from .conftest import GOOD_ROWS, csv_bytes


def _load(database, settings, data: bytes, filename: str = "f.csv", **kw):  # type: ignore[no-untyped-def]
    with database.session() as s:
        return service.load_file(s, actor=SYSTEM, name="truong-hoc", source=data, filename=filename,
                                 data_dir=settings.data_dir, **kw)


def test_every_kind_of_bad_row_is_reported_and_nothing_is_stored(database, settings, loaded) -> None:
    bad = [
        ["B1", "", "288", "10", "1", "true", "2000-01-01", ""],             # missing required value
        ["B2", "Trường A", "288", "mười", "1", "true", "2000-01-01", ""],   # not an integer
        ["B3", "Trường B", "288", "9000", "1", "true", "2000-01-01", ""],   # above the maximum
        ["B4", "Trường C", "999", "10", "1", "true", "2000-01-01", ""],     # not in the category list
        ["B5", "Trường D", "288", "10", "abc", "true", "2000-01-01", ""],   # not a number
        ["B6", "Trường E", "288", "10", "1", "maybe", "2000-01-01", ""],    # not a boolean
        ["B7", "Trường F", "288", "10", "1", "true", "31/02/2021", ""],     # impossible date
        ["B8", "Trường G", "288", "-1", "1", "true", "2000-01-01", ""],     # below the minimum
        ["OK", "Trường H", "288", "10", "1", "true", "2000-01-01", ""],
        ["OK", "Trường I", "288", "11", "1", "true", "2000-01-01", ""],     # repeated key
        ["", "Trường K", "288", "11", "1", "true", "2000-01-01", ""],       # missing key
    ]
    load = _load(database, settings, csv_bytes(bad))
    assert load.status == "rejected"
    found = {(e["row"], e["code"]) for e in load.errors}
    assert found == {(1, "missing"), (2, "bad_type"), (3, "out_of_range"), (4, "not_in_codelist"), (5, "bad_type"),
                     (6, "bad_type"), (7, "bad_type"), (8, "out_of_range"), (10, "duplicate_key"), (11, "missing")}
    assert load.total_rows == 11 and load.valid_rows == 1 and load.error_count == 10
    with database.session() as s:  # the previous data is untouched
        assert s.scalar(select(func.count()).select_from(Record)) == 3


def test_skip_invalid_keeps_only_valid_rows(database, settings, schools) -> None:
    rows = [*GOOD_ROWS, ["T9", "Trường lỗi", "288", "x", "", "", "", ""], ["T1", "Trùng", "288", "1", "", "", "", ""]]
    load = _load(database, settings, csv_bytes(rows), skip_invalid=True)
    assert load.status == "partial" and load.valid_rows == 3
    with database.session() as s:
        stored = s.scalars(select(Record).order_by(Record.row_no)).all()
        assert [r.data["ma"] for r in stored] == ["T1", "T2", "T3"]
        assert stored[1].data["ngay"] == "2001-09-05"  # Vietnamese date order understood
        assert stored[2].data["chuan"] is True


def test_header_problems(database, settings, schools) -> None:
    missing = _load(database, settings, b"ma,huyen\nT1,288\n")
    assert missing.status == "rejected"
    assert {(e["field"], e["code"]) for e in missing.errors} == {("ten", "missing_column")}
    extra = _load(database, settings, csv_bytes(GOOD_ROWS, header=[
        "Mã trường", "Tên trường", "huyen", "so_hoc_sinh", "diem_tb", "chuan", "ngay", "dien_thoai"]) .replace(
        b"dien_thoai", b"ghi_chu"))
    # Titles work as column names; an unknown column is only a warning.
    assert extra.status == "loaded"
    assert [e["code"] for e in extra.errors] == ["unknown_column"]


def test_json_and_xlsx_uploads(database, settings, schools) -> None:
    records = [{"ma": "J1", "ten": "  Trường   Mầm non Hoa Sen ", "huyen": "288", "so_hoc_sinh": 120}]
    load = _load(database, settings, json.dumps({"records": records}).encode(), filename="x.json")
    assert load.status == "loaded" and load.file_format == "json"
    with database.session() as s:
        assert s.scalar(select(Record.data)).get("ten") == "Trường Mầm non Hoa Sen"  # normalised text

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["ma", "ten", "huyen", "so_hoc_sinh", "ngay"])
    ws.append(["X1", "Trường Tiểu học Ngọc Châu", 288, 450, date(1999, 9, 1)])
    ws.append(["X2", "Trường Tiểu học Tứ Minh", "290", 12.5, None])
    buf = io.BytesIO()
    wb.save(buf)
    load = _load(database, settings, buf.getvalue(), filename="upload.xlsx")
    assert load.file_format == "xlsx" and load.status == "rejected"
    assert [(e["row"], e["field"], e["code"]) for e in load.errors] == [(2, "so_hoc_sinh", "bad_type")]


def test_load_writes_audit_event_and_quality(database, settings, loaded) -> None:
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "datahub.dataset.loaded")) == 1
        assert s.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.topic == "datahub.dataset.loaded")) == 1
        from smartprovince.datahub.queries import latest_quality

        q = latest_quality(s, loaded.dataset_id)
        assert q is not None
        assert (q.correct, q.clean, q.live) == (100.0, 100.0, 100.0)
        assert 0 < q.complete < 100  # row T3 leaves two optional cells empty


def test_codelist_versions_decide_by_effective_date(database, frozen_clock) -> None:
    with database.session() as s:
        codelists.create_codelist(s, actor=SYSTEM, code="dan-toc", name="Dân tộc")
        codelists.publish_version(s, actor=SYSTEM, code="dan-toc", items=[{"code": "01", "label": "Kinh"}],
                                  effective_from=date(2020, 1, 1))
        codelists.publish_version(s, actor=SYSTEM, code="dan-toc", items=[
            {"code": "01", "label": "Kinh"}, {"code": "02", "label": "Tày"}], effective_from=date(2025, 7, 1))
        with pytest.raises(Conflict):
            codelists.publish_version(s, actor=SYSTEM, code="dan-toc", items=[{"code": "01"}],
                                      effective_from=date(2025, 7, 1))
        with pytest.raises(ValidationProblem):
            codelists.publish_version(s, actor=SYSTEM, code="dan-toc", items=[{"code": "01"}, {"code": "01"}],
                                      effective_from=date(2026, 1, 1))
    with database.session() as s:
        assert codelists.codes_on(s, "dan-toc", date(2024, 12, 31)) == {"01"}
        assert codelists.codes_on(s, "dan-toc", date(2025, 7, 1)) == {"01", "02"}
        assert codelists.codes_on(s, "dan-toc", date(2019, 1, 1)) == set()
        assert codelists.codes_on(s, "khong-co", date(2024, 1, 1)) is None
        v1 = codelists.versions(s, codelists.get_codelist(s, "dan-toc"))[-1]
        assert v1.effective_to == date(2025, 6, 30)


def test_definition_is_checked(database, orgs, units_list) -> None:
    from smartprovince import identity

    with database.session() as s:
        org = identity.get_org_by_code(s, "so-gd")
        base = {"title": "X", "sector": "education"}
        with pytest.raises(ValidationProblem):
            service.define_dataset(s, actor=SYSTEM, name="x1", org_id=org.id, fields=[{"name": "A b"}], **base)
        with pytest.raises(ValidationProblem):
            service.define_dataset(s, actor=SYSTEM, name="x1", org_id=org.id, key=["zz"],
                                   fields=[{"name": "a", "title": "A"}], **base)
        with pytest.raises(Exception, match="category list"):
            service.define_dataset(s, actor=SYSTEM, name="x1", org_id=org.id,
                                   fields=[{"name": "a", "title": "A", "type": "code", "codelist": "khong-co"}], **base)
        with pytest.raises(ValidationProblem):
            service.define_dataset(s, actor=SYSTEM, name="x1", org_id=org.id, public=True, licence="internal",
                                   fields=[{"name": "a", "title": "A"}], **base)
        for reserved in ("codelists", "new"):  # console paths: such a dataset would lose its pages to them
            with pytest.raises(ValidationProblem, match="reserved"):
                service.define_dataset(s, actor=SYSTEM, name=reserved, org_id=org.id,
                                       fields=[{"name": "a", "title": "A"}], **base)


def test_values_that_look_personal_in_an_open_field_are_flagged_masked(database, settings, schools) -> None:
    """A CCCD or mobile number typed into a field not declared personal is flagged once per field, masked."""
    rows = [["P1", "030190001234", "288", "10", "", "", "", ""],
            ["P2", "030190005678", "288", "10", "", "", "", ""],
            ["P3", "Trường có số 0912.345.678", "288", "10", "", "", "", ""],
            ["P4", "Trường Tiểu học Số 1", "288", "2024", "", "", "", ""]]
    load = _load(database, settings, csv_bytes(rows))
    assert load.status == "loaded"  # a warning: the officer decides, nothing is refused
    flagged = [e for e in load.errors if e["code"] == "looks_personal"]
    assert [(e["row"], e["field"], e["level"]) for e in flagged] == [(1, "ten", "warning")]
    assert flagged[0]["value"] == "030******234"
    assert "030190001234" not in json.dumps(load.errors)
    assert ingest.looks_personal("+84 912 345 678") and ingest.looks_personal("0912-345-678")
    assert not ingest.looks_personal("0220 3852 123") and not ingest.looks_personal("Số 0912")
