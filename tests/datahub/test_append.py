"""Append and upsert loads: rows added to a stored dataset by key, with the same report; a failed
load leaves the stored records, the snapshot and the row count as they were."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from smartprovince.core.errors import ValidationProblem
from smartprovince.core.security import SYSTEM
from smartprovince.datahub import service, store
from smartprovince.datahub.models import Dataset, Record
from smartprovince.datahub.queries import access_dataset

from .conftest import PHONE, csv_bytes


def _load(database, settings, rows, **kw):  # type: ignore[no-untyped-def]
    with database.session() as s:
        return service.load_file(s, actor=SYSTEM, name="truong-hoc", source=csv_bytes(rows), filename="f.csv",
                                 data_dir=settings.data_dir, **kw)


def _state(database, settings):  # type: ignore[no-untyped-def]
    """(records by _id from the table, rows of the public snapshot, dataset row count)."""
    with database.session() as s:
        records = {r.row_no: r.data for r in s.scalars(select(Record).order_by(Record.row_no))}
        view = access_dataset(s, SYSTEM, "truong-hoc")
        path = service.snapshot_file(view, settings.data_dir, public=True)
        found = store.search(path, view.public_fields, limit=1000).records
        return records, found, view.dataset.row_count


def test_append_adds_rows_after_the_stored_ones(database, settings, loaded) -> None:
    load = _load(database, settings, [["T4", "Trường Mầm non Hoa Sen", "290", "90", "", "", "", PHONE],
                                      ["T5", "Trường Tiểu học Văn An", "290", "300", "", "", "", ""]], mode="append")
    assert load.status == "loaded" and load.mode == "append", load.errors
    records, public_rows, count = _state(database, settings)
    assert count == 5 and sorted(records) == [1, 2, 3, 4, 5]
    assert [r["ma"] for r in public_rows] == ["T1", "T2", "T3", "T4", "T5"]
    assert [r["_id"] for r in public_rows] == [1, 2, 3, 4, 5]
    assert records[4]["dien_thoai"] == PHONE and "dien_thoai" not in public_rows[3]


def test_append_refuses_a_key_already_stored_and_changes_nothing(database, settings, loaded) -> None:
    before = _state(database, settings)
    load = _load(database, settings, [["T2", "Trùng khóa", "288", "1", "", "", "", ""],
                                      ["T6", "Mới", "288", "1", "", "", "", ""]], mode="append")
    assert load.status == "rejected"
    assert [(e["row"], e["code"]) for e in load.errors] == [(1, "duplicate_key")]
    assert "already in the dataset" in load.errors[0]["message"]
    assert _state(database, settings) == before


def test_append_skip_invalid_keeps_the_new_keys_only(database, settings, loaded) -> None:
    load = _load(database, settings, [["T2", "Trùng khóa", "288", "1", "", "", "", ""],
                                      ["T6", "Mới", "288", "1", "", "", "", ""]], mode="append", skip_invalid=True)
    assert load.status == "partial" and load.valid_rows == 1
    records, public_rows, count = _state(database, settings)
    assert count == 4 and records[2]["ten"] == "Trường THCS Bình Hàn" and records[4]["ma"] == "T6"


def test_upsert_replaces_by_key_keeps_ids_and_adds_new(database, settings, loaded) -> None:
    load = _load(database, settings, [["T2", "Trường THCS Bình Hàn (mới)", "288", "560", "8.5", "", "", ""],
                                      ["T7", "Trường THPT Nguyễn Trãi", "288", "1500", "", "", "", ""]], mode="upsert")
    assert load.status == "loaded", load.errors
    records, public_rows, count = _state(database, settings)
    assert count == 4 and sorted(records) == [1, 2, 3, 4]
    assert records[2]["ten"] == "Trường THCS Bình Hàn (mới)" and records[2]["so_hoc_sinh"] == 560
    assert records[2]["dien_thoai"] is None  # the new row replaces the whole record
    assert records[1]["ma"] == "T1" and records[4]["ma"] == "T7"
    assert [(r["_id"], r["ma"]) for r in public_rows] == [(1, "T1"), (2, "T2"), (3, "T3"), (4, "T7")]


def test_upsert_with_bad_rows_is_rejected_and_nothing_changes(database, settings, loaded) -> None:
    before = _state(database, settings)
    load = _load(database, settings, [["T2", "", "288", "1", "", "", "", ""]], mode="upsert")
    assert load.status == "rejected"
    assert _state(database, settings) == before


def test_append_to_an_empty_dataset_and_after_a_new_field(database, settings, schools) -> None:
    load = _load(database, settings, [["T1", "A", "288", "1", "", "", "", ""]], mode="append")
    assert load.status == "loaded"
    with database.session() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == "truong-hoc"))
        service.update_dataset(s, actor=SYSTEM, name="truong-hoc",
                               fields=[*ds.fields, {"name": "web", "title": "Trang web"}])
    header = ["ma", "ten", "huyen", "so_hoc_sinh", "diem_tb", "chuan", "ngay", "dien_thoai", "web"]
    with database.session() as s:
        load = service.load_file(s, actor=SYSTEM, name="truong-hoc", filename="f.csv", data_dir=settings.data_dir,
                                 source=csv_bytes([["T2", "B", "288", "2", "", "", "", "", "http://b.edu.vn"]], header),
                                 mode="append")
    assert load.status == "loaded", load.errors
    records, public_rows, count = _state(database, settings)
    assert count == 2 and public_rows[0]["web"] is None and public_rows[1]["web"] == "http://b.edu.vn"


def test_upsert_needs_a_key_and_mode_is_checked(database, settings, schools) -> None:
    with pytest.raises(ValidationProblem):
        _load(database, settings, [["T1", "A", "288", "1", "", "", "", ""]], mode="merge")
    with database.session() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == "truong-hoc"))
        ds.key = []
    with pytest.raises(ValidationProblem):
        _load(database, settings, [["T1", "A", "288", "1", "", "", "", ""]], mode="upsert")


def test_api_upload_with_mode(client, make_user, login, loaded) -> None:
    login(make_user("dl", role="data_officer", org="so-gd"))
    r = client.post("/api/v1/datahub/datasets/truong-hoc/loads", data={"mode": "append"},
                    files={"file": ("a.csv", csv_bytes([["T9", "Trường mới", "290", "5", "", "", "", ""]]))})
    assert r.status_code == 201 and r.json()["mode"] == "append" and r.json()["status"] == "loaded"
    r = client.post("/api/v1/datahub/datasets/truong-hoc/loads", data={"mode": "sideways"},
                    files={"file": ("a.csv", csv_bytes([["T9", "x", "290", "5", "", "", "", ""]]))})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


def test_streamed_export_in_small_pieces_is_one_valid_file(database, settings, loaded) -> None:
    import csv
    import io
    import json

    _load(database, settings, [["T4", "Trường \"Hoa Sen\", mới", "290", "90", "", "", "", ""]], mode="append")
    with database.session() as s:
        view = access_dataset(s, SYSTEM, "truong-hoc")
        path = service.snapshot_file(view, settings.data_dir, public=True)
    columns = ["_id"] + [f.name for f in view.public_fields]
    text = b"".join(store.export_stream(path, "csv", columns, batch_rows=1, chunk_bytes=7)).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == columns and [r[1] for r in rows[1:]] == ["T1", "T2", "T3", "T4"]
    assert rows[4][2] == "Trường \"Hoa Sen\", mới"
    data = json.loads(b"".join(store.export_stream(path, "json", columns, batch_rows=2, chunk_bytes=5)))
    assert [r["ma"] for r in data] == ["T1", "T2", "T3", "T4"] and data[3]["ten"].endswith(", mới")
    assert "dien_thoai" not in data[0]


def test_index_copy_for_code_and_indexed_fields_answers_like_the_snapshot(database, settings, loaded) -> None:
    import duckdb

    rows = [[f"X{i}", f"Trường {i}", "288" if i % 3 else "290", str(i), "", "", "", PHONE] for i in range(40)]
    _load(database, settings, rows, mode="append")
    with database.session() as s:
        view = access_dataset(s, SYSTEM, "truong-hoc")
        path = service.snapshot_file(view, settings.data_dir, public=True)
        full = service.snapshot_file(view, settings.data_dir, public=False)
    index = store.index_path(path, "huyen")
    assert index.exists() and not store.index_path(path, "ten").exists()
    columns = [r[0] for r in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{index}')").fetchall()]
    assert "dien_thoai" not in columns  # index copies are made from public columns only
    for kw in ({}, {"sort": "so_hoc_sinh desc"}, {"offset": 5}, {"q": "Trường 1"}):
        with_index = store.search(path, view.public_fields, filters={"huyen": "290"}, limit=7, **kw)
        without = store.search(full, view.public_fields, filters={"huyen": "290"}, limit=7, **kw)
        assert with_index == without and with_index.total > 0, kw


def test_old_snapshots_are_removed_keeping_the_previous_one(database, settings, loaded) -> None:
    for i in range(3):
        _load(database, settings, [[f"N{i}", "Trường", "288", "1", "", "", "", ""]], mode="append")
    with database.session() as s:
        view = access_dataset(s, SYSTEM, "truong-hoc")
        current = view.dataset.snapshot
    files = sorted(p.name for p in store.dataset_dir(settings.data_dir, view.dataset.id).iterdir())
    assert current == 4
    assert {f.split("-")[0] for f in files} == {"3", "4"}
    assert f"{current}-public.by-huyen.parquet" in files and f"{current}-full.parquet" in files
