"""MQTT bridge: devices publish SensorThings observations to a broker (Mosquitto), we store them.

Devices publish one Observation (SensorThings JSON) per message on
``v1.1/Datastreams({id})/Observations`` (the SensorThings MQTT extension), QoS 1. The bridge
subscribes with a persistent session and *manual acknowledgement*: a message is acknowledged to
the broker only after the transaction that stores it has committed. If the bridge dies before, the
broker delivers the message again when it reconnects, so nothing acknowledged is lost.

Messages are stored in batches (up to ``batch_size`` or ``max_wait`` seconds) through the same
ingestion path as HTTP (``ingest.store_blocks`` / ``store_observations``): rollups, thresholds, audit and events.
Device authentication on MQTT is the broker's job (Mosquitto password file and ACL: each device
user may publish only to its own datastream topics).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import orjson

from smartprovince.core.db import Database
from smartprovince.core.errors import Problem
from smartprovince.core.security import Actor, Grant

log = logging.getLogger("smartprovince.sensing.mqtt")

TOPIC_FILTER = "v1.1/+/Observations"
TOPIC_RE = re.compile(r"^v1\.1/Datastreams\((\d{1,10})\)/Observations$")
BRIDGE_ACTOR = Actor(id=None, username="mqtt-bridge", kind="system", display_name="MQTT bridge",
                     grants=(Grant("sensing.sta.write", ""),))
"""Who the audit log names for observations that arrive over MQTT."""


@dataclass
class _Message:
    mid: int
    qos: int
    topic: str
    payload: bytes


def parse_url(url: str) -> tuple[str, int, str | None, str | None]:
    """``mqtt://user:pass@host:1883`` → (host, port, user, password)."""
    u = urlparse(url)
    if u.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"MQTT URL must start with mqtt://, not {url!r}")
    return u.hostname or "127.0.0.1", u.port or 1883, u.username, u.password


class MqttBridge:
    """Subscribes to observation topics and stores what arrives; acknowledges after commit."""

    def __init__(self, db: Database, url: str, *, client_id: str | None = None, batch_size: int = 2000,
                 max_wait: float = 0.05):
        import paho.mqtt.client as mqtt

        self.db = db
        self.host, self.port, user, password = parse_url(url)
        digest = hashlib.sha256(db.url.encode()).hexdigest()[:12]
        self.client_id = client_id or f"smartprovince-sensing-{digest}"
        self.batch_size, self.max_wait = batch_size, max_wait
        self.inbox: queue.Queue[_Message] = queue.Queue()
        self.stored = 0
        self.rejected = 0
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
            protocol=mqtt.MQTTv5, manual_ack=True,
        )
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a, **k: self.connected.clear()

    # paho callbacks run on its network thread: keep them short
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT connection refused: %s", reason)
            return
        client.subscribe(TOPIC_FILTER, qos=1)
        self.connected.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self.inbox.put(_Message(msg.mid, msg.qos, msg.topic, msg.payload))

    def start(self) -> None:
        """Connect (in the background, retrying) and start storing."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 24 * 3600  # the broker keeps unacknowledged messages for a day
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()
        self._worker = threading.Thread(target=self._run, name="sensing-mqtt-store", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """Store what is queued, then disconnect."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()

    def _run(self) -> None:
        while not self._stop.is_set() or not self.inbox.empty():
            batch = self._take()
            if batch:
                self.store(batch)

    def _take(self) -> list[_Message]:
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self.inbox.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def store(self, batch: list[_Message]) -> None:
        """Store a batch in one transaction (bad messages are dropped one by one), then acknowledge."""
        from smartprovince.sensing import ingest, service

        # Plain observations ({"phenomenonTime": "…Z", "result": number}, what devices send) go into
        # columns per datastream (the fast path); anything else through the general parser.
        plain: dict[int, ingest.PlainBlock] = {}
        rich: list[ingest.ObservationIn] = []
        for m in batch:
            match = TOPIC_RE.match(m.topic)
            try:
                body = orjson.loads(m.payload)
                if not match or not isinstance(body, dict):
                    raise ValueError("not an observation")
                ds_id = int(match.group(1))
                one = service.plain_block([(body["phenomenonTime"], body["result"])], ds_id) if (
                    len(body) == 2 and "phenomenonTime" in body and "result" in body) else None
                if one is None:
                    rich.append(service.parse_observation(body, ds_id, None))
                elif ds_id in plain:
                    plain[ds_id].stamps.append(one.stamps[0])
                    plain[ds_id].values.append(one.values[0])
                else:
                    plain[ds_id] = one
            except (ValueError, Problem) as exc:
                self.rejected += 1
                log.warning("MQTT message on %s dropped: %s", m.topic, exc)
        while plain or rich:
            try:
                with self.db.session() as session:
                    ds = ingest.check_datastreams(session, BRIDGE_ACTOR, set(plain) | {o.datastream_id for o in rich})
                    fois = {i: service.feature_for_datastream(session, d) for i, d in ds.items()}
                    for block in plain.values():
                        block.feature_of_interest_id = fois[block.datastream_id]
                    for o in rich:
                        if o.feature_of_interest_id is None:
                            o.feature_of_interest_id = fois[o.datastream_id]
                    ingest.store_blocks(session, actor=BRIDGE_ACTOR, blocks=list(plain.values()), datastreams=ds,
                                        audit_action="sensing.observation.mqtt")
                    ingest.store_observations(session, actor=BRIDGE_ACTOR, observations=rich, datastreams=ds,
                                              audit_action="sensing.observation.mqtt")
                self.stored += len(rich) + sum(len(b.stamps) for b in plain.values())
                break
            except Problem as exc:
                # One unknown datastream must not block the others: drop its messages and retry the rest.
                bad_ids = self._unknown_datastreams(set(plain) | {o.datastream_id for o in rich})
                if not bad_ids:
                    log.exception("MQTT batch failed: %s", exc)
                    return  # not acknowledged: the broker redelivers after reconnect
                log.warning("MQTT messages for unknown datastreams %s dropped", sorted(bad_ids))
                self.rejected += sum(1 for o in rich if o.datastream_id in bad_ids)
                self.rejected += sum(len(plain[i].stamps) for i in bad_ids if i in plain)
                rich = [o for o in rich if o.datastream_id not in bad_ids]
                plain = {i: b for i, b in plain.items() if i not in bad_ids}
            except Exception:  # noqa: BLE001 - database down etc.: leave unacknowledged, the broker redelivers
                log.exception("MQTT batch could not be stored; it will be delivered again")
                return
        for m in batch:
            if m.qos > 0:
                self.client.ack(m.mid, m.qos)

    def _unknown_datastreams(self, ids: set[int]) -> set[int]:
        import sqlalchemy as sa

        from smartprovince.sensing.models import Datastream

        with self.db.session(write=False) as session:
            found = set(session.scalars(sa.select(Datastream.id).where(Datastream.id.in_(ids))))
        return ids - found


def start_app_bridge(app: Any) -> None:
    """Start the bridge with the app when ``SMARTPROVINCE_MQTT_URL`` is set (``on_startup`` hook)."""
    url = getattr(app.state.settings, "mqtt_url", None)
    if not url:
        return
    bridge = MqttBridge(app.state.db, url)
    bridge.start()
    app.state.sensing_bridge = bridge
    log.info("MQTT bridge started for %s:%s", bridge.host, bridge.port)


def stop_app_bridge(app: Any) -> None:
    """Stop the bridge (``on_shutdown`` hook)."""
    bridge = getattr(app.state, "sensing_bridge", None)
    if bridge is not None:
        bridge.stop()
        app.state.sensing_bridge = None
