"""The analytics warehouse: incremental sync, failure safety, figures equal to direct SQL, no personal data."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import func, select

from smartprovince.core.errors import ValidationProblem
from smartprovince.core.ids import new_id
from smartprovince.datahub import (
    compact_warehouse,
    sync_warehouse,
    warehouse_query,
    warehouse_status,
    warehouse_tables,
)
from smartprovince.datahub import warehouse as wh
from smartprovince.feedback.models import Report
from smartprovince.operations.models import Incident
from smartprovince.procedures.models import Dossier, DossierAction, Procedure

from .conftest import PHONE, csv_bytes

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
CORE_FEEDS = ["dossiers", "reports", "incidents", "observations_hourly"]
SECRETS = ("Nguyễn Văn Bí Mật", "030190009999", "0912345678", "bimat@example.vn", "Số 9 ngõ Bí Mật")


@pytest.fixture
def place(database, make_org, frozen_clock):  # type: ignore[no-untyped-def]
    """Province → district → commune, and one procedure handled by the commune."""
    from smartprovince import identity

    frozen_clock[0] = T0
    with database.session() as s:
        province = identity.get_org_by_code(s, "30")  # made already by the data hub fixtures
    province = province or make_org("30", "Tỉnh Hải Dương", "province")
    district = make_org("296", "Huyện Cẩm Giàng", "district", parent="30")
    commune = make_org("10792", "Thị trấn Lai Cách", "commune", parent="296")
    with database.session() as s:
        proc = Procedure(code="1.001", name="Đăng ký khai sinh", field="Hộ tịch", agency_code="10792",
                         level="commune", online_level="full", processing_time=3, processing_unit="working_days",
                         created_at=T0, is_essential=True)
        s.add(proc)
        s.flush()
        proc_id = proc.id
    return {"province": province, "district": district, "commune": commune, "procedure_id": proc_id}


def add_dossier(database, place, *, channel: str = "online", status: int = 2, received: datetime = T0,  # type: ignore[no-untyped-def]
                due_days: int = 3, finished_days: float | None = None, supplements: int = 0, fee: int = 0) -> str:
    """A dossier with its first action (the warehouse notices dossiers through their action log)."""
    commune = place["commune"]
    with database.session() as s:
        d = Dossier(code=f"H-{new_id()[-10:]}", lookup_key="k", procedure_id=place["procedure_id"],
                    procedure_code="1.001", agency_code="10792", agency_org_id=commune.id, agency_path=commune.path,
                    channel=channel, status=status, applicant_name=SECRETS[0], applicant_cccd=SECRETS[1],
                    applicant_phone=SECRETS[2], applicant_email=SECRETS[3], applicant_address=SECRETS[4],
                    submitted_at=received, received_at=received, due_at=received + timedelta(days=due_days),
                    finished_at=None if finished_days is None else received + timedelta(days=finished_days),
                    supplement_requests=supplements, fee_total=fee, fee_paid=fee)
        s.add(d)
        s.flush()
        _action(s, d.id, status)
        return d.id


def _action(s: Any, dossier_id: str, status: int) -> None:
    seq = (s.scalar(select(func.count()).select_from(DossierAction).where(DossierAction.dossier_id == dossier_id))
           or 0) + 1
    s.add(DossierAction(id=new_id(), dossier_id=dossier_id, seq=seq, verb="test", to_status=status, at=T0))


def change_dossier(database, dossier_id: str, **values: Any) -> None:  # type: ignore[no-untyped-def]
    with database.session() as s:
        d = s.get(Dossier, dossier_id)
        for k, v in values.items():
            setattr(d, k, v)
        _action(s, dossier_id, d.status)


def test_views_exist_before_any_sync(settings) -> None:  # type: ignore[no-untyped-def]
    tables = warehouse_tables(settings)
    for name in CORE_FEEDS:
        assert name in tables
    assert ("timing", "VARCHAR") in tables["dossiers"]
    assert warehouse_query(settings, "SELECT count(*) AS n FROM dossiers") == [{"n": 0}]


def test_incremental_sync_picks_up_inserts_and_updates_exactly_once(database, settings, place) -> None:  # type: ignore[no-untyped-def]
    first = [add_dossier(database, place) for _ in range(3)]
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 3}
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 0}  # nothing changed

    change_dossier(database, first[0], status=9, finished_at=T0 + timedelta(days=1))
    fourth = add_dossier(database, place, channel="counter")
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 2}
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 0}

    rows = {r["id"]: r for r in warehouse_query(settings, "SELECT * FROM dossiers")}
    assert sorted(rows) == sorted([*first, fourth])
    assert rows[first[0]]["status"] == 9 and rows[first[0]]["timing"] == "early"
    assert rows[first[0]]["finished_at"] == T0 + timedelta(days=1)  # aware UTC instants come back
    assert rows[first[1]]["timing"] == "open"
    assert rows[fourth]["online"] is False
    assert rows[fourth]["district_org_id"] == place["district"].id
    assert rows[fourth]["commune_org_id"] == place["commune"].id
    assert warehouse_status(settings)["feeds"]["dossiers"]["parts"] == 2

    # compaction: one file, the same view
    assert compact_warehouse(settings)["dossiers"] == 4
    assert warehouse_status(settings)["feeds"]["dossiers"]["parts"] == 1
    again = {r["id"]: r for r in warehouse_query(settings, "SELECT * FROM dossiers")}
    assert again == rows
    files = list((Path(settings.data_dir) / "warehouse" / "dossiers").iterdir())
    assert len(files) == 1


def delete_dossier(database, dossier_id: str) -> None:  # type: ignore[no-untyped-def]
    """Delete a dossier and its action log (a dossier entered by mistake, removed by an administrator)."""
    from sqlalchemy import delete

    with database.session() as s:
        s.execute(delete(DossierAction).where(DossierAction.dossier_id == dossier_id))
        s.delete(s.get(Dossier, dossier_id))


def test_deleted_rows_leave_the_warehouse(database, settings, place, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    """A dossier deleted at the source gets a tombstone when the sync looks for deletions (hourly, or
    when asked); compaction drops it for good."""
    ids = [add_dossier(database, place) for _ in range(4)]
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 4}
    delete_dossier(database, ids[0])
    change_dossier(database, ids[1], status=9, finished_at=T0 + timedelta(days=1))
    delete_dossier(database, ids[2])
    # within the hour the sync reads only the change of ids[1] (reading every key is the costly part)
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 1}
    assert len(warehouse_query(settings, "SELECT id FROM dossiers")) == 4
    # an hour later it looks for deletions: ids[0] and ids[2] get tombstones and leave the view
    frozen_clock[0] = T0 + timedelta(seconds=wh.DELETIONS_EVERY_SECONDS)
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 0}
    assert warehouse_status(settings)["feeds"]["dossiers"]["parts"] == 3
    assert sorted(r["id"] for r in warehouse_query(settings, "SELECT id FROM dossiers")) == sorted([ids[1], ids[3]])
    state = wh.load_state(Path(settings.data_dir) / "warehouse")["feeds"]["dossiers"]
    assert state["deleted_last_sync"] == 2
    assert warehouse_query(settings, "SELECT count(*) AS n FROM dossiers WHERE status = 9") == [{"n": 1}]
    # asked again at once: nothing more is deleted (the tombstones are not written again)
    assert sync_warehouse(database, settings, feeds=["dossiers"], deletions=True) == {"dossiers": 0}
    assert wh.load_state(Path(settings.data_dir) / "warehouse")["feeds"]["dossiers"]["deleted_last_sync"] == 0
    assert compact_warehouse(settings)["dossiers"] == 2
    files = list((Path(settings.data_dir) / "warehouse" / "dossiers").glob("*.parquet"))
    assert len(files) == 1
    kept = duckdb.sql(f"SELECT id, _wh_deleted FROM read_parquet('{files[0]}') ORDER BY id").fetchall()
    assert kept == sorted([(ids[1], False), (ids[3], False)])
    assert sorted(r["id"] for r in warehouse_query(settings, "SELECT id FROM dossiers")) == sorted([ids[1], ids[3]])
    # a full sync reads the current table: no tombstones needed
    delete_dossier(database, ids[3])
    assert sync_warehouse(database, settings, feeds=["dossiers"], full=True) == {"dossiers": 1}
    assert [r["id"] for r in warehouse_query(settings, "SELECT id FROM dossiers")] == [ids[1]]


def test_a_deleted_key_that_comes_back_is_visible_again(database, settings, place) -> None:  # type: ignore[no-untyped-def]
    """A dossier restored with its old id after its tombstone (a backup put back) shows again."""
    kept = add_dossier(database, place)
    gone = add_dossier(database, place)
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 2}
    with database.session() as s:
        row = s.get(Dossier, gone)
        saved = {c.key: getattr(row, c.key) for c in Dossier.__table__.columns}
    delete_dossier(database, gone)
    assert sync_warehouse(database, settings, feeds=["dossiers"], deletions=True) == {"dossiers": 0}
    assert [r["id"] for r in warehouse_query(settings, "SELECT id FROM dossiers")] == [kept]
    with database.session() as s:
        s.add(Dossier(**saved))
        s.flush()
        _action(s, gone, 2)
    assert sync_warehouse(database, settings, feeds=["dossiers"], deletions=True) == {"dossiers": 1}
    assert sorted(r["id"] for r in warehouse_query(settings, "SELECT id FROM dossiers")) == sorted([kept, gone])
    assert compact_warehouse(settings)["dossiers"] == 2


def test_parts_from_before_tombstones_are_read_again_once(database, settings, place) -> None:  # type: ignore[no-untyped-def]
    """A warehouse written before deletions were carried (no ``_wh_deleted``) re-reads the feed once."""
    ids = [add_dossier(database, place) for _ in range(2)]
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 2}
    root = Path(settings.data_dir) / "warehouse"
    state = wh.load_state(root)
    entry = state["feeds"]["dossiers"]
    part = root / "dossiers" / entry["parts"][0]
    duckdb.sql(f"COPY (SELECT * EXCLUDE (_wh_deleted) FROM read_parquet('{part}')) TO '{part}.old' (FORMAT parquet)")
    part.with_name(part.name + ".old").replace(part)
    del entry["tombstones"]
    wh._save_state(root, state)
    assert len(warehouse_query(settings, "SELECT id FROM dossiers")) == 2  # still readable as it was
    delete_dossier(database, ids[0])
    assert sync_warehouse(database, settings, feeds=["dossiers"], deletions=False) == {"dossiers": 1}  # from the start
    assert [r["id"] for r in warehouse_query(settings, "SELECT id FROM dossiers")] == [ids[1]]


def test_a_change_in_the_overlap_is_not_read_twice(database, settings, place) -> None:  # type: ignore[no-untyped-def]
    """The window overlaps the previous one (late commits); what was read already is skipped."""
    a = add_dossier(database, place)
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 1}
    b = add_dossier(database, place)  # a few milliseconds later: inside the overlap of the last window
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 1}
    assert {r["id"] for r in warehouse_query(settings, "SELECT id FROM dossiers")} == {a, b}


def test_full_sync_replaces_and_reset_database_is_noticed(database, settings, place) -> None:  # type: ignore[no-untyped-def]
    add_dossier(database, place)
    sync_warehouse(database, settings, feeds=["dossiers"])
    add_dossier(database, place)
    assert sync_warehouse(database, settings, feeds=["dossiers"], full=True) == {"dossiers": 2}
    assert warehouse_status(settings)["feeds"]["dossiers"]["parts"] == 1
    assert warehouse_query(settings, "SELECT count(*) AS n FROM dossiers") == [{"n": 2}]

    # the state belongs to another database (demo reset, restore): everything is read again
    root = Path(settings.data_dir) / "warehouse"
    state = wh.load_state(root)
    state["source"] = "another database"
    wh._save_state(root, state)
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 2}
    assert warehouse_query(settings, "SELECT count(*) AS n FROM dossiers") == [{"n": 2}]
    assert len(list((root / "dossiers").iterdir())) == 1


def test_a_failed_sync_leaves_the_previous_state_readable(database, settings, place, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first = add_dossier(database, place)
    sync_warehouse(database, settings, feeds=["dossiers"])
    before = warehouse_status(settings)["feeds"]["dossiers"]
    second = add_dossier(database, place)
    change_dossier(database, first, status=9, finished_at=T0 + timedelta(days=5))

    real_save = wh._save_state

    def crash(root: Path, state: dict[str, Any]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(wh, "_save_state", crash)  # the part is written and renamed, the state is not
    with pytest.raises(OSError):
        sync_warehouse(database, settings, feeds=["dossiers"])
    assert warehouse_status(settings)["feeds"]["dossiers"] == before
    rows = warehouse_query(settings, "SELECT id, status FROM dossiers")
    assert rows == [{"id": first, "status": 2}]

    # a crash while reading the rows: nothing written either
    def broken_rows(session: Any, after: Any) -> tuple[Any, Any]:
        def gen() -> Any:
            yield from ()
            raise RuntimeError("connection lost")
        return gen(), "never stored"

    monkeypatch.setattr(wh, "_save_state", real_save)
    feeds = wh.all_feeds
    monkeypatch.setattr(wh, "all_feeds", lambda s: {**feeds(s), "dossiers": _replace_rows(feeds(s)["dossiers"],
                                                                                          broken_rows)})
    with pytest.raises(RuntimeError):
        sync_warehouse(database, settings, feeds=["dossiers"])
    assert warehouse_status(settings)["feeds"]["dossiers"] == before
    monkeypatch.setattr(wh, "all_feeds", feeds)

    # the next sync reads the same changes again, exactly once, and removes the orphan part
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 2}
    rows = {r["id"]: r["status"] for r in warehouse_query(settings, "SELECT id, status FROM dossiers")}
    assert rows == {first: 9, second: 2}
    folder = Path(settings.data_dir) / "warehouse" / "dossiers"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        wh.load_state(folder.parent)["feeds"]["dossiers"]["parts"])


def _replace_rows(feed: Any, rows: Any) -> Any:
    from dataclasses import replace

    return replace(feed, rows=rows)


def _reports_and_incidents(database, place, rng: random.Random, n: int) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    commune, district = place["commune"], place["district"]
    reports, incidents = [], []
    with database.session() as s:
        for _ in range(n):
            created = T0 + timedelta(hours=rng.randrange(0, 500))
            resolved = created + timedelta(hours=rng.randrange(1, 100)) if rng.random() < 0.6 else None
            r = Report(code=f"PA-{new_id()[-8:]}", token=new_id(), follow_key=new_id(),
                       category_code=rng.choice(["rac-thai", "den-duong", "ngap"]), description=SECRETS[4],
                       lat=20.9 + rng.random() / 10, lon=106.3 + rng.random() / 10, address=SECRETS[4],
                       area_id=commune.id, unit_id=district.id, unit_path=district.path,
                       status="resolved" if resolved else rng.choice(["submitted", "accepted"]),
                       channel=rng.choice(["web", "app", "hotline"]), reporter_name=SECRETS[0],
                       reporter_email=SECRETS[3], reporter_phone=SECRETS[2], created_at=created,
                       updated_at=created, resolved_at=resolved, due_at=created + timedelta(hours=48),
                       rating=rng.choice([None, 1, 3, 5]))
            s.add(r)
            i = Incident(title=SECRETS[0], source=rng.choice(["sensor", "camera", "manual"]),
                         category=rng.choice(["flooding", "fire"]), severity=rng.choice(["low", "high"]),
                         status=rng.choice(["open", "closed"]), org_id=district.id, org_path=district.path,
                         opened_at=created, updated_at=created)
            s.add(i)
            s.flush()
            reports.append(r.id)
            incidents.append(i.id)
    return reports, incidents


DIRECT_DOSSIERS = """
SELECT channel, status, count(*) AS n, sum(fee_total) AS fees,
       sum(CASE WHEN finished_at IS NOT NULL AND finished_at > due_at THEN 1 ELSE 0 END) AS late
FROM procedure_dossier GROUP BY channel, status ORDER BY channel, status
"""
WAREHOUSE_DOSSIERS = """
SELECT channel, status, count(*) AS n, sum(fee_total) AS fees,
       sum(CASE WHEN finished_at IS NOT NULL AND finished_at > due_at THEN 1 ELSE 0 END) AS late
FROM dossiers GROUP BY channel, status ORDER BY channel, status
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_warehouse_figures_equal_direct_sql(database, settings, place, frozen_clock, seed: int) -> None:  # type: ignore[no-untyped-def]
    """Random dossiers, reports and incidents, random changes between syncs: the same figures both ways."""
    from sqlalchemy import text

    rng = random.Random(seed)
    dossiers: list[str] = []
    reports: list[str] = []
    incidents: list[str] = []
    for round_no in range(3):
        frozen_clock[0] = T0 + timedelta(minutes=10 * round_no)
        for _ in range(rng.randrange(5, 25)):
            finished = rng.choice([None, 0.5, 2, 4])
            dossiers.append(add_dossier(
                database, place, channel=rng.choice(["online", "counter", "post"]),
                status=9 if finished is not None else rng.choice([1, 2, 4]), finished_days=finished,
                received=T0 + timedelta(days=rng.randrange(0, 60)), fee=rng.choice([0, 50_000, 100_000]),
                supplements=rng.choice([0, 0, 1, 2])))
        for d in rng.sample(dossiers, k=min(len(dossiers), rng.randrange(0, 8))):
            change_dossier(database, d, status=10, fee_total=rng.choice([0, 20_000]),
                           finished_at=T0 + timedelta(days=rng.randrange(1, 90)))
        new_r, new_i = _reports_and_incidents(database, place, rng, rng.randrange(3, 12))
        reports += new_r
        incidents += new_i
        with database.session() as s:
            for rid in rng.sample(reports, k=min(len(reports), 3)):
                r = s.get(Report, rid)
                r.status, r.rating, r.updated_at = "closed", rng.choice([2, 4]), frozen_clock[0]
            for iid in rng.sample(incidents, k=min(len(incidents), 3)):
                i = s.get(Incident, iid)
                i.status, i.severity, i.updated_at = "closed", "critical", frozen_clock[0]
        sync_warehouse(database, settings)

        with database.session() as s:
            direct = [tuple(r) for r in s.execute(text(DIRECT_DOSSIERS))]
            direct_reports = [tuple(r) for r in s.execute(text(
                "SELECT category_code, status, count(*), sum(coalesce(rating, 0)), "
                "sum(CASE WHEN resolved_at <= due_at THEN 1 ELSE 0 END) FROM feedback_report "
                "GROUP BY category_code, status ORDER BY 1, 2"))]
            direct_incidents = [tuple(r) for r in s.execute(text(
                "SELECT category, severity, status, count(*) FROM operations_incident "
                "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"))]
        mirror = [tuple(r.values()) for r in warehouse_query(settings, WAREHOUSE_DOSSIERS)]
        assert [tuple(int(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in r)
                for r in mirror] == [tuple(int(v) if isinstance(v, int | float) else v for v in r) for r in direct]
        mirror_reports = [tuple(r.values()) for r in warehouse_query(settings, (
            "SELECT category, status, count(*), sum(coalesce(rating, 0)), sum(CASE WHEN on_time THEN 1 ELSE 0 END) "
            "FROM reports GROUP BY category, status ORDER BY 1, 2"))]
        assert [tuple(int(v) if isinstance(v, int | float) else v for v in r) for r in mirror_reports] == [
            tuple(int(v) if isinstance(v, int | float) else v for v in r) for r in direct_reports]
        mirror_incidents = [tuple(r.values()) for r in warehouse_query(settings, (
            "SELECT category, severity, status, count(*) FROM incidents GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"))]
        assert mirror_incidents == direct_incidents


def test_personal_fields_never_reach_the_warehouse(database, settings, loaded, place) -> None:  # type: ignore[no-untyped-def]
    """Applicant and reporter data, and dataset fields declared personal, are in no view and no file."""


    add_dossier(database, place)
    _reports_and_incidents(database, place, random.Random(0), 3)
    result = sync_warehouse(database, settings)
    assert result["dataset_truong_hoc"] == 3
    tables = warehouse_tables(settings)
    assert "dien_thoai" not in {c for c, _ in tables["dataset_truong_hoc"]}
    for name, cols in tables.items():
        assert not {c for c, _ in cols} & {"applicant_name", "applicant_cccd", "applicant_phone", "reporter_name",
                                           "reporter_email", "reporter_phone", "description", "address", "title"}
        for row in warehouse_query(settings, f'SELECT * FROM "{name}"'):
            text = " ".join(str(v) for v in row.values())
            for secret in (*SECRETS, PHONE):
                assert secret not in text, (name, secret)
    # every file on disk, read directly, whatever view exists
    root = Path(settings.data_dir) / "warehouse"
    con = duckdb.connect()
    for part in root.rglob("*.parquet"):
        for row in con.execute(f"SELECT COLUMNS(*)::VARCHAR FROM read_parquet('{part}')").fetchall():
            text = " ".join(str(v) for v in row)
            for secret in (*SECRETS, PHONE):
                assert secret not in text, (part, secret)


def test_dataset_feed_is_replaced_when_the_dataset_is_reloaded(database, settings, loaded) -> None:  # type: ignore[no-untyped-def]
    from smartprovince.core.security import SYSTEM
    from smartprovince.datahub import service


    sync_warehouse(database, settings, feeds=["dataset_truong_hoc"])
    assert warehouse_query(settings, "SELECT count(*) AS n FROM dataset_truong_hoc") == [{"n": 3}]
    assert sync_warehouse(database, settings, feeds=["dataset_truong_hoc"]) == {"dataset_truong_hoc": 0}
    new_rows = [["M9", "Trường Mới", "290", "120", "7.5", "true", "2001-09-05", ""]]
    with database.session() as s:
        load = service.load_file(s, actor=SYSTEM, name="truong-hoc", filename="t.csv", data_dir=settings.data_dir,
                                 source=csv_bytes(new_rows))
    assert load.status == "loaded", load.errors
    assert sync_warehouse(database, settings, feeds=["dataset_truong_hoc"]) == {"dataset_truong_hoc": 1}
    rows = warehouse_query(settings, "SELECT ma, so_hoc_sinh, diem_tb, chuan, ngay FROM dataset_truong_hoc")
    assert rows == [{"ma": "M9", "so_hoc_sinh": 120, "diem_tb": 7.5, "chuan": True,
                     "ngay": datetime(2001, 9, 5).date()}]


@pytest.mark.parametrize("sql", [
    "COPY (SELECT 1) TO '/tmp/x.csv'",
    "SELECT 1; SELECT 2",
    "ATTACH 'x.db'",
    "CREATE TABLE t (a INT)",
    "SET enable_external_access = true",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM no_such_view",
    "SELEC 1",
])
def test_warehouse_query_is_read_only_and_refuses_with_422(settings, sql: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationProblem):
        warehouse_query(settings, sql)


def test_query_parameters_and_local_days(database, settings, place) -> None:  # type: ignore[no-untyped-def]
    # 18:00 UTC on 2 March is 01:00 on 3 March in Vietnam
    add_dossier(database, place, received=datetime(2026, 3, 2, 18, 0, tzinfo=UTC))
    sync_warehouse(database, settings, feeds=["dossiers"])
    rows = warehouse_query(settings, "SELECT CAST(received_at AS DATE) AS day FROM dossiers WHERE channel = ?",
                           ["online"])
    assert rows == [{"day": datetime(2026, 3, 3).date()}]
    assert warehouse_query(settings, "SELECT count(*) AS n FROM dossiers WHERE channel = $c", {"c": "post"}) == [
        {"n": 0}]


def test_one_sync_at_a_time(database, settings) -> None:  # type: ignore[no-untyped-def]
    root = Path(settings.data_dir) / "warehouse"
    with wh._sync_lock(root, wait=True), pytest.raises(wh.SyncBusy):
        sync_warehouse(database, settings, wait=False)


def test_unknown_feed_is_a_422(database, settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationProblem):
        sync_warehouse(database, settings, feeds=["nope"])


def test_cli_sync_status_and_query(database, settings, place, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from smartprovince.datahub.warehouse_cli import cli

    add_dossier(database, place)
    monkeypatch.setattr("smartprovince.settings.get_settings", lambda: settings)
    runner = CliRunner()
    result = runner.invoke(cli, ["warehouse", "sync", "--feed", "dossiers"])
    assert result.exit_code == 0, result.output
    assert "dossiers: 1 rows" in result.output
    result = runner.invoke(cli, ["warehouse", "query", "SELECT count(*) AS n FROM dossiers"])
    assert result.exit_code == 0 and '{"n": 1}' in result.output
    result = runner.invoke(cli, ["warehouse", "status"])
    assert result.exit_code == 0 and '"rows_written": 1' in result.output
    result = runner.invoke(cli, ["warehouse", "query", "DROP VIEW dossiers"])
    assert result.exit_code == 2 and "single SELECT" in result.output


STA_THING = {
    "name": "Trạm đo mực nước Phú Lương", "description": "Mực nước sông Thái Bình",
    "Datastreams": [{
        "name": "Mực nước Phú Lương", "description": "Mực nước",
        "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        "unitOfMeasurement": {"name": "metre", "symbol": "m", "definition": "ucum:m"},
        "ObservedProperty": {"name": "Mực nước", "definition": "http://example.org/water-level", "description": "m"},
        "Sensor": {"name": "Cảm biến", "description": "radar", "encodingType": "application/pdf",
                   "metadata": "https://example.org/s.pdf"},
    }],
}


def test_observations_hourly_follow_new_observations(database, settings, make_user, client) -> None:  # type: ignore[no-untyped-def]
    """Hourly rollups of the hours touched by new observations are copied again, nothing else."""
    from smartprovince import identity
    from smartprovince.core.security import SYSTEM

    user = make_user("wh.sta", role="data_officer")
    with database.session() as s:
        token = identity.issue_token(s, user_id=user.id, name="wh", actor=SYSTEM)
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post("/sta/v1.1/Things", json=STA_THING, headers=headers)
    assert r.status_code == 201, r.text
    thing = client.get(f"/sta/v1.1/Things({r.json()['@iot.id']})?$expand=Datastreams", headers=headers).json()
    ds = thing["Datastreams"][0]["@iot.id"]

    def post(t: str, v: float) -> None:
        resp = client.post("/sta/v1.1/Observations", headers=headers,
                           json={"Datastream": {"@iot.id": ds}, "phenomenonTime": t, "result": v})
        assert resp.status_code == 201, resp.text

    post("2026-03-01T01:10:00Z", 1.0)
    post("2026-03-01T01:40:00Z", 3.0)
    post("2026-03-01T02:05:00Z", 5.0)
    assert sync_warehouse(database, settings, feeds=["observations_hourly"]) == {"observations_hourly": 2}
    post("2026-03-01T01:50:00Z", 8.0)  # a late value in the first hour
    assert sync_warehouse(database, settings, feeds=["observations_hourly"]) == {"observations_hourly": 1}
    assert sync_warehouse(database, settings, feeds=["observations_hourly"]) == {"observations_hourly": 0}
    rows = warehouse_query(settings, "SELECT hour, count, mean, min, max, unit, observed_property "
                                     "FROM observations_hourly ORDER BY hour")
    assert rows == [
        {"hour": datetime(2026, 3, 1, 1, tzinfo=UTC), "count": 3, "mean": 4.0, "min": 1.0, "max": 8.0, "unit": "m",
         "observed_property": "Mực nước"},
        {"hour": datetime(2026, 3, 1, 2, tzinfo=UTC), "count": 1, "mean": 5.0, "min": 5.0, "max": 5.0, "unit": "m",
         "observed_property": "Mực nước"},
    ]


def test_periodic_job_skips_a_round_while_another_process_syncs(database, settings, place) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from smartprovince.datahub.warehouse_config import WarehouseSettings
    from smartprovince.datahub.warehouse_jobs import WarehouseJob

    add_dossier(database, place)
    app = SimpleNamespace(state=SimpleNamespace(db=database, settings=settings))
    job = WarehouseJob(app, WarehouseSettings(sync_interval_seconds=5))
    with wh._sync_lock(Path(settings.data_dir) / "warehouse", wait=True):
        assert job.run_once() is None  # busy: skipped, not waiting, not failing
    assert (job.run_once() or {}).get("dossiers") == 1


def test_a_bulk_load_is_not_read_again_by_later_syncs(database, settings, place, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """More changes in the overlap than the watermark remembers: the next syncs do not re-read them."""
    from smartprovince.core import warehouse as contract

    monkeypatch.setattr(contract, "MAX_SEEN", 3)
    for _ in range(6):
        add_dossier(database, place)
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 6}
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 0}
    add_dossier(database, place)
    assert sync_warehouse(database, settings, feeds=["dossiers"]) == {"dossiers": 1}
    assert warehouse_query(settings, "SELECT count(*) AS n FROM dossiers") == [{"n": 7}]
