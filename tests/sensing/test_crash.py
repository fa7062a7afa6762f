"""Kill the server (SIGKILL) during sustained DataArray ingestion: every acknowledged observation is
there after a restart, and nothing of an unacknowledged request is half-stored."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from smartprovince.core.db import Database
from smartprovince.core.migrate import upgrade
from smartprovince.core.security import SYSTEM
from smartprovince.sensing import service
from smartprovince.sensing.models import Observation
from smartprovince.sensing.sta import SETS

from .conftest import THING

pytestmark = pytest.mark.slow
BATCH = 500


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(url: str, tmp: Path, port: int) -> subprocess.Popen:  # type: ignore[type-arg]
    env = {**os.environ, "SMARTPROVINCE_DATABASE_URL": url, "SMARTPROVINCE_DATA_DIR": str(tmp / "data"),
           "SMARTPROVINCE_LOAD_DEMO": "false", "SMARTPROVINCE_SECRET_KEY": "crash-test-secret-key-0123456789"}
    env.pop("SMARTPROVINCE_MQTT_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "smartprovince.app:create_app", "--factory",  # noqa: S603
                             "--port", str(port), "--log-level", "warning", "--no-access-log"], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


def test_acknowledged_observations_survive_a_kill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        thing = service.create_entity(s, actor=SYSTEM, es=SETS["Things"], body=THING)
        ds = thing.datastreams[0].id
        secret = service.issue_device_credential(s, actor=SYSTEM, thing_id=thing.id)
        user = f"thing-{thing.id}"
    headers = {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}
    port = _port()
    proc = _serve(url, tmp_path, port)
    acked: list[int] = []
    stop = threading.Event()
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def push() -> None:
        k = 0
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                rows = [[(start + timedelta(seconds=k * BATCH + i)).isoformat(), float(i)] for i in range(BATCH)]
                try:
                    r = client.post(f"http://127.0.0.1:{port}/sta/v1.1/CreateObservations", headers=headers,
                                    json=[{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
                                           "dataArray": rows}])
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    acked.append(k)
                k += 1

    pusher = threading.Thread(target=push)
    pusher.start()
    deadline = time.monotonic() + 120
    while len(acked) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    stop.set()
    pusher.join(20)
    assert len(acked) >= 5, "too few acknowledged batches before the kill"

    with db.session(write=False) as s:
        times = s.scalars(sa.select(Observation.phenomenon_time).where(Observation.datastream_id == ds)).all()
    stored = {int((t - start).total_seconds()) // BATCH for t in times}
    counts: dict[int, int] = {}
    for t in times:
        key = int((t - start).total_seconds()) // BATCH
        counts[key] = counts.get(key, 0) + 1
    assert set(acked) <= stored, "an acknowledged batch is missing after the kill"
    assert all(c == BATCH for c in counts.values()), "a batch was half stored"

    proc = _serve(url, tmp_path, port)  # restart: the server opens the same database and serves the data
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/sta/v1.1/Datastreams({ds})/Observations?$count=true&$top=1")
        assert r.json()["@iot.count"] == len(times)
    finally:
        proc.terminate()
        proc.wait(10)
    db.dispose()
