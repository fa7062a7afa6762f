"""Sensing benchmark: MQTT → Mosquitto → the platform's bridge → PostgreSQL, against the publishers alone.

Needs PostgreSQL at 127.0.0.1 (``SENSING_BENCH_PG_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and the ``mosquitto`` program: the run starts
its own broker on a free port with the settings a production broker in front of the bridge needs
(``BROKER_CONF``); ``SENSING_BENCH_MQTT_URL`` uses an existing broker instead. Prints "skipped" when
a service does not answer. It makes a scratch database next to ``test`` (dropped at the end).

Publishers: ``SENSING_BENCH_PUBLISHERS`` (default 4) processes, each publishing pre-generated lines (one
SensorThings Observation each, cached under ``var/bench/sensing_mqtt/``) on its own datastream's topic
with QoS 1: MQTT 3.1.1 over a plain socket, every PUBLISH packet encoded before the start, sent in
chunks with up to 20,000 unacknowledged, done at the last PUBACK — so the publishers cost almost
nothing next to the broker and the bridge. (``mosquitto_pub -l`` from mosquitto-clients 2.0.11 was
tried first: it exits 0 after reading its input while most lines are still queued inside it, and
only 34,500 of 100,000 lines reached a subscriber.) ``SENSING_BENCH_MQTT_MSGS`` messages in all
(default 200,000).

It prints, in one run:

* **publishers alone** (the baseline): the same lines published to a topic nobody subscribes to —
  publish to the broker's last PUBACK;
* **end to end**: the bridge (``sensing.mqtt.MqttBridge``, what ``smartprovince sensing
  mqtt-bridge`` runs) in its own process subscribes with a persistent session and acknowledges after
  each commit; messages per second from the first publish to the last row visible in PostgreSQL
  (the bench counts committed rows every 20 ms), and the bridge's own CPU time;
* the ratio end to end / publishers alone, and a direct ``COPY`` of the same rows into the same
  PostgreSQL (no MQTT, no rollups) for the physical limit.

Target (issue 5): ≥ 20,000 messages/s end to end.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _lines(total: int, publishers: int) -> list[Path]:
    """One file of Observation lines per publisher (cached: the same for every run of this size)."""
    folder = Path(os.environ.get("SMARTPROVINCE_BENCH_DIR", "var/bench")) / "sensing_mqtt"
    folder.mkdir(parents=True, exist_ok=True)
    share = total // publishers
    files = []
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for p in range(publishers):
        path = folder / f"observations_{share}_{p}.jsonl"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            with tmp.open("w") as f:
                for i in range(share):
                    when = (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
                    f.write(f'{{"phenomenonTime":"{when}","result":{(i * 7 + p) % 1000 / 10}}}\n')
            tmp.rename(path)
        files.append(path)
    return files


def _varlen(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (128 if n else 0))
        if not n:
            return bytes(out)


def _publisher(url: str, topic: str, path: str, k: int, ready: Any, go: Any, out: Any) -> None:
    """One publisher process: MQTT 3.1.1 over a plain socket, QoS 1, PUBLISH packets encoded before the
    start, sent in chunks with up to ``WINDOW`` unacknowledged; done when every PUBACK has arrived.

    Not ``mosquitto_pub -l``: version 2.0.11 (Debian 12) exits 0 after reading its input while most
    lines are still queued inside it — 34,500 of 100,000 lines reached a subscriber when we tried.
    """
    import threading

    from smartprovince.sensing.mqtt import parse_url

    host, port, user, password = parse_url(url)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cid = f"sp-bench-pub-{os.getpid()}-{k}".encode()
    flags = 0x02 | (0x80 if user else 0) | (0x40 if password else 0)
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + (60).to_bytes(2, "big") + len(cid).to_bytes(2, "big") + cid
    for field in (user, password):
        if field:
            body += len(field.encode()).to_bytes(2, "big") + field.encode()
    sock.sendall(b"\x10" + _varlen(len(body)) + body)
    connack = sock.recv(4)
    if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
        raise RuntimeError(f"publisher {k}: broker refused the connection ({connack!r})")
    t = topic.encode()
    head = len(t).to_bytes(2, "big") + t
    with open(path, "rb") as f:
        lines = f.read().splitlines()
    packets = [b"\x32" + _varlen(len(head) + 2 + len(line)) + head + (i % 65535 + 1).to_bytes(2, "big") + line
               for i, line in enumerate(lines)]
    acked = [0]

    def read() -> None:  # everything after CONNACK is PUBACK (4 bytes each)
        got = 0
        while got < 4 * len(packets):
            data = sock.recv(65536)
            if not data:
                return
            got += len(data)
            acked[0] = got // 4

    reader = threading.Thread(target=read, daemon=True)
    ready.set()
    go.wait()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    reader.start()
    window = 20_000  # below the 65,535 packet ids, so an id is reused only after its PUBACK
    for i in range(0, len(packets), 500):
        while i - acked[0] > window:
            time.sleep(0.001)
        sock.sendall(b"".join(packets[i:i + 500]))
    reader.join(600)
    elapsed = time.perf_counter() - t0
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    out.put((acked[0], elapsed, time.process_time() - cpu0))


class _Publishers:
    """One publisher process per topic, connected and ready; ``go()`` starts them together."""

    def __init__(self, url: str, topics: list[str], files: list[Path]):
        ctx = mp.get_context("spawn")
        self._go, self._out = ctx.Event(), ctx.Queue()
        self.procs, readies = [], []
        for k, (topic, path) in enumerate(zip(topics, files, strict=True)):
            ready = ctx.Event()
            proc = ctx.Process(target=_publisher, args=(url, topic, str(path), k, ready, self._go, self._out))
            proc.start()
            self.procs.append(proc)
            readies.append(ready)
        for ready in readies:
            if not ready.wait(120):
                raise RuntimeError("a publisher did not start")

    def go(self) -> float:
        self._go.set()
        return time.perf_counter()

    def done(self) -> bool:
        return not any(p.is_alive() for p in self.procs)

    def results(self) -> tuple[int, float, float]:
        """(messages the broker acknowledged, seconds of the slowest publisher, CPU seconds of all)."""
        got = [self._out.get(timeout=900) for _ in self.procs]
        for proc in self.procs:
            proc.join(30)
        return sum(n for n, _, _ in got), max(e for _, e, _ in got), sum(c for _, _, c in got)


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process on this machine has used so far; 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _backends(url: str) -> list[int]:
    """PostgreSQL server processes connected to the scratch database."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                         dbname=u.database, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchall()
    return [r[0] for r in rows]


def _bridge(url: str, mqtt_url: str, client_id: str, ready: Any, stop: Any, out: Any) -> None:
    """The bridge in its own process, as ``smartprovince sensing mqtt-bridge`` runs it."""
    import logging

    from smartprovince.core.db import Database
    from smartprovince.sensing.mqtt import MqttBridge

    logging.basicConfig(level=logging.WARNING, format="  bridge %(levelname)s %(name)s: %(message)s")
    db = Database(url)
    bridge = MqttBridge(db, mqtt_url, client_id=client_id)  # the defaults the worker command uses
    bridge.start()
    if bridge.connected.wait(15):
        time.sleep(0.3)  # the SUBACK
        print(f"  bridge process {os.getpid()} connected", flush=True)
        ready.set()
    cpu0 = time.process_time()  # imports and connecting are not the bridge's work per message
    stop.wait(900)
    cpu = time.process_time() - cpu0
    bridge.stop()
    out.put({"stored": bridge.stored, "rejected": bridge.rejected, "duplicates": bridge.duplicates,
             "batches": bridge.batches, "failures": bridge.failures, "cpu": cpu})
    db.dispose()


def _rows_counter(url: str) -> Any:
    """A function returning how many observations are committed (counts only rows newer than last time)."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True)
    state = {"rows": 0, "last": 0}

    def count() -> int:
        n, last = conn.execute("SELECT count(*), max(id) FROM sensing_observation WHERE id > %s",
                               (state["last"],)).fetchone()  # type: ignore[misc]
        if n:
            state["rows"] += n
            state["last"] = last
        return state["rows"]

    count.close = conn.close  # type: ignore[attr-defined]
    count.pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[attr-defined,index]
    return count


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
    import tempfile

    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(exe):
        print("  the mosquitto program is missing (apt-get install -y mosquitto): using the broker at 127.0.0.1:1883, "
              "whose settings may throttle and drop (see BROKER_CONF)")
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


def _setup(url: str, streams: int) -> list[int]:
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
    } for i in range(streams)]}
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



def _direct_copy(url: str, ids: list[int], total: int) -> float:
    """The same number of rows straight into the same PostgreSQL with COPY (no MQTT, no rollups)."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    text = "".join(f"{ids[i % len(ids)]}\t{(start + timedelta(seconds=i)).isoformat()}\t{(i % 1000) / 10}\n"
                   for i in range(total))
    with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                         dbname=u.database) as conn:
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY sensing_observation (datastream_id, phenomenon_time, "
                                            "result_number) FROM STDIN") as copy:
            copy.write(text)
        conn.commit()
        return total / (time.perf_counter() - t0)


def main() -> None:
    import logging
    import signal

    from sqlalchemy.engine import make_url

    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    pg = os.environ.get("SENSING_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    mqtt_url = os.environ.get("SENSING_BENCH_MQTT_URL", "")
    total = int(os.environ.get("SENSING_BENCH_MQTT_MSGS", "200000"))
    publishers = int(os.environ.get("SENSING_BENCH_PUBLISHERS", "4"))
    from smartprovince.sensing.mqtt import parse_url

    pg_url = make_url(pg)
    if not _answers(pg_url.host or "127.0.0.1", pg_url.port or 5432):
        print("  skipped: PostgreSQL does not answer")
        return
    broker = None
    if not mqtt_url:
        broker, mqtt_url = _own_broker()
    host, port, _, _ = parse_url(mqtt_url)
    if not _answers(host, port):
        print("  skipped: Mosquitto does not answer")
        return
    print(f"  load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores shared with other work)")
    name = f"sp_bench_sensing_{os.getpid()}"
    admin_url = pg_url.set(database="postgres").render_as_string(hide_password=False)
    url = pg_url.set(database=name).render_as_string(hide_password=False)

    def _terminate(signum: int, frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)  # so that the scratch database is dropped on timeout
    _scratch_db(admin_url, name, create=True)
    client_id = f"sp-bench-bridge-{os.getpid()}"
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    bridge = None
    try:
        _schema(url, admin_url, name)
        ids = _setup(url, publishers)
        files = _lines(total, publishers)
        sent = (total // publishers) * publishers

        # 1. The publishers alone, on topics nobody subscribes to: the rate MQTT input reaches here.
        pubs = _Publishers(mqtt_url, [f"sp-bench/baseline/{k}" for k in range(publishers)], files)
        pubs.go()
        acked, seconds, _ = pubs.results()
        alone = acked / seconds

        # 2. End to end: the same publishers while the bridge stores into PostgreSQL.
        ready, out = ctx.Event(), ctx.Queue()
        bridge = ctx.Process(target=_bridge, args=(url, mqtt_url, client_id, ready, stop, out))
        bridge.start()
        if not ready.wait(60):
            raise RuntimeError("the bridge did not connect to the broker")
        count = _rows_counter(url)
        pubs = _Publishers(mqtt_url, [f"v1.1/Datastreams({i})/Observations" for i in ids], files)
        cpu0 = os.times()
        broker_cpu0 = _cpu_of(broker.pid) if broker is not None else 0.0
        t0 = pubs.go()
        rows, shown, still = 0, t0, t0
        deadline = t0 + 900
        while rows < sent and time.perf_counter() < deadline:
            time.sleep(0.02)
            now = time.perf_counter()
            got = count()
            if got != rows:
                rows, still = got, now
            elif pubs.done() and now - still > 10:
                break  # nothing new for 10 s after the publishers finished
            if now - shown > 10:
                shown = now
                print(f"  … {rows:,} of {sent:,} rows after {now - t0:.0f} s", flush=True)
        elapsed = time.perf_counter() - t0 if rows >= sent else still - t0
        cpu1 = os.times()
        broker_cpu = _cpu_of(broker.pid) - broker_cpu0 if broker is not None else 0.0
        pg_cpu = sum(_cpu_of(pid) for pid in _backends(url) if pid != count.pid)  # the bridge's, since they opened
        delivered, published, pub_cpu = pubs.results()
        count.close()
        stop.set()
        stats = out.get(timeout=60)
        bridge.join(30)
        if rows < sent:
            print(f"  stopped waiting after {elapsed:.0f} s: {rows:,} of {sent:,} rows — a broker with Mosquitto's "
                  "default max_inflight_messages / max_queued_messages throttles and drops (see BROKER_CONF)")
        e2e = rows / elapsed
        print(f"  MQTT → Mosquitto → bridge → PostgreSQL: {e2e:,.0f} msg/s end to end ({rows:,} rows visible "
              f"after {elapsed:.2f} s; {publishers} publishers, QoS 1, PUBACK after commit, rollups, audit and "
              f"events included; {stats['batches']} batches, {stats['rejected']} dead letters, "
              f"{stats['duplicates']} duplicates skipped, {stats['failures']} failed batches)")
        print(f"  bridge process CPU: {stats['cpu']:.2f} s = {stats['stored'] / max(stats['cpu'], 1e-9):,.0f} msg "
              f"per CPU second; publishers: {delivered:,} acknowledged by the broker after {published:.2f} s "
              f"({delivered / published:,.0f} msg/s while the bridge ran)")
        per = {"bridge": stats["cpu"], "broker": broker_cpu, "PostgreSQL server process": pg_cpu,
               "publishers": pub_cpu}
        total_cpu = sum(per.values())
        if broker is not None and pg_cpu > 0:
            print("  CPU per message, end to end: " + ", ".join(f"{k} {v / rows * 1e6:.1f} µs" for k, v in per.items())
                  + f"; in all {total_cpu / rows * 1e6:.1f} µs → two idle cores could carry "
                  f"{2 * rows / total_cpu:,.0f} msg/s (PostgreSQL's WAL writer and checkpointer not counted)")
        print(f"  publishers alone (same lines, topic without subscriber, last PUBACK): {alone:,.0f} msg/s "
              f"({acked:,} acknowledged)")
        print(f"  ratio end to end / publishers alone: {e2e / alone:.2f}")
        direct = _direct_copy(url, ids, sent)
        print(f"  direct COPY of the same number of rows into the same PostgreSQL: {direct:,.0f} rows/s; "
              f"ratio end to end / direct: {e2e / direct:.2f}")
        load = os.getloadavg()
        print(f"  load average after: {' '.join(f'{x:.1f}' for x in load)}; bench process CPU while waiting "
              f"{(cpu1.user + cpu1.system) - (cpu0.user + cpu0.system):.2f} s; target ≥ 20,000 msg/s end to end: "
              f"{'met' if e2e >= 20000 else 'NOT met'}")
    finally:
        stop.set()
        if bridge is not None and bridge.is_alive():
            bridge.join(30)
            if bridge.is_alive():
                bridge.kill()
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
