"""Sensing benchmark: MQTT → Mosquitto → the platform's bridge → PostgreSQL, against a direct insert.

Needs PostgreSQL at 127.0.0.1 (``SENSING_BENCH_PG_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and the ``mosquitto`` program: the run starts
its own broker on a free port with the settings a production broker in front of the bridge needs
(``BROKER_CONF``); ``SENSING_BENCH_MQTT_URL`` uses an existing broker instead. Prints "skipped" when
a service does not answer. It makes a scratch database
next to ``test`` (dropped at the end), and prints:

* MQTT ingestion: ``SENSING_BENCH_MQTT_MSGS`` messages (default 200,000), one SensorThings
  Observation each, published with QoS 1 by ``SENSING_BENCH_PUBLISHERS`` paho clients (default 2),
  each in its own process, over 20 datastreams; the bridge (``sensing.mqtt.MqttBridge``, the code
  ``smartprovince sensing mqtt-bridge`` runs) stores them in batched transactions and sends each
  PUBACK only after the commit. Messages per second from the first publish to the last row stored.
* the publishers' own rate (publish → PUBACK) in the same run;
* direct insert: the same number of rows inserted into the same PostgreSQL with psycopg
  ``executemany`` in 5,000-row transactions (no MQTT, no rollups) — the baseline.

Target (issue 5): ≥ 20,000 messages/s.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

STREAMS = 20


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _publish(url: str, ids: list[int], first: int, count: int, ready: Any, go: Any, out: Any) -> None:
    import orjson
    import paho.mqtt.client as paho

    from smartprovince.sensing.mqtt import parse_url

    host, port, user, password = parse_url(url)
    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=f"sp-bench-pub-{first}")
    if user:
        client.username_pw_set(user, password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    payloads = [(f"v1.1/Datastreams({ids[i % len(ids)]})/Observations",
                 orjson.dumps({"phenomenonTime": (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "result": (i % 1000) / 10}))
                for i in range(first, first + count)]
    ready.set()
    go.wait()
    t0 = time.perf_counter()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in payloads]
    for info in infos:
        info.wait_for_publish(120)
    out.put(count / (time.perf_counter() - t0))
    client.loop_stop()
    client.disconnect()


BROKER_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
# The defaults (20 messages in flight, 1,000 queued per client) throttle a bridge that acknowledges
# after each commit, and Mosquitto *drops* QoS 1 messages beyond the queue limit: a production broker
# in front of the bridge needs the same two lines.
max_inflight_messages 0
max_queued_messages 0
"""


def _own_broker() -> tuple[Any, str]:
    """A Mosquitto of our own on a free port, configured as production should be (see BROKER_CONF)."""
    import shutil
    import subprocess
    import tempfile

    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(exe):
        return None, "mqtt://127.0.0.1:1883"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="sp-bench-mosquitto-")
    conf = os.path.join(folder, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(BROKER_CONF.format(port=port))
    proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    for _ in range(100):
        if _answers("127.0.0.1", port):
            break
        time.sleep(0.05)
    print(f"  Mosquitto {exe} on port {port}, started for this run (max_inflight_messages 0, max_queued_messages 0)")
    return proc, f"mqtt://127.0.0.1:{port}"


def _scratch_db(admin_url: str, name: str, create: bool) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _schema(url: str, admin_url: str, name: str) -> None:
    """Migrate the scratch database; when another module's migration fails midway (work in progress
    in a shared tree), start again from the models instead — this benchmark measures ingestion."""
    from smartprovince.core.db import Base, make_engine
    from smartprovince.core.migrate import upgrade
    from smartprovince.registry import import_all_models

    try:
        upgrade(url)
    except Exception as exc:  # noqa: BLE001 - any migration failure: fall back to the models
        print(f"  (migrations failed: {str(exc).splitlines()[0][:120]}; tables made from the models instead)")
        _scratch_db(admin_url, name, create=True)
        import_all_models()
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()


def _setup(url: str) -> list[int]:
    from smartprovince.core.db import Database
    from smartprovince.core.security import SYSTEM
    from smartprovince.sensing import service
    from smartprovince.sensing.sta import SETS

    db = Database(url)
    body = {"name": "Bench MQTT", "description": "", "Datastreams": [{
        "name": f"Stream {i}", "description": "", "unitOfMeasurement": {"symbol": "m"},
        "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        "ObservedProperty": {"name": "Level", "definition": "x"} if i == 0 else {"@iot.id": 1},
        "Sensor": {"name": "S", "encodingType": "text/plain"} if i == 0 else {"@iot.id": 1},
    } for i in range(STREAMS)]}
    with db.session() as s:
        thing = service.create_entity(s, actor=SYSTEM, es=SETS["Things"], body=body)
        ids = sorted(d.id for d in thing.datastreams)
    db.dispose()
    return ids


def _forget_session(url: str, client_id: str) -> None:
    """End the bridge's persistent session on the broker, so it does not queue messages after the run."""
    import paho.mqtt.client as paho
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from smartprovince.sensing.mqtt import parse_url

    host, port, user, password = parse_url(url)
    c = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=paho.MQTTv5)
    if user:
        c.username_pw_set(user, password)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    c.connect(host, port, clean_start=True, properties=props)
    c.loop_start()
    time.sleep(0.3)
    c.disconnect()
    c.loop_stop()


def _direct(url: str, ids: list[int], total: int) -> float:
    from smartprovince.core.db import Database

    db = Database(url)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    rows = [(ids[i % len(ids)], start + timedelta(seconds=i), (i % 1000) / 10) for i in range(total)]
    t0 = time.perf_counter()
    for k in range(0, total, 5000):
        with db.session() as s:
            cur = s.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
            cur.executemany("INSERT INTO sensing_observation (datastream_id, phenomenon_time, result_number) "
                            "VALUES (%s, %s, %s)", rows[k:k + 5000])
            cur.close()
    rate = total / (time.perf_counter() - t0)
    db.dispose()
    return rate


def main() -> None:
    import logging

    from sqlalchemy.engine import make_url

    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    pg = os.environ.get("SENSING_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    mqtt_url = os.environ.get("SENSING_BENCH_MQTT_URL", "")
    broker = None
    if not mqtt_url:
        broker, mqtt_url = _own_broker()
    total = int(os.environ.get("SENSING_BENCH_MQTT_MSGS", "200000"))
    publishers = int(os.environ.get("SENSING_BENCH_PUBLISHERS", "2"))
    from smartprovince.sensing.mqtt import MqttBridge, parse_url

    pg_url = make_url(pg)
    host, port, _, _ = parse_url(mqtt_url)
    if not _answers(pg_url.host or "127.0.0.1", pg_url.port or 5432) or not _answers(host, port):
        print("  skipped: PostgreSQL or Mosquitto does not answer")
        return
    name = f"sp_bench_sensing_{os.getpid()}"
    admin_url = pg_url.set(database="postgres").render_as_string(hide_password=False)
    url = pg_url.set(database=name).render_as_string(hide_password=False)
    import signal

    def _terminate(signum: int, frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)  # so that the scratch database is dropped on timeout
    _scratch_db(admin_url, name, create=True)
    client_id = f"sp-bench-bridge-{os.getpid()}"
    try:
        _schema(url, admin_url, name)
        ids = _setup(url)
        from smartprovince.core.db import Database

        db = Database(url)
        bridge = MqttBridge(db, mqtt_url, client_id=client_id, batch_size=5000, max_wait=0.05)
        bridge.start()
        if not bridge.connected.wait(15):
            raise RuntimeError("the bridge did not connect to the broker")
        time.sleep(0.5)
        ctx = mp.get_context("spawn")
        go, out = ctx.Event(), ctx.Queue()
        share = total // publishers
        readies, procs = [], []
        for p in range(publishers):
            ready = ctx.Event()
            proc = ctx.Process(target=_publish, args=(mqtt_url, ids, p * share, share, ready, go, out))
            proc.start()
            readies.append(ready)
            procs.append(proc)
        for ready in readies:
            ready.wait(120)
        sent = share * publishers
        t0 = time.perf_counter()
        go.set()
        deadline = t0 + 900
        shown = t0
        while bridge.stored + bridge.rejected < sent and time.perf_counter() < deadline:
            time.sleep(0.01)
            if time.perf_counter() - shown > 10:
                shown = time.perf_counter()
                print(f"  … {bridge.stored:,} of {sent:,} stored after {shown - t0:.0f} s", flush=True)
        elapsed = time.perf_counter() - t0
        if bridge.stored + bridge.rejected < sent:
            print(f"  stopped waiting after {elapsed:.0f} s: {bridge.stored:,} of {sent:,} stored")
        pub_rates = [out.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(30)
        bridge.stop()
        db.dispose()
        print(f"  MQTT → Mosquitto → bridge → PostgreSQL: {bridge.stored / elapsed:,.0f} msg/s "
              f"({bridge.stored:,} stored, {bridge.rejected} rejected, {publishers} publisher processes, QoS 1, "
              "PUBACK after commit, rollups and events included)")
        print(f"  publishers alone (publish → PUBACK from the broker): "
              f"{sum(pub_rates):,.0f} msg/s in total ({', '.join(f'{r:,.0f}' for r in pub_rates)})")
        direct = _direct(url, ids, sent)
        print(f"  direct insert of the same rows into the same PostgreSQL (psycopg executemany): {direct:,.0f} rows/s")
        print(f"  ratio MQTT / direct: {bridge.stored / elapsed / direct:.2f} (target ≥ 20,000 msg/s)")
    finally:
        try:
            if broker is None:
                _forget_session(mqtt_url, client_id)
            else:
                broker.terminate()
                broker.wait(10)
        finally:
            _scratch_db(admin_url, name, create=False)


if __name__ == "__main__":
    main()
