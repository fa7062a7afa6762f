"""The bus commands: ``smartprovince bus dead|replay|stats`` and ``smartprovince worker``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from smartprovince.cli import app as cli
from smartprovince.core import bus
from smartprovince.core.bus import DeadLetter, OutboxEvent
from smartprovince.settings import get_settings


@pytest.fixture
def env(settings, monkeypatch) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Point the commands at the test database (the CLI reads its settings from the environment)."""
    values = {
        "SMARTPROVINCE_DATABASE_URL": settings.db_url,
        "SMARTPROVINCE_DATA_DIR": str(settings.data_dir),
        "SMARTPROVINCE_BUS_URL": settings.bus_url,
        "SMARTPROVINCE_ENVIRONMENT": "test",
        "SMARTPROVINCE_LOAD_DEMO": "false",
        "COLUMNS": "200",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    yield values
    get_settings.cache_clear()


def test_dead_letters_are_listed_and_replayed_from_the_command_line(env, database) -> None:
    def broken(session, ev):  # type: ignore[no-untyped-def]
        raise RuntimeError("postal service API refused the parcel")

    bus.subscribe("test.cli.parcel.*", name="t.cli")(broken)
    try:
        with database.session() as s:
            bus.publish(s, "test.cli.parcel.sent", {"parcel": "EMS-1"})
        bus.drain(database)
    finally:
        bus.unsubscribe("t.cli")
    with database.session() as s:
        dl_id = s.scalars(select(DeadLetter.id)).one()

    runner = CliRunner()
    listed = runner.invoke(cli, ["bus", "dead"])
    assert listed.exit_code == 0, listed.output
    assert dl_id in listed.output and "t.cli" in listed.output and "refused the parcel" in listed.output

    replayed = runner.invoke(cli, ["bus", "replay", dl_id])
    assert replayed.exit_code == 0, replayed.output
    assert "Replay queued" in replayed.output

    again = runner.invoke(cli, ["bus", "replay", dl_id])
    assert again.exit_code == 1 and "already replayed" in again.output
    unknown = runner.invoke(cli, ["bus", "replay", "nope"])
    assert unknown.exit_code == 1 and "No dead letter" in unknown.output

    assert "No dead letters." in runner.invoke(cli, ["bus", "dead"]).output
    assert dl_id in runner.invoke(cli, ["bus", "dead", "--status", "replayed"]).output
    stats = runner.invoke(cli, ["bus", "stats"])
    assert stats.exit_code == 0 and "dead_letters_total" in stats.output


def test_worker_dispatches_pending_events_and_stops_on_sigterm(env, database) -> None:
    with database.session() as s:
        event_id = bus.publish(s, "test.cli.worker.started", {})
    proc = subprocess.Popen(  # noqa: S603 - the project's own command
        [sys.executable, "-c", "from smartprovince.cli import main; main()", "worker"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        dispatched = None
        while dispatched is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            with database.session() as s:
                dispatched = s.get(OutboxEvent, event_id).dispatched_at
        assert dispatched is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Event worker running" in out and "Event worker stopped" in out
