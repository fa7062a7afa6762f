"""The wall's top KPI row comes from the stored, warehouse-backed KPI values (province, district and commune),
which the periodic KPI run computes when the warehouse's sync stamp changes."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from smartprovince import datahub
from smartprovince.core.security import SYSTEM
from smartprovince.operations import kpi_engine, kpi_jobs

from .test_kpi_warehouse import FakeWarehouse, _fill


class MonthsWarehouse(FakeWarehouse):
    """The fake warehouse, answering instants as the data hub does (UTC, without needing pytz): the KPI run
    asks each view for the months it holds."""

    def query(self, settings: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
        from datetime import UTC

        self.calls += 1
        described = self.con.execute(f"DESCRIBE {sql}", params or {}).fetchall()
        names = [str(r[0]) for r in described]
        tz = {i for i, r in enumerate(described) if str(r[1]).startswith("TIMESTAMP WITH TIME ZONE")}
        cols = ", ".join(f"timezone('UTC', \"{i}\")" if i in tz else f'"{i}"' for i in range(len(names)))
        renamed = ", ".join(f'"{i}"' for i in range(len(names)))
        rows = self.con.execute(f"SELECT {cols} FROM ({sql}) AS _q({renamed})", params or {}).fetchall()  # noqa: S608
        out = []
        for r in rows:
            values = [v.replace(tzinfo=UTC) if i in tz and v is not None else v for i, v in enumerate(r)]
            out.append(dict(zip(names, values, strict=True)))
        return out


@pytest.fixture
def wh(monkeypatch: pytest.MonkeyPatch) -> FakeWarehouse:
    fake = MonthsWarehouse()
    monkeypatch.setattr(datahub, "warehouse_query", fake.query, raising=False)
    return fake


def _tile(html: str, code: str) -> str:
    """The text of the top row's tile of KPI ``code`` (tags removed, spaces collapsed)."""
    m = re.search(rf'data-headline="{code}"[^>]*>(.*?)</a>', html, re.S)
    assert m is not None, code
    return " ".join(re.sub(r"<[^>]+>", " ", m.group(1)).split())


def test_kpi_run_follows_the_warehouse_stamp_and_stores_commune_values(  # type: ignore[no-untyped-def]
    database, env, wh, tmp_path, monkeypatch
) -> None:
    _fill(wh, env)
    stamp: dict[str, Any] = {"feeds": {"dossiers": {"watermark": "w1", "rows_written": 7}}}
    monkeypatch.setattr(datahub, "warehouse_status", lambda settings: stamp, raising=False)
    run = kpi_jobs.KpiRun(database, SimpleNamespace(data_dir=tmp_path), kpi_jobs.KpiRunSettings(recent_months=2))
    assert run.run_once()  # new data: the KPIs of January and February 2026, province, districts, communes
    assert run.run_once() is None  # the same stamp: nothing to do
    with database.session() as s:
        commune = s.scalar(
            select(kpi_engine.KpiValue.value).where(
                kpi_engine.KpiValue.kpi_code == "d766_received",
                kpi_engine.KpiValue.org_id == env.orgs["10891"].id,
                kpi_engine.KpiValue.period == "2026-02",
            )
        )
        periods = set(s.scalars(select(kpi_engine.KpiValue.period).distinct()))
    assert commune == 4 and periods == {"2026-01", "2026-02"}
    wh.add(
        "dossiers",
        id="late-one",
        procedure_code="p0",
        agency_path=env.orgs["10891"].path,
        online=False,
        digitised=False,
        paid_online=False,
        fee_total=0,
        received_at="2026-02-20 09:00:00+07:00",
        timing="open",
    )
    stamp["feeds"]["dossiers"]["rows_written"] = 8
    assert run.run_once() and run.runs == 2  # the stamp moved: run again
    with database.session() as s:
        n = s.scalar(
            select(func.count())
            .select_from(kpi_engine.KpiValue)
            .where(kpi_engine.KpiValue.kpi_code == "d766_received", kpi_engine.KpiValue.period == "2026-02")
        )
    assert n >= 4  # province, two districts and the commune: stored once each, updated in place


def test_wall_top_row_shows_the_areas_stored_values(database, env, wh, tmp_path, client, make_org) -> None:  # type: ignore[no-untyped-def]
    other = make_org("10900", "Xã Thái Học", "commune", parent="296")
    _fill(wh, env)
    with database.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
    kpi_engine.refresh_values(database, SimpleNamespace(data_dir=tmp_path), depth=2)
    h = env.headers["operator"]

    page = client.get("/ioc/wall", headers=h)
    assert page.status_code == 200
    received = _tile(page.text, "d766_received")
    assert received.startswith("6 hồ sơ ▲") and "trực tuyến 66.7%" in received and "Kỳ 2026-02" in received
    on_time = _tile(page.text, "d766_on_time_rate")
    assert on_time.startswith("66.7 %") and "số liệu toàn tỉnh" not in on_time
    assert "reports_received" in page.text and "Cảnh báo cảm biến đang hiệu lực" in page.text

    commune = client.get(f"/ioc/wall?area={env.orgs['10891'].id}", headers=h).text
    assert _tile(commune, "d766_received").startswith("4 hồ sơ")  # the commune's own value
    assert _tile(commune, "d766_on_time_rate").startswith("75 %")
    assert "số liệu của" not in _tile(commune, "d766_on_time_rate")

    empty = client.get(f"/ioc/wall?area={other.id}", headers=h).text
    assert _tile(empty, "d766_received").startswith("0 hồ sơ")  # nothing received there: its own zero
    fallback = _tile(empty, "d766_on_time_rate")  # nothing finished there: 0/0 is no value, the district's shows
    assert fallback.startswith("50 %") and "số liệu của Huyện Bình Giang" in fallback

    tiles = client.get(f"/ioc/wall/tiles?area={env.orgs['10891'].id}", headers=h)
    assert tiles.status_code == 200 and _tile(tiles.text, "d766_received").startswith("4 hồ sơ")

    # A district leader sees their district's values; another district's area is not theirs.
    mine = client.get(f"/ioc/wall?area={env.orgs['295'].id}", headers=env.headers["district"])
    assert mine.status_code == 200 and _tile(mine.text, "d766_received").startswith("4 hồ sơ")
    assert client.get(f"/ioc/wall?area={other.id}", headers=env.headers["district"]).status_code == 404


def test_wall_top_row_without_values_says_so(env, client) -> None:  # type: ignore[no-untyped-def]
    from smartprovince.operations import kpi_engine as ke

    with env.db.session() as s:
        ke.load_definitions(s, actor=SYSTEM)
    page = client.get("/ioc/wall", headers=env.headers["operator"])
    assert page.status_code == 200
    assert "chưa có số liệu" in _tile(page.text, "d766_received")


def test_kpi_run_thread_starts_outside_tests_only(database, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(datahub, "warehouse_status", lambda settings: {"feeds": {}}, raising=False)
    for env_name, runs in (("test", False), ("development", True)):
        settings = SimpleNamespace(environment=env_name, data_dir=tmp_path)
        app = SimpleNamespace(state=SimpleNamespace(settings=settings, db=database))
        kpi_jobs.start(app)
        assert hasattr(app.state, "kpi_run") is runs
        kpi_jobs.stop(app)
    assert not app.state.kpi_run.thread.is_alive()
    monkeypatch.setenv("SMARTPROVINCE_KPI_BACKGROUND_RUN", "false")
    off = SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(environment="production"), db=database))
    kpi_jobs.start(off)
    assert not hasattr(off.state, "kpi_run")
