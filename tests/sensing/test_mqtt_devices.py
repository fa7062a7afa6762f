"""Device credentials on MQTT: the broker (Mosquitto with the password file and the ACL the platform
writes) lets a device publish only to its own datastreams; the bridge stores what got through.

Runs a Mosquitto of its own on a free port; skipped when ``mosquitto`` / ``mosquitto_passwd`` are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM
from smartprovince.sensing import queries, service
from smartprovince.sensing.cli import add_mosquitto_password
from smartprovince.sensing.models import Observation
from smartprovince.sensing.sta import SETS

from .conftest import THING


def _things(database: Database) -> tuple[tuple[int, int, str], tuple[int, int, str]]:
    out = []
    with database.session() as s:
        for name in ("Trạm A", "Trạm B"):
            thing = service.create_entity(s, actor=SYSTEM, es=SETS["Things"], body={**THING, "name": name})
            s.flush()
            secret = service.issue_device_credential(s, actor=SYSTEM, thing_id=thing.id)
            out.append((thing.id, thing.datastreams[0].id, secret))
    return out[0], out[1]


def test_acl_lists_each_device_with_its_own_topics(database: Database) -> None:
    (a, ds_a, _), (b, ds_b, _) = _things(database)
    with database.session() as s:
        service.create_entity(s, actor=SYSTEM, es=SETS["Things"], body={**THING, "name": "Không có khóa"})
    with database.session(write=False) as s:
        text = queries.mosquitto_acl(s, bridge_user="bridge")
    blocks = {blk.splitlines()[0]: blk.splitlines()[1:] for blk in text.split("\n\n")[1:]}
    assert blocks == {"user bridge": ["topic read v1.1/+/Observations"],
                      f"user thing-{a}": [f"topic write v1.1/Datastreams({ds_a})/Observations"],
                      f"user thing-{b}": [f"topic write v1.1/Datastreams({ds_b})/Observations"]}


@pytest.fixture
def secured_broker(tmp_path: Any) -> Iterator[tuple[str, int, str, str]]:
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if exe is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto and mosquitto_passwd are needed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="sp-test-mosquitto-acl-")
    passwd, acl = os.path.join(folder, "passwd"), os.path.join(folder, "acl")
    yield exe, port, passwd, acl
    shutil.rmtree(folder, ignore_errors=True)


def _start(exe: str, port: int, passwd: str, acl: str) -> subprocess.Popen[bytes]:
    conf = os.path.join(os.path.dirname(passwd), "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
                "persistence false\n")
    # Started as root, Mosquitto drops to its own user before it reads the two files.
    for path, mode in ((os.path.dirname(passwd), 0o755), (passwd, 0o644), (acl, 0o644)):
        os.chmod(path, mode)
    proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("mosquitto did not start") from None
            time.sleep(0.05)


def _publish(port: int, user: str | None, secret: str | None, topic: str, n: int) -> None:
    import paho.mqtt.client as paho

    pub = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
    if user:
        pub.username_pw_set(user, secret)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    infos = [pub.publish(topic, orjson.dumps({"phenomenonTime": f"2026-05-01T00:00:{i:02d}Z", "result": i}), qos=1)
             for i in range(n)]
    for info in infos:
        info.wait_for_publish(5)
    pub.loop_stop()
    pub.disconnect()


def _connack(port: int, user: str | None, secret: str | None) -> int:
    """The broker's answer to a CONNECT (0 = accepted)."""
    import threading

    import paho.mqtt.client as paho

    answer: list[int] = []
    done = threading.Event()

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        answer.append(int(reason.value) if hasattr(reason, "value") else int(reason))
        done.set()

    c = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
    c.on_connect = on_connect
    if user:
        c.username_pw_set(user, secret)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
    finally:
        c.disconnect()
        c.loop_stop()
    return answer[0]


def _count(database: Database, ds: int) -> int:
    with database.session(write=False) as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(Observation).where(
            Observation.datastream_id == ds)) or 0)


@pytest.mark.slow
def test_a_device_publishes_only_to_its_own_datastreams(database: Database, secured_broker: Any) -> None:
    from smartprovince.sensing.mqtt import MqttBridge

    exe, port, passwd, acl = secured_broker
    (a, ds_a, secret_a), (b, ds_b, _) = _things(database)
    add_mosquitto_password(passwd, f"thing-{a}", secret_a)
    add_mosquitto_password(passwd, "bridge", "mat-khau-cau-noi")
    with database.session(write=False) as s, open(acl, "w") as f:
        f.write(queries.mosquitto_acl(s, bridge_user="bridge"))
    proc = _start(exe, port, passwd, acl)
    bridge = MqttBridge(database, f"mqtt://bridge:mat-khau-cau-noi@127.0.0.1:{port}", client_id="sp-test-acl")
    bridge.start()
    try:
        assert bridge.connected.wait(10), "the bridge did not connect with its broker user"
        time.sleep(0.3)
        _publish(port, f"thing-{a}", secret_a, f"v1.1/Datastreams({ds_b})/Observations", 5)  # not its own
        _publish(port, f"thing-{a}", secret_a, f"v1.1/Datastreams({ds_a})/Observations", 5)
        deadline = time.monotonic() + 15
        while _count(database, ds_a) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert _count(database, ds_a) == 5
        assert _count(database, ds_b) == 0  # the broker dropped the device's messages to another Thing
        assert _connack(port, f"thing-{a}", secret_a) == 0
        assert _connack(port, f"thing-{a}", "sai-mat-khau") != 0  # a wrong secret is refused
        assert _connack(port, None, None) != 0  # so is an anonymous client
    finally:
        bridge.stop()
        proc.terminate()
        proc.wait(10)
