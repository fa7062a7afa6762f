"""Scheduled pulls of an agency API: sources, "pull now", runs, the scheduler and its lock, cron.

The agency API is simulated by a small ``http.server`` in a thread; the client is the real ``httpx``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from smartprovince.core import clock
from smartprovince.core.errors import ValidationProblem
from smartprovince.core.security import SYSTEM
from smartprovince.datahub import schedule, scheduler, sources
from smartprovince.datahub.config import DatahubSettings
from smartprovince.datahub.models import PullRun, Record, Source

from .conftest import PHONE, TOKEN

CONFIG = DatahubSettings(source_secrets={"so-gd-api": SecretStr(TOKEN)}, scheduler=False)


def _source(database, url: str, **kw: Any) -> Source:  # type: ignore[no-untyped-def]
    values = {"url": url, "auth_header": "Authorization", "auth_secret": "so-gd-api", "every_minutes": 60, **kw}
    with database.session() as s:
        return sources.set_source(s, actor=SYSTEM, name="truong-hoc", **values)


def _pull(database, settings, trigger: str = "manual") -> PullRun:  # type: ignore[no-untyped-def]
    with database.session() as s:
        return sources.pull(s, actor=SYSTEM, name="truong-hoc", data_dir=settings.data_dir, config=CONFIG,
                            trigger=trigger)


def test_pull_now_through_the_api_loads_and_records_the_run(app, client, make_user, login, schools, agency) -> None:
    url, state = agency
    app.state.datahub_config = CONFIG
    login(make_user("dl", role="data_officer", org="so-gd"))
    r = client.put("/api/v1/datahub/datasets/truong-hoc/source",
                   json={"url": url, "auth_header": "Authorization", "auth_secret": "so-gd-api", "every_minutes": 30})
    assert r.status_code == 200, r.text
    assert r.json()["auth_secret"] == "so-gd-api" and TOKEN not in r.text and r.json()["next_run_at"]
    r = client.post("/api/v1/datahub/datasets/truong-hoc/pulls")
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "loaded" and run["trigger"] == "manual" and run["valid_rows"] == 2, run
    assert run["http_status"] == 200 and run["bytes_read"] > 0 and run["load_id"]
    assert state.requests[-1]["authorization"] == TOKEN
    r = client.get("/api/3/action/datastore_search",
                   params={"resource_id": "truong-hoc"})
    assert r.json()["result"]["total"] == 2 and PHONE not in r.text
    runs = client.get("/api/v1/datahub/datasets/truong-hoc/pulls").json()
    assert [x["id"] for x in runs] == [run["id"]]
    report = client.get(f"/api/v1/datahub/datasets/truong-hoc/loads/{run['load_id']}").json()
    assert report["status"] == "loaded"


def test_bad_rows_from_the_api_get_the_same_report(database, settings, schools, agency) -> None:
    url, state = agency
    _source(database, url)
    state.body = json.dumps([{"ma": "T1", "ten": "", "huyen": "999", "so_hoc_sinh": "nhiều"}]).encode()
    run = _pull(database, settings)
    assert run.status == "rejected" and run.error_count == 3 and run.load_id
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 0


def test_csv_source_in_upsert_mode(database, settings, loaded, agency) -> None:
    url, state = agency
    _source(database, url, format="csv", mode="upsert")
    state.content_type = "text/csv"
    state.body = "ma,ten,huyen,so_hoc_sinh\nT2,Trường THCS Bình Hàn mới,288,555\nT8,Trường mới,290,10\n".encode()
    run = _pull(database, settings)
    assert run.status == "loaded", run
    with database.session() as s:
        data = {r.data["ma"]: r.data for r in s.scalars(select(Record))}
    assert sorted(data) == ["T1", "T2", "T3", "T8"] and data["T2"]["so_hoc_sinh"] == 555


@pytest.mark.parametrize("problem", ["http_500", "no_secret", "not_json", "unreachable"])
def test_failed_pulls_are_recorded_and_change_nothing(database, settings, loaded, agency, problem) -> None:
    url, state = agency
    if problem == "http_500":
        state.status = 500
    elif problem == "not_json":
        state.body = b"<html>maintenance</html>"
    _source(database, "http://127.0.0.1:9/closed" if problem == "unreachable" else url,
            auth_secret="missing-secret" if problem == "no_secret" else "so-gd-api")
    run = _pull(database, settings)
    assert run.status == "failed" and run.error and run.load_id is None
    assert "hidden" not in run.error and TOKEN not in run.error
    if problem == "http_500":
        assert run.http_status == 500
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 3
        assert s.get(Source, loaded.dataset_id).next_run_at is not None


def test_source_is_checked(database, schools) -> None:
    for bad in ({"url": "ftp://x.gov.vn/a"}, {"url": "http://x.gov.vn/a", "every_minutes": None},
                {"url": "http://x.gov.vn/a", "cron": "61 * * * *", "every_minutes": None},
                {"url": "http://x.gov.vn/a", "auth_header": "Authorization", "auth_secret": ""},
                {"url": "http://x.gov.vn/a", "format": "xml"}):
        with pytest.raises(ValidationProblem), database.session() as s:
            sources.set_source(s, actor=SYSTEM, name="truong-hoc", **{"every_minutes": 5, **bad})


def test_source_api_refuses_bad_input_and_other_users(client, make_user, login, schools) -> None:
    login(make_user("dl", role="data_officer", org="so-gd"))
    r = client.put("/api/v1/datahub/datasets/truong-hoc/source", json={"url": "http://x.vn/a", "cron": "bad"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/api/v1/datahub/datasets/truong-hoc/pulls").status_code == 404  # no source yet
    login(make_user("yt", role="data_officer", org="so-yt"))  # another department: not its dataset
    r = client.put("/api/v1/datahub/datasets/truong-hoc/source", json={"url": "http://x.vn/a", "every_minutes": 5})
    assert r.status_code == 404


def test_scheduler_pulls_due_sources_only(database, settings, schools, agency) -> None:
    url, _state = agency
    _source(database, url, every_minutes=15)
    later = datetime.now(UTC) + timedelta(minutes=16)
    assert scheduler.run_due(database, CONFIG, settings.data_dir) == []  # not due yet
    clock.set_clock(lambda: later)
    try:
        runs = scheduler.run_due(database, CONFIG, settings.data_dir)
        assert [r.status for r in runs] == ["loaded"] and runs[0].trigger == "schedule"
        assert scheduler.run_due(database, CONFIG, settings.data_dir) == []  # next run moved on
        with database.session() as s:
            src = s.scalar(select(Source))
            assert src.next_run_at == later + timedelta(minutes=15)
    finally:
        clock.set_clock(None)


def test_one_scheduler_holds_the_lock(database) -> None:
    assert scheduler.acquire(database, "a", 60)
    assert not scheduler.acquire(database, "b", 60)
    assert scheduler.acquire(database, "a", 60)  # renewal
    clock.set_clock(lambda: datetime.now(UTC) + timedelta(seconds=61))
    try:
        assert scheduler.acquire(database, "b", 60)  # a's lease expired
    finally:
        clock.set_clock(None)
    assert not scheduler.acquire(database, "a", 60)
    scheduler.release(database, "b")
    assert scheduler.acquire(database, "a", 60)


def test_cron_schedules_in_vietnam_time() -> None:
    after = datetime(2026, 12, 2, 1, 7, tzinfo=UTC)  # 08:07 in Hà Nội, a Wednesday
    assert schedule.next_run(every_minutes=None, cron="*/15 * * * *", after=after) == after.replace(minute=15)
    # 02:30 every day Vietnam time = 19:30 UTC the day before
    assert schedule.next_run(every_minutes=None, cron="30 2 * * *", after=after) == datetime(2026, 12, 2, 19, 30,
                                                                                               tzinfo=UTC)
    # Mondays at 07:00 → 2026-12-07 00:00 UTC
    assert schedule.next_run(every_minutes=None, cron="0 7 * * 1", after=after) == datetime(2026, 12, 7, 0, 0,
                                                                                              tzinfo=UTC)
    assert schedule.next_run(every_minutes=None, cron="0 0 1 1-12/3 *", after=after) == datetime(
        2026, 12, 31, 17, 0, tzinfo=UTC)  # 1 January 00:00 Vietnam time
    for bad in ("* * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "a * * * *", "0 0 31 2 *"):
        with pytest.raises(ValidationProblem):
            schedule.next_run(every_minutes=None, cron=bad, after=after)


def test_cli_pull(database, settings, schools, agency, monkeypatch) -> None:
    from typer.testing import CliRunner

    from smartprovince.datahub import cli

    url, _state = agency
    _source(database, url)
    monkeypatch.setattr(cli, "_db", lambda: database)
    monkeypatch.setattr("smartprovince.settings.get_settings", lambda: settings)
    monkeypatch.setenv("SMARTPROVINCE_DATAHUB_SOURCE_SECRETS", json.dumps({"so-gd-api": TOKEN}))
    monkeypatch.setattr(database, "dispose", lambda: None)
    result = CliRunner().invoke(cli.cli, ["pull", "truong-hoc"])
    assert result.exit_code == 0, result.output
    assert "loaded" in result.output
    with database.session() as s:
        assert s.scalar(select(PullRun.trigger)) == "cli"


def test_console_source_form_pull_now_and_dataset_page(app, client, make_user, login, schools, agency) -> None:
    url, _state = agency
    app.state.datahub_config = CONFIG
    token = login(make_user("dl", role="data_officer", org="so-gd"))
    page = client.get("/console/datahub/truong-hoc/upload")
    assert page.status_code == 200 and "Nguồn dữ liệu tự động" in page.text and "pull-now" not in page.text
    form = {"csrf_token": token, "url": url, "format": "json", "auth_header": "Authorization",
            "auth_secret": "so-gd-api", "every_minutes": "", "cron": "30 2 * * *", "mode": "upsert", "enabled": "on"}
    bad = client.post("/console/datahub/truong-hoc/source", data={**form, "cron": "99 * * * *"})
    assert bad.status_code == 422 and "cron" in bad.text
    r = client.post("/console/datahub/truong-hoc/source", data=form, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/console/datahub/truong-hoc/upload").text
    assert 'id="pull-now"' in page and "30 2 * * *" in page
    r = client.post("/console/datahub/truong-hoc/pull", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and "/loads/" in r.headers["location"]
    assert "Kéo ngay" in client.get("/console/datahub/truong-hoc/upload").text
    public = client.get("/opendata/truong-hoc").text
    assert 'id="pulls"' in public and "Trường THCS Bình Hàn" in public
    assert "127.0.0.1" not in public and "so-gd-api" not in public  # the agency URL and secret name stay inside
    assert client.post("/console/datahub/truong-hoc/pull", data={"csrf_token": "x"}).status_code == 403


def test_scheduler_tick_holds_the_lease_and_remeasures_quality_daily(database, settings, loaded) -> None:
    from smartprovince.datahub.models import QualityScore

    ticker = scheduler.Scheduler(database, CONFIG, settings.data_dir)
    other = scheduler.Scheduler(database, CONFIG, settings.data_dir)
    with database.session() as s:
        before = s.scalar(select(func.count()).select_from(QualityScore))
    assert ticker.tick() == [] and other.tick() == []  # nothing due; only the first one holds the lease
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(QualityScore)) == before + 1
    ticker.tick()  # not again the same day
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(QualityScore)) == before + 1
    scheduler.release(database, ticker.holder)


def test_cli_define_loads_a_pack_of_definitions_and_updates_on_rerun(database, settings, orgs, units_list,
                                                                     tmp_path, monkeypatch) -> None:
    """A sector pack ships its dataset definitions as a JSON file; rerunning it updates, a bad one changes nothing."""
    from typer.testing import CliRunner

    from smartprovince.datahub import cli
    from smartprovince.datahub.models import Dataset

    monkeypatch.setattr(cli, "_db", lambda: database)
    monkeypatch.setattr(database, "dispose", lambda: None)
    pack = [{"name": "benh-vien", "org_id": "so-yt", "title": "Bệnh viện", "title_en": "Hospitals",
             "sector": "health", "fields": [{"name": "ma", "title": "Mã"}, {"name": "giuong", "title": "Số giường",
                                                                          "type": "integer", "minimum": 0}],
             "key": ["ma"]},
            {"name": "truong-mn", "org_id": "so-gd", "title": "Trường mầm non", "sector": "education",
             "fields": [{"name": "ma", "title": "Mã"}], "key": ["ma"], "public": False, "licence": "internal"}]
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(cli.cli, ["define", str(path)])
    assert result.exit_code == 0, result.output
    assert "benh-vien: defined" in result.output and "truong-mn: defined" in result.output
    pack[0]["title_en"] = "Hospitals and clinics"
    path.write_text(json.dumps(pack, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(cli.cli, ["define", str(path)])
    assert result.exit_code == 0 and "benh-vien: updated" in result.output, result.output
    with database.session() as s:
        rows = {d.name: d for d in s.scalars(select(Dataset))}
        assert rows["benh-vien"].title_en == "Hospitals and clinics" and rows["truong-mn"].public is False
    # A pack with one bad definition is refused as a whole.
    bad = [{**pack[0], "title_en": "Changed"}, {"name": "x-bad", "org_id": "so-yt", "title": "X", "sector": "nope",
                                                 "fields": [{"name": "a", "title": "A"}]}]
    path.write_text(json.dumps(bad), encoding="utf-8")
    result = CliRunner().invoke(cli.cli, ["define", str(path)])
    assert result.exit_code == 1 and "x-bad" in result.output
    with database.session() as s:
        assert s.scalar(select(Dataset.title_en).where(Dataset.name == "benh-vien")) == "Hospitals and clinics"
        assert s.scalar(select(Dataset.id).where(Dataset.name == "x-bad")) is None
    path.write_text("{nope", encoding="utf-8")
    assert CliRunner().invoke(cli.cli, ["define", str(path)]).exit_code == 1
