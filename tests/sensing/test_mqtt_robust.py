"""The MQTT bridge under failure: bad messages, a failing database, a killed bridge, a lost broker connection.

The first tests call the bridge's batch writer directly (no broker). The others need a broker: the one at
``SMARTPROVINCE_TEST_MQTT_URL`` when it is set (CI: Mosquitto at 127.0.0.1:1883), otherwise a Mosquitto of
the test's own on a free port when the ``mosquitto`` program is installed; without either they are skipped.
A broker with Mosquitto's default settings keeps at most 1,000 QoS 1 messages for a disconnected session
and *drops* the rest (``max_queued_messages``, see docs/sensing.md): the tests publish fewer than that
while the bridge is away.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM
from smartprovince.sensing import service
from smartprovince.sensing.models import Datastream, MqttDeadLetter, Observation
from smartprovince.sensing.mqtt import MqttBridge, parse_url
from smartprovince.sensing.sta import SETS

from .conftest import THING

MQTT_URL = os.environ.get("SMARTPROVINCE_TEST_MQTT_URL")


def _datastream(database: Database) -> int:
    """A Thing with a datastream whose id nobody else uses (bridges of other tests share the broker)."""
    ds_id = random.randint(10_000_000, 99_999_999)  # noqa: S311
    with database.session() as s:
        thing = service.create_entity(s, actor=SYSTEM, es=SETS["Things"], body=THING)
        first = thing.datastreams[0]
        s.add(Datastream(id=ds_id, name="MQTT", description="", unit_of_measurement={"symbol": "m"},
                         thing_id=thing.id, sensor_id=first.sensor_id, observed_property_id=first.observed_property_id))
    return ds_id


def _obs(i: int) -> bytes:
    return orjson.dumps({"phenomenonTime": f"2026-05-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                         "result": i / 10})


def _count(database: Database, ds_id: int) -> tuple[int, int]:
    """(rows, distinct phenomenon times) of the datastream."""
    with database.session(write=False) as s:
        rows = s.scalar(sa.select(sa.func.count()).select_from(Observation).where(Observation.datastream_id == ds_id))
        distinct = s.scalar(sa.select(sa.func.count(sa.distinct(Observation.phenomenon_time))).where(
            Observation.datastream_id == ds_id))
    return int(rows or 0), int(distinct or 0)


class _Wire:
    """Stands in for the broker connection: records acknowledgements."""

    def __init__(self) -> None:
        self.connection = 1
        self.acked: list[int] = []

    def ack(self, packet_ids: list[int], connection: int) -> bool:
        if connection == self.connection:
            self.acked.extend(packet_ids)
        return True


def _offline_bridge(database: Database) -> tuple[MqttBridge, _Wire]:
    bridge = MqttBridge(database, "mqtt://127.0.0.1:1", client_id="sp-test-offline")
    wire = _Wire()
    bridge.wire = wire  # type: ignore[assignment]
    return bridge, wire


def test_bad_messages_become_dead_letters_and_the_rest_of_the_batch_is_stored(database: Database) -> None:
    ds_id = _datastream(database)
    topic = f"v1.1/Datastreams({ds_id})/Observations"
    rich = orjson.dumps({"phenomenonTime": "2026-04-30T10:00:00+07:00", "result": 7.5,
                         "resultQuality": "good", "parameters": {"source": "test"}})
    batch = [(topic, _obs(i), 100 + i, 1, False, 1) for i in range(5)] + [
        (topic, b"not json", 200, 1, False, 1),
        (topic, b"[1, 2]", 201, 1, False, 1),
        (topic, orjson.dumps({"phenomenonTime": "yesterday", "result": 1}), 202, 1, False, 1),
        ("v1.1/Datastreams(1)/Locations", _obs(1), 203, 1, False, 1),
        ("v1.1/Datastreams(99999)/Observations", _obs(1), 204, 1, False, 1),
        (topic, rich, 205, 1, False, 1),
        (topic, _obs(99), 0, 0, False, 1),  # QoS 0: stored, nothing to acknowledge
    ]
    bridge, wire = _offline_bridge(database)
    assert bridge.store(batch) is True
    assert _count(database, ds_id) == (7, 7)  # five plain, one with quality and parameters, one QoS 0
    assert sorted(wire.acked) == [100, 101, 102, 103, 104, 200, 201, 202, 203, 204, 205]
    assert (bridge.stored, bridge.rejected) == (7, 5)
    with database.session(write=False) as s:
        all_letters = list(s.scalars(sa.select(MqttDeadLetter)))
        letters = {d.payload: d for d in all_letters}
        assert letters[b"not json"].reason == "payload is not JSON"
        assert letters[b"not json"].topic == topic
        assert "not a JSON object" in letters[b"[1, 2]"].reason
        assert "phenomenonTime" in letters[orjson.dumps({"phenomenonTime": "yesterday", "result": 1})].reason
        assert len(all_letters) == 5
        assert {d.reason for d in all_letters if d.payload == _obs(1)} == {
            "topic is not v1.1/Datastreams(<id>)/Observations", "no Datastream with id 99999"}
        stored = s.get(Observation, s.scalar(sa.select(sa.func.max(Observation.id)).where(
            Observation.datastream_id == ds_id, Observation.result_quality.is_not(None))))
        assert stored is not None and stored.parameters == {"source": "test"}
        assert s.get(Datastream, ds_id).last_value == 9.9


def test_a_batch_is_acknowledged_only_after_it_is_stored(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    ds_id = _datastream(database)
    topic = f"v1.1/Datastreams({ds_id})/Observations"
    batch = [(topic, _obs(i), 1 + i, 1, False, 1) for i in range(20)]
    bridge, wire = _offline_bridge(database)
    real = bridge._write
    calls = []

    def failing(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is down"))
        return real(*args)

    monkeypatch.setattr(bridge, "_write", failing)
    assert bridge.store(list(batch)) is False
    assert wire.acked == [] and _count(database, ds_id) == (0, 0)
    assert bridge.store(list(batch)) is True
    assert wire.acked == list(range(1, 21)) and _count(database, ds_id) == (20, 20)


def test_redelivered_messages_already_stored_are_skipped(database: Database) -> None:
    ds_id = _datastream(database)
    topic = f"v1.1/Datastreams({ds_id})/Observations"
    bridge, wire = _offline_bridge(database)
    assert bridge.store([(topic, _obs(i), 1 + i, 1, False, 1) for i in range(10)])
    # The bridge died after the commit, before its PUBACKs: the broker sends them again, marked DUP,
    # together with two it never delivered before.
    wire.connection = 2
    assert bridge.store([(topic, _obs(i), 50 + i, 1, True, 2) for i in range(12)])
    assert _count(database, ds_id) == (12, 12)
    assert bridge.duplicates == 10
    assert wire.acked[-12:] == list(range(50, 62))
    # A message of an earlier connection is stored but not acknowledged: its packet id may name another
    # message now; the broker sends it again (DUP) and that copy is skipped and acknowledged.
    before = len(wire.acked)
    assert bridge.store([(topic, _obs(500), 7, 1, False, 1)])
    assert len(wire.acked) == before and _count(database, ds_id) == (13, 13)


# ----------------------------------------------------------------------------------------- with a broker


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    """The broker of ``SMARTPROVINCE_TEST_MQTT_URL``, else a Mosquitto of our own on a free port."""
    if MQTT_URL:
        yield MQTT_URL
        return
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if exe is None:
        pytest.skip("no broker: set SMARTPROVINCE_TEST_MQTT_URL or install mosquitto")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="sp-test-mosquitto-")
    conf = os.path.join(folder, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_inflight_messages 0\nmax_queued_messages 0\n")
    proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not start"
                time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _publish(url: str, topic: str, count: int, *, pause_every: int = 0) -> int:
    """Publish ``count`` observations with QoS 1; return how many the broker acknowledged (PUBACK)."""
    import paho.mqtt.client as paho

    host, port, _, _ = parse_url(url)
    pub = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
    pub.max_inflight_messages_set(100)
    pub.connect(host, port)
    pub.loop_start()
    infos = []
    for i in range(count):
        infos.append(pub.publish(topic, _obs(i), qos=1))
        if pause_every and i % pause_every == pause_every - 1:
            time.sleep(0.01)
    for info in infos:
        info.wait_for_publish(30)
    pub.loop_stop()
    pub.disconnect()
    return sum(1 for info in infos if info.is_published())


def _forget_session(url: str, client_id: str) -> None:
    """Remove the bridge's persistent session from a shared broker (it would queue messages for ever)."""
    import paho.mqtt.client as paho

    host, port, _, _ = parse_url(url)
    c = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c.connect(host, port)
    c.loop_start()
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()


def _wait_for(database: Database, ds_id: int, n: int, seconds: float = 60) -> tuple[int, int]:
    deadline = time.monotonic() + seconds
    got = _count(database, ds_id)
    while got[0] < n and time.monotonic() < deadline:
        time.sleep(0.05)
        got = _count(database, ds_id)
    time.sleep(0.3)  # anything stored twice would show now
    return _count(database, ds_id)


BRIDGE_PROCESS = """
import sys, time
from smartprovince.core.db import Database
from smartprovince.sensing.mqtt import MqttBridge
bridge = MqttBridge(Database(sys.argv[1]), sys.argv[2], client_id=sys.argv[3], batch_size=50, max_wait=0.01)
bridge.start()
assert bridge.connected.wait(20)
print("subscribed", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_killed_bridge_loses_nothing_the_broker_acknowledged(database: Database, broker_url: str) -> None:
    ds_id = _datastream(database)
    topic = f"v1.1/Datastreams({ds_id})/Observations"
    client_id = f"sp-test-kill-{ds_id}"
    proc = subprocess.Popen([sys.executable, "-c", BRIDGE_PROCESS, database.url, broker_url, client_id],  # noqa: S603
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "subscribed"
        total = 800  # under the default broker's 1,000 queued messages per session
        acked: list[int] = []
        publisher = threading.Thread(target=lambda: acked.append(_publish(broker_url, topic, total, pause_every=100)))
        publisher.start()
        deadline = time.monotonic() + 60
        while _count(database, ds_id)[0] < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.kill()  # mid-stream: no DISCONNECT, PUBACKs of the batch being stored never sent
        proc.wait(10)
        killed_at = _count(database, ds_id)[0]
        publisher.join(60)
        assert acked == [total]
        assert 0 < killed_at < total, "the kill did not happen mid-stream"
        bridge = MqttBridge(database, broker_url, client_id=client_id)  # the same session
        bridge.start()
        try:
            assert _wait_for(database, ds_id, total) == (total, total)
        finally:
            bridge.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
        _forget_session(broker_url, client_id)


@pytest.mark.slow
def test_the_bridge_reconnects_after_losing_the_broker(database: Database, broker_url: str) -> None:
    ds_id = _datastream(database)
    topic = f"v1.1/Datastreams({ds_id})/Observations"
    client_id = f"sp-test-drop-{ds_id}"
    bridge = MqttBridge(database, broker_url, client_id=client_id, batch_size=50, max_wait=0.01)
    bridge.start()
    try:
        assert bridge.connected.wait(20)
        total = 800
        acked: list[int] = []
        publisher = threading.Thread(target=lambda: acked.append(_publish(broker_url, topic, total, pause_every=100)))
        publisher.start()
        deadline = time.monotonic() + 60
        while _count(database, ds_id)[0] < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        bridge.wire.drop()  # the network fails: no DISCONNECT
        publisher.join(60)
        assert acked == [total]
        assert _wait_for(database, ds_id, total) == (total, total)
        assert bridge.connects >= 2
    finally:
        bridge.stop()
        _forget_session(broker_url, client_id)


@pytest.mark.slow
def test_bridges_in_a_shared_subscription_split_the_messages(database: Database, broker_url: str) -> None:
    ds_id = _datastream(database)
    topic = f"v1.1/Datastreams({ds_id})/Observations"
    group = f"sp-test-{ds_id}"
    bridges = [MqttBridge(database, broker_url, client_id=f"{group}-{k}", share_group=group, batch_size=50,
                          max_wait=0.01) for k in range(2)]
    for bridge in bridges:
        bridge.start()
    try:
        assert all(bridge.connected.wait(20) for bridge in bridges)
        assert _publish(broker_url, topic, 400) == 400
        assert _wait_for(database, ds_id, 400) == (400, 400)
        assert sorted(b.stored > 0 for b in bridges) == [True, True]
        assert sum(b.stored for b in bridges) == 400
    finally:
        for bridge in bridges:
            bridge.stop()
            _forget_session(broker_url, bridge.client_id)


def test_the_dead_letters_command_lists_them(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from smartprovince.cli import mount_module_commands
    from smartprovince.settings import get_settings

    cli = mount_module_commands()
    bridge, _ = _offline_bridge(database)
    assert bridge.store([("v1.1/Datastreams(5)/Observations", b"{broken", 1, 1, False, 1)])
    monkeypatch.setenv("SMARTPROVINCE_DATABASE_URL", database.url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["sensing", "dead-letters"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "v1.1/Datastreams(5)/Observations — payload is not JSON" in result.output
    assert "'{broken'" in result.output and "1 of 1 shown" in result.output


def test_a_broker_that_stops_answering_is_left_and_connected_again() -> None:
    """A broker that hangs (no FIN, no PINGRESP): the subscriber notices after 1.5 keepalives and reconnects."""
    from smartprovince.sensing.mqtt import MqttSubscriber

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []

    def silent_broker() -> None:  # CONNACK and SUBACK, then nothing
        while len(accepted) < 2:
            conn, _ = server.accept()
            accepted.append(conn)
            conn.recv(1024)
            conn.sendall(b"\x20\x02\x00\x00" + b"\x90\x03\x00\x01\x01")

    threading.Thread(target=silent_broker, daemon=True).start()
    connects: list[bool] = []
    sub = MqttSubscriber("127.0.0.1", port, "sp-test-silent", "v1.1/+/Observations", keepalive=2,
                         deliver=lambda *a: None, on_connect=connects.append)
    sub.start()
    try:
        deadline = time.monotonic() + 20
        while len(connects) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(connects) == 2 and sub.connection == 2
    finally:
        sub.stop()
        for conn in accepted:
            conn.close()
        server.close()
