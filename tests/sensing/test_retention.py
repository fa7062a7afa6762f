"""Raw-data retention: the app process deletes raw observations older than the setting; rollups stay."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from smartprovince.core import clock
from smartprovince.core.db import Database
from smartprovince.sensing import retention
from smartprovince.sensing.models import Observation, Rollup

from .conftest import STA, create_thing


def _counts(database: Database, ds: int) -> tuple[int, int]:
    with database.session(write=False) as s:
        raw = s.scalar(sa.select(sa.func.count()).select_from(Observation).where(Observation.datastream_id == ds))
        hours = s.scalar(sa.select(sa.func.count()).select_from(Rollup).where(
            Rollup.datastream_id == ds, Rollup.period == "hour"))
    return int(raw or 0), int(hours or 0)


def test_the_background_purge_keeps_recent_raw_data_and_every_rollup(client, writer, database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ds = create_thing(client, writer)["Datastreams"][0]["@iot.id"]
    now = clock.now()
    rows = [[(now - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ"), float(d)] for d in (400, 100, 1)]
    r = client.post(f"{STA}/CreateObservations", headers=writer, json=[
        {"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"], "dataArray": rows}])
    assert r.status_code == 201, r.text
    assert _counts(database, ds) == (3, 3)

    monkeypatch.setenv("SMARTPROVINCE_SENSING_RAW_RETENTION_DAYS", "200")
    monkeypatch.setenv("SMARTPROVINCE_SENSING_PURGE_HOURS", "1")
    app = SimpleNamespace(state=SimpleNamespace(db=database, settings=SimpleNamespace(environment="production")))
    retention.start(app)
    job = app.state.sensing_purge
    try:
        deadline = time.monotonic() + 10
        while job.runs == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.runs == 1
    finally:
        retention.stop(app)
    assert not job.thread.is_alive()
    assert _counts(database, ds) == (2, 3)  # the 400-day-old row went; its hour rollup stayed
    got = client.get(f"{STA}/Datastreams({ds})/Observations?$orderby=phenomenonTime&$select=result").json()
    assert [o["result"] for o in got["value"]] == [100.0, 1.0]


def test_no_purge_thread_in_tests_or_when_disabled(database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app = SimpleNamespace(state=SimpleNamespace(db=database, settings=SimpleNamespace(environment="test")))
    retention.start(app)
    assert not hasattr(app.state, "sensing_purge")
    monkeypatch.setenv("SMARTPROVINCE_SENSING_BACKGROUND_PURGE", "false")
    app.state.settings.environment = "production"
    retention.start(app)
    assert not hasattr(app.state, "sensing_purge")
    retention.stop(app)  # nothing to stop


@pytest.mark.parametrize("bad", ["0", "-3", "ba trăm"])
def test_a_bad_retention_setting_is_refused(monkeypatch, bad: str) -> None:  # type: ignore[no-untyped-def]
    import typer

    from smartprovince.sensing.cli import retention_days

    monkeypatch.setenv("SMARTPROVINCE_SENSING_RAW_RETENTION_DAYS", bad)
    with pytest.raises(ValidationError):
        retention.RetentionSettings()
    with pytest.raises(typer.BadParameter):
        retention_days()
